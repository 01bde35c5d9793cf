"""The provisioning bundle: what the agency gives one device (docs/PROVISIONING.md).

    {"format": "recorder-bundle/1", "device_id", "issued_at", "not_after",
     "agency_ca", "device_certificate", "dock_certificate" (PEM), "age_recipient" (age1…),
     "config" (TOML text), "signature"}

`signature` is ECDSA P-256 with SHA-256 (DER, base64) by the agency CA's key, over the
RFC 8785 canonical JSON of the bundle without `signature`. A device accepts a bundle only
from the CA it has pinned (its key's SPKI SHA-256), for itself, within its validity, with
certificates the CA issued and one that certifies the device's own TLS key.
"""

import tomllib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from ..errors import ProvisioningError
from ..encryption.errors import KeyFormatError
from ..encryption.keys import Recipient
from ..evidence.documents import ecdsa_signature_valid, ecdsa_signed
from .certs import BACKDATE, common_name, is_ca, is_p256, pem, signed_by, spki_sha256, valid_at
from .documents import read_document
from .timefmt import parse_utc, utc_text

BUNDLE_FORMAT = "recorder-bundle/1"
FIELDS = ("format", "device_id", "issued_at", "not_after", "agency_ca", "device_certificate", "dock_certificate",
          "age_recipient", "config", "signature")


def build_bundle(ca_key, ca: x509.Certificate, device: x509.Certificate, dock: x509.Certificate, recipient: str,
                 config_text: str, device_id: str, issued_at: datetime, not_after: datetime) -> dict:
    try:
        tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as exc:
        raise ProvisioningError(f"the configuration is not TOML: {exc}") from None
    bundle = {
        "format": BUNDLE_FORMAT,
        "device_id": device_id,
        "issued_at": utc_text(issued_at),
        "not_after": utc_text(not_after),
        "agency_ca": pem(ca).decode("ascii"),
        "device_certificate": pem(device).decode("ascii"),
        "dock_certificate": pem(dock).decode("ascii"),
        "age_recipient": recipient,
        "config": config_text,
    }
    return ecdsa_signed(ca_key, bundle)


@dataclass(frozen=True)
class Bundle:
    """A bundle that passed every check (open_bundle); its documents as given."""

    document: dict
    ca: x509.Certificate
    device: x509.Certificate
    dock: x509.Certificate

    @property
    def ca_pin(self) -> str:
        return spki_sha256(self.ca.public_key())


def open_bundle(data: bytes, device_id: str, tls_public_key, pin: str, now: datetime) -> Bundle:
    """The bundle, checked for this device (its id and TLS key) against the pinned CA at
    `now`; ProvisioningError naming the first thing wrong."""
    document = _parse(data)
    ca, device, dock = (_certificate(document, name) for name in ("agency_ca", "device_certificate", "dock_certificate"))
    if not (is_ca(ca) and signed_by(ca, ca) and is_p256(ca.public_key())):
        raise ProvisioningError("the bundle's agency CA is not a self-signed P-256 CA certificate")
    if spki_sha256(ca.public_key()) != pin:
        raise ProvisioningError(f"the bundle is signed by CA {spki_sha256(ca.public_key())[:16]}…, not by the agency "
                                f"CA this device trusts ({pin[:16]}…)")
    if not ecdsa_signature_valid(ca.public_key(), document):
        raise ProvisioningError("the bundle's signature does not verify with the agency CA's key")
    if document["device_id"] != device_id:
        raise ProvisioningError(f"the bundle is for device {document['device_id']}, not for this one ({device_id})")
    try:
        issued, not_after = parse_utc(document["issued_at"]), parse_utc(document["not_after"])
    except ValueError as exc:
        raise ProvisioningError(f"the bundle's validity: {exc}") from None
    if not issued - BACKDATE <= now <= not_after:
        raise ProvisioningError(f"the bundle is valid from {document['issued_at']} to {document['not_after']}, "
                                f"not now ({utc_text(now)})")
    for name, certificate in (("device", device), ("dock", dock)):
        if not signed_by(certificate, ca):
            raise ProvisioningError(f"the {name} certificate is not issued by the bundle's agency CA")
        if not valid_at(certificate, now) or not valid_at(ca, now):
            raise ProvisioningError(f"the {name} certificate or the CA's is expired or not yet valid ({utc_text(now)})")
    if device.public_key() != tls_public_key or common_name(device) != device_id:
        raise ProvisioningError("the device certificate is not for this device's TLS key")
    try:
        Recipient.parse(document["age_recipient"])
    except (KeyFormatError, TypeError, AttributeError) as exc:
        raise ProvisioningError(f"the bundle's encryption key: {exc}") from None
    return Bundle(document, ca, device, dock)


def _parse(data: bytes) -> dict:
    document = read_document(data, BUNDLE_FORMAT, FIELDS, "provisioning bundle")
    if not all(isinstance(document[k], str) for k in FIELDS):
        raise ProvisioningError("every member of the bundle is text")
    return document


def _certificate(document: dict, name: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(document[name].encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ProvisioningError(f"the bundle's {name} is not a PEM certificate") from None
