"""The officer assignments the dock handed this device (docs/DOCK.md, "Checkout"), kept in
the identity directory (IDENTITY/assignments/<sha256>.json, write-once), and the one that
holds now: the newest issued whose shift covers now, re-checked against the pinned dock
certificate each time it is read. Its officer goes into every session that starts then."""

import hashlib
from datetime import datetime
from pathlib import Path

from cryptography import x509

from ..agency.assignment import Assignment, open_assignment
from ..errors import ProvisioningError
from .install import DOCK_FILE, current_install

ASSIGNMENTS_DIR = "assignments"


def pinned_dock(identity_dir: Path) -> x509.Certificate | None:
    install = current_install(identity_dir)
    return x509.load_pem_x509_certificate(install.path(DOCK_FILE).read_bytes()) if install else None


def keep_assignment(identity_dir: Path, data: bytes) -> tuple[Path, bool]:
    """Write it under its hash (never over another file); (its path, whether it is new)."""
    from ..store.disk import fsync_dir, write_sealed_file

    directory = Path(identity_dir) / ASSIGNMENTS_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{hashlib.sha256(data).hexdigest()}.json"
    if path.exists():
        return path, False
    write_sealed_file(path, data)
    fsync_dir(directory)
    return path, True


def current_assignment(identity_dir: Path, device_id: str, now: datetime) -> Assignment | None:
    dock = pinned_dock(identity_dir)
    directory = Path(identity_dir) / ASSIGNMENTS_DIR
    if dock is None or not directory.is_dir():
        return None
    holding = []
    for path in directory.glob("*.json"):
        try:
            assignment = open_assignment(path.read_bytes(), dock, device_id)
        except (OSError, ProvisioningError):
            continue  # one the dock did not sign (or for another device) is never applied
        if assignment.covers(now):
            holding.append(assignment)
    return max(holding, key=lambda a: a.issued_at, default=None)
