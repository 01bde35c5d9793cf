"""The officer's assignment for the next shift (docs/DOCK.md, "Checkout"): who carries the
device, from when until when, and optionally settings on top of the bundle's — a document the
dock signs and the device checks against the dock certificate its bundle pinned.

  {"format": "recorder-assignment/1", "device_id", "officer_id", "valid_from", "valid_until",
   "issued_at" (UTC, RFC 3339), "config" (TOML text, "" for none), "signature"}
signature: ECDSA P-256 SHA-256 (DER, base64) by the dock's key over RFC 8785 JSON of the rest.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from ..errors import ProvisioningError
from ..evidence.documents import ecdsa_signature_valid, ecdsa_signed
from .documents import read_document
from .timefmt import parse_utc, utc_text

ASSIGNMENT_FORMAT = "recorder-assignment/1"
FIELDS = ("format", "device_id", "officer_id", "valid_from", "valid_until", "issued_at", "config", "signature")
OFFICER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def build_assignment(dock_key, device_id: str, officer_id: str, valid_from: datetime, valid_until: datetime,
                     issued_at: datetime, config_text: str = "") -> dict:
    if not OFFICER_ID.match(officer_id):
        raise ProvisioningError(f"{officer_id!r} is not an officer id (letters, digits, . _ -; up to 64)")
    if valid_until <= valid_from:
        raise ProvisioningError("an assignment ends after it starts")
    document = {"format": ASSIGNMENT_FORMAT, "device_id": device_id, "officer_id": officer_id,
                "valid_from": utc_text(valid_from), "valid_until": utc_text(valid_until),
                "issued_at": utc_text(issued_at), "config": config_text}
    return ecdsa_signed(dock_key, document)


@dataclass(frozen=True)
class Assignment:
    document: dict
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime

    @property
    def officer_id(self) -> str:
        return self.document["officer_id"]

    def covers(self, now: datetime) -> bool:
        return self.valid_from <= now < self.valid_until


def open_assignment(data: bytes, dock: x509.Certificate, device_id: str) -> Assignment:
    """The assignment, checked: this format, for this device, signed by this dock; times
    well formed. ProvisioningError otherwise (nothing is recorded or applied)."""
    document = read_document(data, ASSIGNMENT_FORMAT, FIELDS, "assignment")
    if not all(isinstance(document[k], str) for k in FIELDS):
        raise ProvisioningError("every member of the assignment is text")
    if document["device_id"] != device_id:
        raise ProvisioningError(f"the assignment is for device {document['device_id']}, not {device_id}")
    if not ecdsa_signature_valid(dock.public_key(), document):
        raise ProvisioningError("the assignment's signature does not verify with the dock's key")
    if not OFFICER_ID.match(document["officer_id"]):
        raise ProvisioningError(f"{document['officer_id']!r} is not an officer id")
    try:
        times = [parse_utc(document[k]) for k in ("valid_from", "valid_until", "issued_at")]
    except ValueError as exc:
        raise ProvisioningError(f"the assignment's times: {exc}") from None
    return Assignment(document, *times)
