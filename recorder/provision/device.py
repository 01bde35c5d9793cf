"""`recorder provision`: the device's keys, made on the device, and its enrolment request.

In a new generation of the identity directory (recorder/seal/identity.py):

    <n>/device.key, device.pub   the Ed25519 signing key (0600) and its public key
    <n>/tls.key                  the TLS client key, ECDSA P-256 (0600)
    <n>/device.json              {"format": "recorder-device/1", "device_id", "hardware_serial",
                                  "agency_ca_spki_sha256", "provisioned_at"}: written last,
                                  so a generation with it is provisioned whole
    <n>/enrolment.json           the request, as given to the agency

A device is (re-)provisioned only when that orphans nothing: no footage in the store that a
dock receipt does not cover, and no store begun under a key already (a new key cannot
continue its ledger). A device fresh from the image has neither.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..agency.certs import is_p256, new_key
from ..agency.enrolment import enrolment_request
from ..agency.timefmt import utc_text
from ..errors import ProvisioningError
from ..evidence.keys import public_key_pem
from ..evidence.layout import StoreLayout
from ..seal.identity import DeviceIdentity, current_generation, load_private_key, new_generation, write_private_key
from ..store.disk import fsync_dir, write_sealed_file
from .hardware import hardware_serial
from .receipts import uncovered_footage

DEVICE_FORMAT = "recorder-device/1"
TLS_KEY_FILE, DEVICE_FILE, ENROLMENT_FILE = "tls.key", "device.json", "enrolment.json"


@dataclass(frozen=True)
class Provisioned:
    """A generation that `recorder provision` made whole."""

    generation: Path
    identity: DeviceIdentity
    facts: dict  # device.json

    def __repr__(self):
        return f"Provisioned({self.identity.device_id}, {self.generation})"

    def tls_key(self):
        key = load_private_key(self.generation / TLS_KEY_FILE)
        if not is_p256(key):
            raise ProvisioningError(f"{self.generation / TLS_KEY_FILE} is not a P-256 key")
        return key

    @property
    def pin(self) -> str | None:
        return self.facts.get("agency_ca_spki_sha256")


def provisioned(identity_dir: Path) -> Provisioned | None:
    """The current generation, if `recorder provision` made it (the simulated body's key, or
    one adopted from an old store, is an identity but not a provisioned one)."""
    generation = current_generation(identity_dir)
    if generation is None or not (generation / DEVICE_FILE).exists():
        return None
    try:
        facts = json.loads((generation / DEVICE_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"cannot read {generation / DEVICE_FILE}: {exc.__class__.__name__}") from None
    return Provisioned(generation, DeviceIdentity.load(generation), facts)


def may_provision(identity_dir: Path, store: StoreLayout) -> None:
    """ProvisioningError when a (re-)provisioning would orphan evidence."""
    footage = uncovered_footage(store)
    if footage:
        raise ProvisioningError(
            f"re-provisioning refused: the store {store.root} holds {len(footage)} segment(s) no dock receipt covers "
            f"(first: {footage[0]}); dock the device so the footage is taken, then provision (nothing was changed)")
    if store.public_key_path.exists():
        raise ProvisioningError(
            f"provisioning refused: the store {store.root} was begun under a device key (device/device.pub) and a "
            "new key cannot continue its ledger; the dock archives and clears it first (nothing was changed)")


def provision(identity_dir: Path, store: StoreLayout, agency_pin: str | None, now: datetime,
              serial_sources: tuple = ()) -> dict:
    """Make the keys in a new generation, write device.json, and return the enrolment request."""
    may_provision(identity_dir, store)
    generation = new_generation(identity_dir)
    identity = DeviceIdentity.create(generation)
    tls_key = new_key()
    write_private_key(generation / TLS_KEY_FILE, tls_key)
    serial = hardware_serial(*serial_sources)
    request = enrolment_request(identity.sign, public_key_pem(identity.public_key).decode("ascii"),
                                identity.device_id, tls_key, serial, agency_pin, utc_text(now))
    _write_json(generation / ENROLMENT_FILE, request)
    _write_json(generation / DEVICE_FILE, {
        "format": DEVICE_FORMAT, "device_id": identity.device_id, "hardware_serial": serial,
        "agency_ca_spki_sha256": agency_pin, "provisioned_at": utc_text(now)})
    return request


def _write_json(path: Path, document: dict) -> None:
    write_sealed_file(path, json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n")
    fsync_dir(path.parent)
