"""The device's Ed25519 signing identity: the private key on disk, outside the store.

The private key lives in the identity directory ([device] identity; docs/PROVISIONING.md),
never in the store, so that no copy of the store can sign as the device. It is never
logged and never shown in a repr. The store carries only the public key, `device/device.pub`
(PEM, SubjectPublicKeyInfo), so a third party can verify a store with nothing else
(recorder/evidence/keys.py).

  IDENTITY/              0700
    <n>/                 0700  one generation: the keys one provisioning made (1, 2, ...);
                               the current one is the highest holding a key
      device.key         Ed25519 private key, PKCS#8 PEM, 0600
      device.pub         its public key
      (tls.key, device.json, installs/: recorder/provision)

A key is never replaced or removed: re-provisioning makes a new generation.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import RecorderError, StoreError
from ..evidence.keys import b64, device_id_for, pem_is_key, public_key_pem
from ..evidence.layout import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, StoreLayout
from ..store.disk import fsync_dir, write_sealed_file

log = logging.getLogger("recorder")

PRIVATE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


class NoIdentity(RecorderError):
    """The device has no signing identity: an operator must provision it first."""


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, message: bytes) -> str:
        return b64(self.private_key.sign(message))

    def __repr__(self):  # never show key material
        return f"DeviceIdentity({self.device_id})"

    @classmethod
    def load(cls, key_dir: Path) -> "DeviceIdentity":
        path = Path(key_dir) / PRIVATE_KEY_FILE
        key = load_private_key(path)
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"{path} is not an Ed25519 private key")
        return cls(device_id_for(key.public_key()), key)

    @classmethod
    def create(cls, key_dir: Path) -> "DeviceIdentity":
        """Create a new key pair in `key_dir`; refuses to overwrite an existing key."""
        key_dir = private_dir(key_dir)
        key = Ed25519PrivateKey.generate()
        write_private_key(key_dir / PRIVATE_KEY_FILE, key)
        identity = cls(device_id_for(key.public_key()), key)
        identity.publish(key_dir)
        return identity

    @classmethod
    def adopt(cls, old_key: Path, key_dir: Path) -> "DeviceIdentity":
        """Take the key a store of the old layout holds into `key_dir` (a copy: the device
        deletes nothing from a store)."""
        identity = cls.load(old_key.parent)
        write_private_key(private_dir(key_dir) / PRIVATE_KEY_FILE, identity.private_key)
        identity.publish(key_dir)
        log.warning("adopted the device key of %s into %s: the store still holds a copy (docs/PROVISIONING.md)",
                    old_key.parent.parent, key_dir)
        return identity

    def publish(self, key_dir: Path) -> None:
        """Write device.pub (read-only, durably) unless it is there: a power cut right after
        the key was made must not leave a store that nobody can verify. One that is there
        must be this key: a store begun by another device is never signed into."""
        path = Path(key_dir) / PUBLIC_KEY_FILE
        if not path.exists():
            write_sealed_file(path, public_key_pem(self.public_key))
            fsync_dir(path.parent)
        elif not pem_is_key(path.read_bytes(), self.public_key):
            raise StoreError(f"{path} is another device's key, not {self.device_id}'s: this identity does not "
                             "sign into that store (docs/PROVISIONING.md)")


def load_private_key(path: Path):
    try:
        return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:  # the exception's class only: never the key's bytes
        raise StoreError(f"cannot read private key {path}: {exc.__class__.__name__}") from None


def write_private_key(path: Path, key) -> None:
    """PKCS#8 PEM, mode 0600, created new (never over a key), fsync'd with its directory."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_sealed_file(Path(path), pem, mode=PRIVATE_MODE)
    fsync_dir(Path(path).parent)


def private_dir(path: Path) -> Path:
    """A directory only the owner may enter (0700), made durably if it is new."""
    path = Path(path)
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(path, PRIVATE_DIR_MODE)  # whatever the umask
        fsync_dir(path.parent)
    return path


# ------------------------------------------------------------------ the identity directory


def identity_dir_for(store_root, configured: str = "") -> Path:
    """[device] identity, or by default the directory beside the store: `identity` next to a
    store named `store` (the device's /var/lib/recorder/store -> /var/lib/recorder/identity),
    `<store>.identity` next to any other. Two stores never share one by default."""
    if configured:
        return Path(configured)
    store = Path(os.path.abspath(store_root))
    return store.parent / ("identity" if store.name == "store" else f"{store.name}.identity")


def generations(identity_dir: Path) -> list[Path]:
    """The generations, oldest first."""
    try:
        found = [p for p in Path(identity_dir).iterdir() if p.name.isdigit() and p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):  # none yet; a path through a file holds none either
        return []
    return sorted(found, key=lambda p: int(p.name))


def current_generation(identity_dir: Path) -> Path | None:
    """The newest generation that holds a signing key (one whose key a power cut took is none)."""
    held = [g for g in generations(identity_dir) if (g / PRIVATE_KEY_FILE).exists()]
    return held[-1] if held else None


def new_generation(identity_dir: Path) -> Path:
    identity_dir = private_dir(identity_dir)
    existing = generations(identity_dir)
    number = int(existing[-1].name) + 1 if existing else 1
    return private_dir(identity_dir / str(number))


def open_identity(identity_dir: Path, store: StoreLayout, create: bool) -> DeviceIdentity:
    """The identity the store is signed with: the current generation's key; else the key a store
    of the old layout holds, adopted; else a new one when `create` (the simulated body); else
    NoIdentity. Its public key is published in the store (or must be the one there)."""
    generation = current_generation(identity_dir)
    if generation is not None:
        identity = DeviceIdentity.load(generation)
        identity.publish(generation)  # a cut may have taken it
    elif (store.device_dir / PRIVATE_KEY_FILE).exists():
        identity = DeviceIdentity.adopt(store.device_dir / PRIVATE_KEY_FILE, new_generation(identity_dir))
    elif create:
        identity = DeviceIdentity.create(new_generation(identity_dir))
    else:
        raise _no_identity(identity_dir)
    store.device_dir.mkdir(parents=True, exist_ok=True)
    identity.publish(store.device_dir)
    return identity


def require_identity(identity_dir: Path, store: StoreLayout) -> None:
    """Raise NoIdentity, touching nothing, when open_identity(create=False) would."""
    if current_generation(identity_dir) is None and not (store.device_dir / PRIVATE_KEY_FILE).exists():
        raise _no_identity(identity_dir)


def _no_identity(identity_dir: Path) -> NoIdentity:
    return NoIdentity(f"this device has no identity in {identity_dir}: a technician must run "
                      "`recorder provision` first (docs/PROVISIONING.md); nothing was recorded "
                      "(off the device, `recorder run --simulate` makes its own)")
