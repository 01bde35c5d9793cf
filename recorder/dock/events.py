"""What happened at each offload, per device (DOCK/devices/<id>/events.jsonl): witnessed
heads, files received, receipts issued, and every refusal with its reason. Appended only;
the shift report at the dock reads it (docs/DOCK.md, "Shift report")."""

import json
import os
from datetime import datetime, timezone

from .layout import DockLayout


def append_event(layout: DockLayout, device_id: str, at: datetime, event: str, **facts) -> None:
    path = layout.events_path(device_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    utc = at.astimezone(timezone.utc)  # written as receipts write time: UTC with a Z
    record = {"at": f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z", "event": event, **facts}
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_events(layout: DockLayout, device_id: str) -> list[dict]:
    try:
        data = layout.events_path(device_id).read_bytes()
    except FileNotFoundError:
        return []
    events = []
    for line in data.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a line a crash cut: the rest still count
    return events
