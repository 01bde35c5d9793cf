"""The agency's directory: its CA, its age key, its dock, the devices it enrolled.

    AGENCY/agency.json           {"format": "recorder-agency/1", "name", "ca_spki_sha256",
                                  "age_recipient", "dock_name"}
    AGENCY/ca.pem, ca.key        the CA (P-256; the key 0600)
    AGENCY/dock.pem, dock.key    the dock's TLS identity, issued by the CA
    AGENCY/age-identity.txt      the agency's age identity (0600): it decrypts the footage
    AGENCY/devices/<id>.pem      a device's TLS client certificate; <id>.enrolment.json its request

Every file is written new (never over another), fsync'd; keys 0600 in a 0700 directory. The
agency's keys belong offline or in an HSM: this is the small agency's (and the tests') form.
"""

import json
import os
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..durable import create_new
from ..errors import ProvisioningError
from ..encryption.keys import Identity
from .bundle import build_bundle
from .certs import issue_device, make_ca, make_dock, new_key, pem, spki_sha256
from .enrolment import read_enrolment
from .timefmt import utc_text

AGENCY_FORMAT = "recorder-agency/1"
CA_DAYS, DOCK_DAYS, DEVICE_DAYS, BUNDLE_DAYS = 3650, 825, 825, 30


@dataclass(frozen=True)
class Agency:
    root: Path
    name: str
    ca_pin: str
    recipient: str
    dock_name: str

    def __repr__(self):
        return f"Agency({self.name}, CA {self.ca_pin[:16]}…)"

    @property
    def devices(self) -> Path:
        return self.root / "devices"

    def ca(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.root / "ca.pem").read_bytes())

    def dock(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.root / "dock.pem").read_bytes())

    def _ca_key(self):
        return serialization.load_pem_private_key((self.root / "ca.key").read_bytes(), password=None)

    def device_certificate(self, device_id: str) -> x509.Certificate:
        path = self.devices / f"{device_id}.pem"
        if not path.exists():
            raise ProvisioningError(f"device {device_id} is not enrolled with this agency ({self.root})")
        return x509.load_pem_x509_certificate(path.read_bytes())


def init_agency(root: Path, name: str, dock_name: str, now: datetime, days: int = CA_DAYS) -> Agency:
    """A new agency in an empty (or new) directory."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise ProvisioningError(f"{root} is not empty: an agency is made in a new directory (nothing was changed)")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    ca_key, dock_key, age_identity = new_key(), new_key(), Identity.generate()
    ca = make_ca(ca_key, name, now, days)
    dock = make_dock(ca_key, ca, dock_key, dock_name, now, min(days, DOCK_DAYS))
    _write_new(root / "ca.key", _private_pem(ca_key), private=True)
    _write_new(root / "dock.key", _private_pem(dock_key), private=True)
    _write_new(root / "age-identity.txt",
               f"# created: {utc_text(now)}\n{age_identity.key_file_text()}".encode("ascii"), private=True)
    _write_new(root / "ca.pem", pem(ca))
    _write_new(root / "dock.pem", pem(dock))
    (root / "devices").mkdir(mode=0o700)
    agency = Agency(root, name, spki_sha256(ca_key.public_key()), str(age_identity.recipient), dock_name)
    _write_new(root / "agency.json", json.dumps({"format": AGENCY_FORMAT, "name": name, "ca_spki_sha256": agency.ca_pin,
                                                 "age_recipient": agency.recipient, "dock_name": dock_name},
                                                indent=2).encode() + b"\n")
    return agency


def open_agency(root: Path) -> Agency:
    try:
        meta = json.loads((Path(root) / "agency.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"{root} is not an agency directory (`recorder agency init`): "
                                f"{exc.__class__.__name__}") from None
    if meta.get("format") != AGENCY_FORMAT:
        raise ProvisioningError(f"{root}/agency.json is not of format {AGENCY_FORMAT}")
    return Agency(Path(root), meta["name"], meta["ca_spki_sha256"], meta["age_recipient"], meta["dock_name"])


def enrol(agency: Agency, request: bytes, now: datetime, days: int = DEVICE_DAYS) -> tuple[str, Path]:
    """Verify a device's request and issue its TLS client certificate: (device id, its path)."""
    enrolment = read_enrolment(request)
    if enrolment.agency_pin is not None and enrolment.agency_pin != agency.ca_pin:
        raise ProvisioningError(f"the request names agency CA {enrolment.agency_pin[:16]}…, not this agency's "
                                f"({agency.ca_pin[:16]}…)")
    ca = agency.ca()
    certificate = issue_device(agency._ca_key(), ca, enrolment.tls_public_key, enrolment.device_id,
                               enrolment.hardware_serial, now, days)
    path = agency.devices / f"{enrolment.device_id}.pem"
    try:
        _write_new(path, pem(certificate))
    except FileExistsError:
        raise ProvisioningError(f"device {enrolment.device_id} is enrolled already ({path})") from None
    _write_new(agency.devices / f"{enrolment.device_id}.enrolment.json", request)  # what it was issued for
    return enrolment.device_id, path


def make_bundle(agency: Agency, device_id: str, config_text: str, now: datetime, days: int = BUNDLE_DAYS) -> dict:
    return build_bundle(agency._ca_key(), agency.ca(), agency.device_certificate(device_id), agency.dock(),
                        agency.recipient, config_text, device_id, now, now + timedelta(days=days))


def dock_server_context(agency: Agency) -> ssl.SSLContext:
    """The dock's side of the link: TLS 1.3 only, its certificate, and a client certificate
    from the agency's CA required of every device."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(agency.root / "dock.pem", agency.root / "dock.key")
    context.load_verify_locations(agency.root / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _private_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_new(path: Path, data: bytes, private: bool = False) -> None:
    """A new file (never over one), fsync'd with its directory; 0600 when private."""
    create_new(path, data, 0o600 if private else 0o644)
