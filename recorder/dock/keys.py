"""The dock's keys: the agency's CA (whose devices it serves), its own certificate and key.

`recorder dock init --agency AGENCY` copies the three files from the agency's directory: the
dock never needs the CA's private key nor the agency's age identity."""

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..agency.certs import signed_by
from ..errors import ProvisioningError
from .layout import CA_FILE, CERT_FILE, KEY_FILE, DockLayout

# Pi Zero 2 W and Pi 4 have no AES instructions: ChaCha20-Poly1305 is several times faster
# there. OpenSSL's SSL_OP_PRIORITIZE_CHACHA (no name in Python's ssl) makes a server that
# prefers its own order pick ChaCha20 when the client lists it first, AES otherwise.
OP_PRIORITIZE_CHACHA = 0x00200000


@dataclass(frozen=True)
class DockKeys:
    layout: DockLayout
    ca: x509.Certificate
    certificate: x509.Certificate

    def __repr__(self):  # never the key
        return f"DockKeys({self.layout.root})"

    def private_key(self):
        return serialization.load_pem_private_key(self.layout.key_path(KEY_FILE).read_bytes(), password=None)

    def server_context(self) -> ssl.SSLContext:
        """TLS 1.3 only; a client certificate from the agency's CA required of every device."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(self.layout.key_path(CERT_FILE), self.layout.key_path(KEY_FILE))
        context.load_verify_locations(self.layout.key_path(CA_FILE))
        context.verify_mode = ssl.CERT_REQUIRED
        context.options |= OP_PRIORITIZE_CHACHA
        return context


def load_dock_keys(root: Path) -> DockKeys:
    layout = DockLayout(root)
    try:
        ca = x509.load_pem_x509_certificate(layout.key_path(CA_FILE).read_bytes())
        certificate = x509.load_pem_x509_certificate(layout.key_path(CERT_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"{root} is not a dock directory (`recorder dock init`): "
                                f"{exc.__class__.__name__}") from None
    if not signed_by(certificate, ca):
        raise ProvisioningError(f"{layout.key_path(CERT_FILE)} is not issued by {layout.key_path(CA_FILE)}")
    return DockKeys(layout, ca, certificate)


def init_dock(root: Path, agency_dir: Path) -> DockKeys:
    """A new dock directory with the agency's CA and the dock's certificate and key."""
    layout = DockLayout(root)
    if layout.keys_dir.exists():
        raise ProvisioningError(f"{root} is a dock already (nothing was changed)")
    sources = {name: Path(agency_dir) / name for name in (CA_FILE, CERT_FILE, KEY_FILE)}
    missing = [str(p) for p in sources.values() if not p.exists()]
    if missing:
        raise ProvisioningError(f"not an agency directory: {', '.join(missing)} missing")
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.keys_dir.mkdir(mode=0o700)
    for name, source in sources.items():
        private = name == KEY_FILE
        fd = os.open(layout.key_path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(source.read_bytes())
            f.flush()
            os.fsync(f.fileno())
    return load_dock_keys(root)
