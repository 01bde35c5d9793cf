"""Dock receipts (docs/DOCK.md, "Receipts"): the dock's signed statement that it holds a
device's ledger up to a head it witnessed and the files listed, each verified and durably
stored where the receipt says.

  {"format": "recorder-receipt/1", "device_id", "issued_at" (UTC, RFC 3339),
   "dock": {"name", "certificate_sha256"},            the dock certificate that signs it
   "ledger": {"head": "INDEX:SHA256"},                the witnessed head: receipt covers the
                                                      ledger up to and including it
   "files": [{"path", "sha256", "size", "stored"}],   store-relative; `stored` = where the
                                                      archive holds it (its own record)
   "signature"}                                       ECDSA P-256 SHA-256 (DER, base64) over
                                                      RFC 8785 JSON of everything else

The device frees a file only against a receipt whose signature verifies with the dock
certificate it pinned at provisioning, for its own device id, naming the file with the
hash and size it has (recorder/offload/release.py). A third party checks one the same way.
"""

import hashlib
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .documents import ecdsa_signature_valid, ecdsa_signed
from .ledger import parse_head_ref

RECEIPT_FORMAT = "recorder-receipt/1"
FIELDS = ("format", "device_id", "issued_at", "dock", "ledger", "files", "signature")
FILE_FIELDS = ("path", "sha256", "size", "stored")


class ReceiptError(Exception):
    """A receipt that does not hold: it frees nothing."""


def certificate_sha256(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def sign_receipt(private_key, certificate: x509.Certificate, dock_name: str, device_id: str, issued_at: str,
                 head: str, files: list[dict]) -> dict:
    document = {
        "format": RECEIPT_FORMAT,
        "device_id": device_id,
        "issued_at": issued_at,
        "dock": {"name": dock_name, "certificate_sha256": certificate_sha256(certificate)},
        "ledger": {"head": head},
        "files": [{k: f[k] for k in FILE_FIELDS} for f in files],
    }
    return ecdsa_signed(private_key, document)


@dataclass(frozen=True)
class Receipt:
    document: dict
    data: bytes  # as received: what the device keeps and its ledger hashes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def head(self) -> str:
        return self.document["ledger"]["head"]

    @property
    def files(self) -> list[dict]:
        return self.document["files"]


def check_receipt(data: bytes, dock_certificate: x509.Certificate, device_id: str) -> Receipt:
    """The receipt, or ReceiptError naming what is wrong: not this format, not for this
    device, not signed by this dock certificate's key, a malformed file list or head."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ReceiptError("the receipt is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != RECEIPT_FORMAT:
        raise ReceiptError(f"not a receipt of format {RECEIPT_FORMAT}")
    if sorted(document) != sorted(FIELDS):
        raise ReceiptError(f"the receipt's members are {sorted(document)}, expected {sorted(FIELDS)}")
    if document["device_id"] != device_id:
        raise ReceiptError(f"the receipt is for device {document['device_id']!r}, not {device_id}")
    dock = document["dock"]
    if not isinstance(dock, dict) or dock.get("certificate_sha256") != certificate_sha256(dock_certificate):
        raise ReceiptError("the receipt names another dock certificate than the one this device trusts")
    if not ecdsa_signature_valid(dock_certificate.public_key(), document):
        raise ReceiptError("the receipt's signature does not verify with the dock's key")
    ledger = document["ledger"]
    try:
        parse_head_ref(ledger["head"])
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ReceiptError(f"the receipt's ledger head: {exc}") from None
    files = document["files"]
    if not isinstance(files, list) or not all(_is_file(f) for f in files):
        raise ReceiptError("the receipt's file list is malformed")
    return Receipt(document, bytes(data))


def _is_file(item) -> bool:
    return (isinstance(item, dict) and sorted(item) == sorted(FILE_FIELDS) and isinstance(item["path"], str)
            and isinstance(item["sha256"], str) and len(item["sha256"]) == 64
            and isinstance(item["size"], int) and not isinstance(item["size"], bool) and item["size"] >= 0)
