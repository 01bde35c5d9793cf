"""age X25519 recipients (`age1…`, public: what the device holds) and identities
(`AGE-SECRET-KEY-1…`, private: what the agency holds) — age v1, "The X25519 recipient type".

An identity's secret never appears in its repr or str: `secret_text()` is the one way out,
for writing a key file."""

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from . import bech32
from .errors import KeyFormatError

RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"


def raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Recipient:
    """An X25519 public key: files encrypted to it open only with its identity."""

    public_bytes: bytes

    @classmethod
    def parse(cls, text: str) -> "Recipient":
        """`age1…` (lowercase, as age-keygen prints it)."""
        if text != text.lower():
            raise KeyFormatError("an age recipient is written in lowercase")
        _, data = _decode(text, RECIPIENT_HRP, "recipient")
        return cls(data)

    def __post_init__(self):
        if len(self.public_bytes) != 32:
            raise KeyFormatError("an X25519 recipient is 32 bytes")

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public_bytes)

    def key(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(self.public_bytes)


@dataclass(frozen=True)
class Identity:
    """An X25519 private key. Held by the agency (the dock's export, a clerk), never by the
    device."""

    _private: X25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> "Identity":
        return cls(X25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> "Identity":
        """`AGE-SECRET-KEY-1…` (uppercase, as age-keygen writes it)."""
        if text != text.upper():
            raise KeyFormatError("an age identity is written in uppercase")
        _, data = _decode(text, IDENTITY_HRP, "identity")
        if len(data) != 32:
            raise KeyFormatError("an X25519 identity is 32 bytes")
        return cls(X25519PrivateKey.from_private_bytes(data))

    @classmethod
    def parse_file(cls, text: str) -> list["Identity"]:
        """An identity file as age-keygen writes it: `#` comments, blank lines, one key a line."""
        lines = [line.strip() for line in text.splitlines()]
        identities = [cls.parse(line) for line in lines if line and not line.startswith("#")]
        if not identities:
            raise KeyFormatError("no identity in the file")
        return identities

    @property
    def recipient(self) -> Recipient:
        return Recipient(raw_public(self._private.public_key()))

    def secret_text(self) -> str:
        """The `AGE-SECRET-KEY-1…` line, for writing a key file (never for a log)."""
        raw = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return bech32.encode(IDENTITY_HRP, raw).upper()

    def key_file_text(self) -> str:
        """The file age-keygen would write for this identity."""
        return f"# public key: {self.recipient}\n{self.secret_text()}\n"

    def exchange(self, peer: X25519PublicKey) -> bytes:
        return self._private.exchange(peer)

    def __repr__(self) -> str:
        return f"Identity(recipient={self.recipient})"

    __str__ = __repr__


def _decode(text: str, hrp: str, what: str) -> tuple[str, bytes]:
    try:
        found, data = bech32.decode(text)
    except bech32.Bech32Error as e:
        raise KeyFormatError(f"not an age {what}: {e}") from None
    if found != hrp:
        raise KeyFormatError(f"not an age {what}: prefix {found!r}, expected {hrp!r}")
    return found, data
