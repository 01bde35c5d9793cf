"""Checkout at the dock (docs/DOCK.md, "Checkout"): the officer assignments the dock signs
for a device (DOCK/devices/<id>/assignments/<n>.json, numbered, write-once); the device
takes the newest at its next offload and records it in its ledger."""

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

from ..agency.assignment import build_assignment
from .layout import DockLayout


def assignments_dir(layout: DockLayout, device_id: str) -> Path:
    return layout.device_dir(device_id) / "assignments"


def assign(layout: DockLayout, keys, device_id: str, officer_id: str, start: datetime, hours: float,
           config_text: str = "") -> Path:
    document = build_assignment(keys.private_key(), device_id, officer_id, start, start + timedelta(hours=hours),
                                start, config_text)
    directory = assignments_dir(layout, device_id)
    directory.mkdir(parents=True, exist_ok=True)
    number = len(list(directory.glob("*.json"))) + 1
    while True:
        path = directory / f"{number:06d}.json"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            break
        except FileExistsError:
            number += 1
    with os.fdopen(fd, "wb") as f:
        f.write(json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8") + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return path


def latest_assignment(layout: DockLayout, device_id: str) -> bytes | None:
    paths = sorted(assignments_dir(layout, device_id).glob("*.json"))
    return paths[-1].read_bytes() if paths else None
