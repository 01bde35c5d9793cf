"""`recorder provision --install BUNDLE`: the agency's bundle, checked, then installed whole.

    <generation>/installs/<m>/agency-ca.pem, device.pem, dock.pem   certificates (PEM)
                             age-recipient.txt                      the agency's age1… recipient
                             config.toml                            the agency's settings
                             bundle.json                            the bundle as given
                             installed.json                         written last: the switch

Each file is written under a temporary name, fsync'd and renamed (store/disk.py), and
`installed.json`, naming every other file's SHA-256, comes last: an install a power cut
interrupted has none and is not an install. The current install is the newest whole one, so
until the switch the agent goes on with the previous bundle (or none). Nothing is replaced.

Trust: the first bundle must come from the agency CA the technician named (its key's SPKI
SHA-256, `--agency-ca`, given to `recorder provision` or here); every later one from the CA
of the current install. There is no trust on first use: a bundle from another CA would
hand the device's dock link and the encryption of its footage to whoever made it.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..agency.bundle import Bundle, open_bundle
from ..agency.certs import pem
from ..agency.timefmt import utc_text
from ..config import overlay_config, read_config_dict
from ..errors import ConfigError, ProvisioningError
from ..store.disk import fsync_dir, write_sealed_file
from .device import Provisioned, provisioned

INSTALL_FORMAT = "recorder-install/1"
MARKER = "installed.json"
CA_FILE, DEVICE_CERT_FILE, DOCK_FILE = "agency-ca.pem", "device.pem", "dock.pem"
RECIPIENT_FILE, CONFIG_FILE, BUNDLE_FILE = "age-recipient.txt", "config.toml", "bundle.json"


@dataclass(frozen=True)
class Install:
    directory: Path
    marker: dict

    @property
    def pin(self) -> str:
        return self.marker["ca_spki_sha256"]

    def path(self, name: str) -> Path:
        return self.directory / name


def installs_of(generation: Path) -> list[Path]:
    root = generation / "installs"
    found = [p for p in root.iterdir() if p.name.isdigit() and p.is_dir()] if root.is_dir() else []
    return sorted(found, key=lambda p: int(p.name))


def current_install(identity_dir: Path) -> Install | None:
    """The newest whole install of the current provisioned generation (its files as the
    marker names them), or None."""
    device = provisioned(identity_dir)
    for directory in reversed(installs_of(device.generation)) if device else ():
        install = _whole(directory)
        if install is not None:
            return install
    return None


def _whole(directory: Path) -> Install | None:
    try:
        marker = json.loads((directory / MARKER).read_bytes())
        if marker.get("format") != INSTALL_FORMAT:
            return None
        if all(_sha256(directory / name) == digest for name, digest in marker["files"].items()):
            return Install(directory, marker)
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    return None


def install_bundle(identity_dir: Path, data: bytes, now: datetime, agency_pin: str | None = None,
                   image_config: Path | None = None) -> tuple[Install, Bundle]:
    """Check the bundle against this device, its pinned CA and `now`, and the configuration
    it brings against the image's; then install it. ProvisioningError, nothing written,
    when anything is wrong."""
    device = provisioned(identity_dir)
    if device is None:
        raise ProvisioningError(f"this device is not provisioned ({identity_dir}): run `recorder provision` first, "
                                "and give the agency its enrolment request (nothing was changed)")
    pin = _trusted_pin(identity_dir, device, agency_pin)
    bundle = open_bundle(data, device.identity.device_id, device.tls_key().public_key(), pin, now)
    try:
        overlay_config(read_config_dict(image_config), bundle.document["config"], "the bundle's configuration")
    except ConfigError as exc:
        raise ProvisioningError(f"the bundle's configuration is refused: {exc} (nothing was changed)") from None
    files = {
        CA_FILE: pem(bundle.ca), DEVICE_CERT_FILE: pem(bundle.device), DOCK_FILE: pem(bundle.dock),
        RECIPIENT_FILE: bundle.document["age_recipient"].encode("ascii") + b"\n",
        CONFIG_FILE: bundle.document["config"].encode("utf-8"), BUNDLE_FILE: data,
    }
    directory = _new_install_dir(device.generation)
    for name, content in files.items():
        write_sealed_file(directory / name, content)
    fsync_dir(directory)
    marker = {"format": INSTALL_FORMAT, "device_id": device.identity.device_id, "ca_spki_sha256": bundle.ca_pin,
              "bundle_not_after": bundle.document["not_after"], "installed_at": utc_text(now),
              "files": {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}}
    write_sealed_file(directory / MARKER, json.dumps(marker, indent=2).encode() + b"\n")  # the switch
    fsync_dir(directory)
    return Install(directory, marker), bundle


def _trusted_pin(identity_dir: Path, device: Provisioned, given: str | None) -> str:
    current = current_install(identity_dir)
    pinned = current.pin if current else device.pin
    if pinned and given and given != pinned:
        raise ProvisioningError(f"--agency-ca {given[:16]}… is not the agency CA this device trusts already "
                                f"({pinned[:16]}…): a device changes agency only by being provisioned again")
    pin = pinned or given
    if not pin:
        raise ProvisioningError("no agency CA is pinned on this device: give --agency-ca with the fingerprint "
                                "`recorder agency init` printed (nothing was changed)")
    return pin


def _new_install_dir(generation: Path) -> Path:
    root = generation / "installs"
    root.mkdir(mode=0o700, exist_ok=True)
    existing = installs_of(generation)
    directory = root / str(int(existing[-1].name) + 1 if existing else 1)
    directory.mkdir(mode=0o700)
    fsync_dir(root)
    return directory


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed_config(identity_dir: Path) -> str | None:
    """The agency's configuration of the current install (TOML text), if any."""
    install = current_install(identity_dir)
    return install.path(CONFIG_FILE).read_text("utf-8") if install else None


def installed_recipient(identity_dir: Path) -> str | None:
    """The agency's age recipient (`age1…`) of the current install, if any: segments are
    encrypted to it (docs/ENCRYPTION.md)."""
    install = current_install(identity_dir)
    return install.path(RECIPIENT_FILE).read_text("ascii").strip() if install else None
