"""Checkout at the dock (docs/DOCK.md, "Checkout"): the officer assignments the dock signs
for a device (DOCK/devices/<id>/assignments/<n>.json, numbered, write-once); the device
takes the newest at its next offload and records it in its ledger."""

import json
from datetime import datetime, timedelta
from pathlib import Path

from ..agency.assignment import build_assignment
from ..durable import create_numbered
from .layout import DockLayout


def assignments_dir(layout: DockLayout, device_id: str) -> Path:
    return layout.device_dir(device_id) / "assignments"


def assign(layout: DockLayout, keys, device_id: str, officer_id: str, start: datetime, hours: float,
           config_text: str = "") -> Path:
    document = build_assignment(keys.private_key(), device_id, officer_id, start, start + timedelta(hours=hours),
                                start, config_text)
    data = json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"
    return create_numbered(assignments_dir(layout, device_id), data)


def latest_assignment(layout: DockLayout, device_id: str) -> bytes | None:
    paths = sorted(assignments_dir(layout, device_id).glob("*.json"))
    return paths[-1].read_bytes() if paths else None
