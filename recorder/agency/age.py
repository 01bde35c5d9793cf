"""The agency's encryption key as age spells it (age-encryption.org/v1): an X25519 key pair,
the public half a recipient `age1…`, the private half an identity `AGE-SECRET-KEY-1…`, both
Bech32. The dock encrypts segments to the recipient; only the agency's identity decrypts
them (`age -d -i IDENTITY_FILE`). The identity file is age-keygen's format.
"""

from datetime import datetime, timezone

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from . import bech32

RECIPIENT_HRP = "age"
IDENTITY_HRP = "AGE-SECRET-KEY-"


def _raw(key) -> bytes:
    if isinstance(key, X25519PrivateKey):
        return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def recipient(public_key: X25519PublicKey) -> str:
    return bech32.encode(RECIPIENT_HRP, _raw(public_key))


def identity(private_key: X25519PrivateKey) -> str:
    return bech32.encode(IDENTITY_HRP, _raw(private_key)).upper()


def parse_recipient(text: str) -> X25519PublicKey:
    """An `age1…` X25519 recipient; ValueError for anything else."""
    hrp, data = bech32.decode(text)
    if hrp != RECIPIENT_HRP or len(data) != 32 or text != text.lower():
        raise ValueError(f"{text[:12]}… is not an age X25519 recipient (age1…)")
    return X25519PublicKey.from_public_bytes(data)


def parse_identity(text: str) -> X25519PrivateKey:
    hrp, data = bech32.decode(text)
    if hrp != IDENTITY_HRP.lower() or len(data) != 32:
        raise ValueError("not an age X25519 identity (AGE-SECRET-KEY-1…)")
    return X25519PrivateKey.from_private_bytes(data)


def identity_file(private_key: X25519PrivateKey, now: datetime | None = None) -> bytes:
    """age-keygen's file: two comment lines, then the identity."""
    created = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"# created: {created}\n# public key: {recipient(private_key.public_key())}\n"
            f"{identity(private_key)}\n").encode("ascii")
