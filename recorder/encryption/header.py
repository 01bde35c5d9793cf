"""The age v1 header (age-encryption.org/v1, "Header" and "The X25519 recipient type"):
the version line, recipient stanzas that wrap the 16-byte file key, and the MAC line.

Written: an X25519 stanza per recipient. Read: any stanzas (unknown types are skipped, as the spec
requires), parsed strictly — canonical unpadded base64, body lines of 64 columns ending
with a shorter one — and the MAC checked over the header bytes exactly as read."""

import base64
import binascii
import hmac
import os
from dataclasses import dataclass
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.exceptions import InvalidTag

from .errors import HeaderError, NoIdentityMatch
from .keys import Identity, Recipient, raw_public

VERSION_LINE = b"age-encryption.org/v1\n"
MAC_MARK = b"---"
X25519_TAG = b"X25519"
X25519_INFO = b"age-encryption.org/v1/X25519"
FILE_KEY_SIZE = 16
COLUMNS = 64
MAX_LINE = 4096  # longer than any stanza line of a known recipient type
_ZERO_NONCE = bytes(12)
_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA-256 with 32 bytes out, as every age key derivation."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def b64decode(text: bytes) -> bytes:
    """Canonical unpadded base64 only: no `=`, no other spelling of the same bytes."""
    if not set(text) <= _BASE64 or len(text) % 4 == 1:
        raise HeaderError("not canonical unpadded base64")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise HeaderError("not canonical unpadded base64") from None
    if b64encode(data) != text:
        raise HeaderError("non-canonical base64 (unused bits set)")
    return data


def header_mac(file_key: bytes, header_up_to_mark: bytes) -> bytes:
    key = hkdf(file_key, b"", b"header")
    return hmac.new(key, header_up_to_mark, sha256).digest()


@dataclass(frozen=True)
class Stanza:
    args: tuple[bytes, ...]
    body: bytes

    def encode(self) -> bytes:
        lines = [b"-> " + b" ".join(self.args)]
        text = b64encode(self.body)
        lines += [text[i : i + COLUMNS] for i in range(0, len(text), COLUMNS)]
        if len(text) % COLUMNS == 0:  # the body always ends with a line shorter than 64
            lines.append(b"")
        return b"\n".join(lines) + b"\n"


def _wrap_key(shared: bytes, share: bytes, recipient: bytes) -> bytes:
    if shared == bytes(32):  # the spec's MUST abort
        raise HeaderError("X25519 shared secret is all zeros (a low-order share)")
    return hkdf(shared, share + recipient, X25519_INFO)


def wrap_file_key(file_key: bytes, recipient: Recipient) -> Stanza:
    ephemeral = X25519PrivateKey.generate()  # fresh for every stanza and every file
    share = raw_public(ephemeral.public_key())
    wrap_key = _wrap_key(ephemeral.exchange(recipient.key()), share, recipient.public_bytes)
    body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
    return Stanza((X25519_TAG, b64encode(share)), body)


def unwrap_file_key(stanza: Stanza, identity: Identity) -> bytes | None:
    """The file key, or None when this stanza is not for this identity. A malformed
    X25519 stanza is refused outright, as the spec requires."""
    if len(stanza.args) != 2:
        raise HeaderError("an X25519 stanza has exactly two arguments")
    share = b64decode(stanza.args[1])
    if len(share) != 32:
        raise HeaderError("an X25519 share is 32 bytes")
    if len(stanza.body) != 32:  # before any decryption: no partitioning oracle
        raise HeaderError("an X25519 stanza body is 32 bytes")
    try:
        shared = identity.exchange(X25519PublicKey.from_public_bytes(share))
    except ValueError:  # OpenSSL refuses an all-zero result
        raise HeaderError("X25519 shared secret is all zeros (a low-order share)") from None
    wrap_key = _wrap_key(shared, share, identity.recipient.public_bytes)
    try:
        return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, stanza.body, None)
    except InvalidTag:
        return None


def new_header(recipients: list[Recipient]) -> tuple[bytes, bytes]:
    """(file key, header bytes) for a new file: the key is 16 fresh CSPRNG bytes, wrapped
    for each recipient (e.g. the agency and its escrow)."""
    if not recipients:
        raise ValueError("a file needs at least one recipient")
    file_key = os.urandom(FILE_KEY_SIZE)
    stanzas = b"".join(wrap_file_key(file_key, recipient).encode() for recipient in recipients)
    up_to_mark = VERSION_LINE + stanzas + MAC_MARK
    return file_key, up_to_mark + b" " + b64encode(header_mac(file_key, up_to_mark)) + b"\n"


class HeaderIncomplete(Exception):
    """The file ended inside the header: every line before the end was well formed."""

    def __init__(self, size: int):
        super().__init__(f"the file ends inside the header, after {size} bytes")
        self.size = size


@dataclass(frozen=True)
class ParsedHeader:
    stanzas: tuple[Stanza, ...]
    up_to_mark: bytes  # what the MAC covers
    mac: bytes
    size: int  # bytes of the whole header, MAC line included

    def file_key(self, identities) -> bytes:
        """Unwrap with the first identity that opens an X25519 stanza, then check the MAC."""
        if len(self.stanzas) > 1 and any(stanza.args[0] == b"scrypt" for stanza in self.stanzas):
            raise HeaderError("an scrypt stanza must be alone in the header")  # the spec's MUST
        for stanza in self.stanzas:
            if stanza.args[0] != X25519_TAG:
                continue  # other recipient types are not ours to judge
            for identity in identities:
                file_key = unwrap_file_key(stanza, identity)
                if file_key is not None:
                    if len(file_key) != FILE_KEY_SIZE:
                        raise HeaderError("the wrapped file key is not 16 bytes")
                    if not hmac.compare_digest(header_mac(file_key, self.up_to_mark), self.mac):
                        raise HeaderError("header MAC does not verify: the header was altered")
                    return file_key
        raise NoIdentityMatch("no X25519 stanza opens with the identities given")


def read_header(source) -> ParsedHeader:
    """Read exactly the header from a binary stream (nothing after its last newline)."""
    raw = bytearray()

    def line() -> bytes:
        read = source.readline(MAX_LINE)
        raw.extend(read)
        if not read.endswith(b"\n"):
            if len(read) == MAX_LINE:
                raise HeaderError("header line too long")
            raise HeaderIncomplete(len(raw))
        return read[:-1]

    if line() + b"\n" != VERSION_LINE:
        raise HeaderError("not an age v1 file (version line)")
    stanzas = []
    current = line()
    while current.startswith(b"-> "):
        args = tuple(current[3:].split(b" "))
        if not all(arg and all(0x21 <= c <= 0x7E for c in arg) for arg in args):
            raise HeaderError("bad stanza argument")
        body = bytearray()
        while True:
            body_line = line()
            if len(body_line) > COLUMNS:
                raise HeaderError("stanza body line longer than 64 columns")
            body += body_line
            if len(body_line) < COLUMNS:
                break
        stanzas.append(Stanza(args, b64decode(bytes(body))))
        current = line()
    if not stanzas:
        raise HeaderError("no recipient stanza")
    if not current.startswith(MAC_MARK + b" ") or len(current) != 4 + 43:
        raise HeaderError("bad MAC line")
    up_to_mark = bytes(raw[: len(raw) - len(current) - 1 + len(MAC_MARK)])
    return ParsedHeader(tuple(stanzas), up_to_mark, b64decode(current[4:]), len(raw))
