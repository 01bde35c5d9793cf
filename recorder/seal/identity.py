"""The device's Ed25519 signing identity: the private key on disk, and signing with it.

The private key never leaves `device.key` (mode 0600) and is never logged. The
public key is published as `device.pub` (PEM, SubjectPublicKeyInfo) so a third party
can verify a store with nothing else (recorder/evidence/keys.py).
"""

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import StoreError
from ..evidence.keys import b64, device_id_for, public_key_pem
from ..evidence.layout import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE
from ..store.disk import fsync_dir, write_sealed_file


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
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read device key {path}: {exc.__class__.__name__}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"{path} is not an Ed25519 private key")
        return cls(device_id_for(key.public_key()), key)

    @classmethod
    def create(cls, key_dir: Path) -> "DeviceIdentity":
        """Create a new key pair; refuses to overwrite an existing key."""
        key_dir = Path(key_dir)
        key_dir.mkdir(parents=True, exist_ok=True)
        fsync_dir(key_dir.parent)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = key_dir / PRIVATE_KEY_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        identity = cls(device_id_for(key.public_key()), key)
        identity.publish(key_dir)
        return identity

    def publish(self, key_dir: Path) -> None:
        """Write device.pub (read-only, durably) unless it is there: a power cut right after
        the key was made must not leave a store that nobody can verify."""
        path = Path(key_dir) / PUBLIC_KEY_FILE
        if not path.exists():
            write_sealed_file(path, public_key_pem(self.public_key))
            fsync_dir(path.parent)

    @classmethod
    def load_or_create(cls, key_dir: Path) -> "DeviceIdentity":
        if (Path(key_dir) / PRIVATE_KEY_FILE).exists():
            identity = cls.load(key_dir)
            identity.publish(key_dir)  # a cut may have taken it
            return identity
        return cls.create(key_dir)
