"""The device's side of the dock link: TLS 1.3 with the device's key and the certificate the
agency issued for it, trusting only the agency's CA (pinned at install), and only the dock
certificate the bundle named (DockLink.check_peer: after the handshake, before a byte is
sent). Which TLS 1.3 suite the device asks for first: recorder/offload/cipher.py. The dock's
side: recorder/dock/keys.py."""

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..errors import ProvisioningError
from .device import TLS_KEY_FILE, provisioned
from .install import CA_FILE, DEVICE_CERT_FILE, DOCK_FILE, current_install


@dataclass(frozen=True)
class DockLink:
    context: ssl.SSLContext
    dock: x509.Certificate  # the only dock this device talks to
    dock_name: str  # the name its certificate is for (checked as the TLS host name)

    def check_peer(self, der: bytes | None) -> None:
        if der != self.dock.public_bytes(Encoding.DER):
            raise ssl.SSLError("the dock presented another certificate than the one provisioning pinned")


def device_client_context(identity_dir: Path) -> ssl.SSLContext:
    return dock_link(identity_dir).context


def dock_link(identity_dir: Path) -> DockLink:
    install = current_install(identity_dir)
    device = provisioned(identity_dir)
    if install is None or device is None:
        raise ProvisioningError(f"no agency bundle is installed in {identity_dir}: `recorder provision --install`")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the dock's certificate and name
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(install.path(CA_FILE))
    context.load_cert_chain(install.path(DEVICE_CERT_FILE), device.generation / TLS_KEY_FILE)
    dock = x509.load_pem_x509_certificate(install.path(DOCK_FILE).read_bytes())
    names = dock.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    return DockLink(context, dock, names[0])
