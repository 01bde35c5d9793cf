"""The age v1 payload (age-encryption.org/v1, "Payload"): a 16-byte nonce, then STREAM —
ChaCha20-Poly1305 over 64 KiB chunks under HKDF(file key, nonce, "payload"), each chunk's
nonce its 11-byte big-endian counter and a last byte 0x01 on the final chunk only.

`StreamEncryptor` (the device): only whole chunks leave it, and a full chunk leaves only once
it is known not to be the last (the final chunk may be short or full, never empty unless the
whole payload is). It holds at most 64 KiB of plaintext; `align` closes that chunk early with
filler at a fragment boundary. The file key lives only inside it, in memory.

`decrypt` (the dock, a clerk): streaming, one chunk of lookahead; every byte it writes was
authenticated. A file cut short is a `Torn` result naming where it ends, raised as
TornFileError unless the caller allows torn files — never a silent short read."""

import hashlib
import os
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .alignment import FREE_BOX_HEADER, free_box
from .errors import PayloadError, TornFileError
from .header import HeaderIncomplete, hkdf, new_header, read_header
from .keys import Identity, Recipient

CHUNK = 64 * 1024
TAG = 16
SEALED_CHUNK = CHUNK + TAG
NONCE_SIZE = 16
_MAX_COUNTER = 1 << 88


def _chunk_nonce(counter: int, final: bool) -> bytes:
    if counter >= _MAX_COUNTER:
        raise PayloadError("chunk counter overflow")
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _payload_aead(file_key: bytes, nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(hkdf(file_key, nonce, b"payload"))


class StreamEncryptor:
    """Encrypts to a recipient (or several: any one's identity opens the file) as it is
    written; `sink` gets the header at once and then whole chunks only. The sink is the
    caller's (flush and fsync it; it is not closed here)."""

    def __init__(self, sink, recipients: Recipient | list[Recipient]):
        self.recipients = [recipients] if isinstance(recipients, Recipient) else list(recipients)
        file_key, header = new_header(self.recipients)
        nonce = os.urandom(NONCE_SIZE)  # fresh per file
        self._aead = _payload_aead(file_key, nonce)
        del file_key  # the payload key inside the AEAD object is all that is kept
        self._sink = sink
        self._pending = bytearray()
        self._counter = 0
        self._ciphertext_hash = hashlib.sha256()
        self._plaintext_hash = hashlib.sha256()
        self._owed_filler: Callable[[int], bytes] | None = None
        self.header_size = len(header) + NONCE_SIZE  # where chunk 0 starts
        self.plaintext_size = 0
        self.ciphertext_size = 0
        self.closed = False
        self._emit(header + nonce)

    # -- what is on the sink -------------------------------------------------------------
    @property
    def chunks(self) -> int:
        """Chunks handed to the sink."""
        return self._counter

    @property
    def pending_size(self) -> int:
        """Plaintext accepted but not yet in a chunk on the sink (at most 64 KiB): what a
        power cut takes on top of what the sink had not synced."""
        return len(self._pending)

    def ciphertext_sha256(self) -> str:
        """SHA-256 of every byte handed to the sink so far (header included)."""
        return self._ciphertext_hash.hexdigest()

    def plaintext_sha256(self) -> str:
        """SHA-256 of every plaintext byte accepted so far (filler included)."""
        return self._plaintext_hash.hexdigest()

    # -- writing ---------------------------------------------------------------------------
    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed StreamEncryptor")
        view = memoryview(data).cast("B")
        size = len(view)
        self._plaintext_hash.update(view)
        self.plaintext_size += size
        while view:
            if len(self._pending) == CHUNK:  # more follows: the full chunk is not the last
                self._seal_pending(final=False)
            if not self._pending and len(view) > CHUNK:  # straight from the caller's buffer
                self._seal(view[:CHUNK], final=False)
                view = view[CHUNK:]
                continue
            room = CHUNK - len(self._pending)
            self._pending += view[:room]
            view = view[room:]
        if size:
            self._owed_filler = None
        return size

    def align(self, filler: Callable[[int], bytes] = free_box, smallest: int = FREE_BOX_HEADER) -> int:
        """Fill the open chunk with `filler(n)` (n >= smallest) up to the next chunk boundary
        and hand it to the sink, so that everything written so far is in whole chunks. For a
        boundary inside a stream that goes on (between MP4 fragments: the filler is a `free`
        box). Returns n, 0 when already aligned."""
        if not self._pending:
            return 0
        gap = CHUNK - len(self._pending)
        if 0 < gap < smallest:
            gap += CHUNK
        if gap:
            padding = filler(gap)
            if len(padding) != gap:
                raise ValueError(f"filler gave {len(padding)} bytes, not {gap}")
            self.write(padding)
        self._seal_pending(final=False)
        self._owed_filler = lambda: filler(smallest)
        return gap

    def close(self) -> None:
        """Write the final chunk. After `align` with nothing written since, the final chunk
        is the smallest filler (a final chunk may not be empty)."""
        if self.closed:
            return
        if self._owed_filler is not None and not self._pending:
            padding = self._owed_filler()
            self._plaintext_hash.update(padding)
            self.plaintext_size += len(padding)
            self._pending += padding
        self._seal_pending(final=True)
        self.closed = True

    def _seal_pending(self, final: bool) -> None:
        self._seal(self._pending, final)
        self._pending = bytearray()

    def _seal(self, plaintext, final: bool) -> None:
        self._emit(self._aead.encrypt(_chunk_nonce(self._counter, final), plaintext, None))
        self._counter += 1

    def _emit(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._sink.write(view)  # a raw file may take part; None from some file-likes: all
            view = view[len(view) if written is None else written :]
        self._ciphertext_hash.update(data)
        self.ciphertext_size += len(data)

    def __repr__(self) -> str:
        recipients = ", ".join(map(str, self.recipients))
        return (f"StreamEncryptor(recipients={recipients}, plaintext_size={self.plaintext_size}, "
                f"chunks={self._counter}, closed={self.closed})")


@dataclass(frozen=True)
class Torn:
    """Where a file cut short ends."""

    where: str  # "header", "nonce", "chunk boundary" (after a whole non-final chunk), "mid-chunk"
    unreadable_bytes: int  # bytes after the last authenticated part, not decrypted

    def describe(self, result: "Decrypted") -> str:
        if self.where == "header":
            return f"the file ends inside the age header ({self.unreadable_bytes} bytes): nothing to decrypt"
        if self.where == "nonce":
            return "the file ends inside the payload nonce: nothing to decrypt"
        end = (f"the file ends after chunk {result.chunks - 1}" if result.chunks
               else "the file ends before its first chunk")
        if self.where == "mid-chunk":
            end += (f", then {self.unreadable_bytes} bytes that do not authenticate "
                    "(a chunk cut short, or an altered final chunk)")
        return (f"{end}: the final chunk is missing; {result.plaintext_size} bytes "
                f"({result.chunks} whole chunks) decrypted and authenticated")


@dataclass(frozen=True)
class Decrypted:
    plaintext_size: int  # bytes written to the sink, every one authenticated
    chunks: int  # chunks decrypted
    authenticated_size: int  # ciphertext bytes those cover: header, nonce and the chunks
    torn: Torn | None  # None: the final chunk was there and verified

    @property
    def complete(self) -> bool:
        return self.torn is None


def _read_exact(source, size: int) -> bytes:
    parts, missing = [], size
    while missing:
        part = source.read(missing)
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def _open(aead, counter: int, sealed: bytes, final: bool) -> bytes | None:
    try:
        return aead.decrypt(_chunk_nonce(counter, final), sealed, None)
    except InvalidTag:
        return None


def decrypt(source, identities, sink, allow_torn: bool = False) -> Decrypted:
    """Decrypt an age v1 file from `source` into `sink` with the first identity that opens
    it. Raises AgeError for anything altered or not for these identities; a file cut short
    is TornFileError, or with `allow_torn` a result whose `torn` says where it ends. Chunks
    before an error are already in the sink (each authenticated): on an error, discard it."""
    identities = [identities] if isinstance(identities, Identity) else list(identities)

    def torn(where: str, unreadable: int, plaintext: int = 0, chunks: int = 0, size: int = 0) -> Decrypted:
        result = Decrypted(plaintext, chunks, size, Torn(where, unreadable))
        if not allow_torn:
            raise TornFileError(result)
        return result

    try:
        header = read_header(source)
    except HeaderIncomplete as cut:
        return torn("header", cut.size)
    file_key = header.file_key(identities)
    nonce = _read_exact(source, NONCE_SIZE)
    if len(nonce) < NONCE_SIZE:
        return torn("nonce", len(nonce), size=header.size)
    aead = _payload_aead(file_key, nonce)
    del file_key
    counter = plaintext_size = 0
    authenticated = header.size + NONCE_SIZE
    current = _read_exact(source, SEALED_CHUNK)
    while True:
        following = _read_exact(source, SEALED_CHUNK) if len(current) == SEALED_CHUNK else b""
        if following:  # not the last piece: a whole non-final chunk, nothing else
            plain = _open(aead, counter, current, final=False)
            if plain is None:
                if _open(aead, counter, current, final=True) is not None:
                    raise PayloadError(f"chunk {counter} is marked final but data follows it")
                raise PayloadError(f"chunk {counter} does not authenticate (altered, or out of order)")
        elif not current:  # the file ends at a chunk boundary, after a non-final chunk
            return torn("chunk boundary", 0, plaintext_size, counter, authenticated)
        else:
            plain = _open(aead, counter, current, final=True)
            if plain is not None:
                if not plain and counter:
                    raise PayloadError("an empty final chunk after other chunks")
                sink.write(plain)
                return Decrypted(plaintext_size + len(plain), counter + 1, authenticated + len(current), None)
            plain = _open(aead, counter, current, final=False) if len(current) == SEALED_CHUNK else None
            if plain is None:
                return torn("mid-chunk", len(current), plaintext_size, counter, authenticated)
        sink.write(plain)
        plaintext_size += len(plain)
        authenticated += len(current)
        counter += 1
        current = following


def encrypt_bytes(data: bytes, recipients: Recipient | list[Recipient]) -> bytes:
    import io

    sink = io.BytesIO()
    encryptor = StreamEncryptor(sink, recipients)
    encryptor.write(data)
    encryptor.close()
    return sink.getvalue()


def decrypt_bytes(data: bytes, identities, allow_torn: bool = False) -> tuple[bytes, Decrypted]:
    import io

    sink = io.BytesIO()
    result = decrypt(io.BytesIO(data), identities, sink, allow_torn)
    return sink.getvalue(), result
