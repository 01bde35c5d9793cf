"""Public keys and signatures: what a verifier needs of the device's Ed25519 identity.

The device id is derived from the public key; signatures are standard base64 of
Ed25519 (RFC 8032). The private side (creating and using the key) is the device's
business: recorder/seal/identity.py.
"""

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import StoreError


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def device_id_for(public_key: Ed25519PublicKey) -> str:
    """A stable, short id derived from the public key: 'rec-' + 16 hex digits."""
    return "rec-" + hashlib.sha256(raw_public_key(public_key)).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read public key {path}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise StoreError(f"{path} is not an Ed25519 public key")
    return key


def pem_is_key(pem: bytes, key: Ed25519PublicKey) -> bool:
    """True when `pem` holds exactly `key`."""
    try:
        return raw_public_key(serialization.load_pem_public_key(pem)) == raw_public_key(key)
    except Exception:  # not PEM, not a key, another algorithm: not this key
        return False


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def verify_signature(public_key: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False
