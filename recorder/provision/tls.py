"""The device's side of the dock link: TLS 1.3 with the device's key and the certificate the
agency issued for it, trusting only the agency's CA (pinned at install). The dock's side:
recorder/agency/authority.py, dock_server_context."""

import ssl
from pathlib import Path

from ..errors import ProvisioningError
from .device import TLS_KEY_FILE
from .install import CA_FILE, DEVICE_CERT_FILE, current_install


def device_client_context(identity_dir: Path) -> ssl.SSLContext:
    install = current_install(identity_dir)
    if install is None:
        raise ProvisioningError(f"no agency bundle is installed in {identity_dir}: `recorder provision --install`")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the dock's certificate and name
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(install.path(CA_FILE))
    context.load_cert_chain(install.path(DEVICE_CERT_FILE), install.directory.parent.parent / TLS_KEY_FILE)
    return context
