"""Where things are in a dock's directory (docs/DOCK.md, "The dock's directory"): names only.

  DOCK/dock.toml                         the dock's settings (listen address, archive, retention)
  DOCK/keys/ca.pem                       the agency's CA certificate (trust anchor for devices)
  DOCK/keys/dock.pem, dock.key           the dock's certificate and key (TLS server; receipts and
                                         the audit log are signed with this key)
  DOCK/devices/<device_id>/store/        the device's evidence as received: a store of the
                                         format (device.pub, the witnessed ledger, media files),
                                         verifiable with `recorder verify`
  DOCK/devices/<device_id>/witness.json  the ledger head the dock has accepted
  DOCK/devices/<device_id>/receipts/     the receipts issued to the device, numbered
  DOCK/devices/<device_id>/events.jsonl  what happened at each offload (received, refused, why)
  DOCK/staging/<device_id>/<sha256>/<n>  uploads in progress (resumed from their size); an
                                         attempt that did not hash to its name stays, n+1 follows
  DOCK/staging/<device_id>/ledger/       the ledger ranges receipts archived
  DOCK/objects/                          the local archive (recorder/archive)
  DOCK/audit/audit.jsonl                 the access log: hash-chained, signed (recorder/dock/audit.py)
"""

from pathlib import Path

SETTINGS_FILE = "dock.toml"
CA_FILE, CERT_FILE, KEY_FILE = "ca.pem", "dock.pem", "dock.key"


class DockLayout:
    def __init__(self, root):
        self.root = Path(root)
        self.settings_path = self.root / SETTINGS_FILE
        self.keys_dir = self.root / "keys"
        self.devices_dir = self.root / "devices"
        self.staging_dir = self.root / "staging"
        self.audit_path = self.root / "audit" / "audit.jsonl"

    def key_path(self, name: str) -> Path:
        return self.keys_dir / name

    def device_dir(self, device_id: str) -> Path:
        return self.devices_dir / device_id

    def device_store(self, device_id: str) -> Path:
        return self.device_dir(device_id) / "store"

    def witness_path(self, device_id: str) -> Path:
        return self.device_dir(device_id) / "witness.json"

    def receipts_dir(self, device_id: str) -> Path:
        return self.device_dir(device_id) / "receipts"

    def events_path(self, device_id: str) -> Path:
        return self.device_dir(device_id) / "events.jsonl"

