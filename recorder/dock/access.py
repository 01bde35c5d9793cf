"""Audited access to received footage (article 13): an export (or a view, an export to a
temporary place for playback) of one session, or one segment of it, from what the dock holds
for a device (`DOCK/devices/<id>/store/`).

Order, so that nothing leaves unlogged and nothing unchecked is handed out:
1. no named requester or no reason: refused before anything is read or written;
2. the request checked against the device's signed ledger — the segment entries whose
   signature verifies with the store's device key, whose id must be the device's — the
   manifest file's hash and signature, the file's size and hash as the ledger gives them, and,
   for an age-encrypted file, a decryption with the identity given (to nowhere) whose
   plaintext must hash as the manifest says; anything wrong: a `refused` entry, and no output;
3. a `granted` entry, appended and fsync'd before the first byte is written;
4. each segment and its signed manifest written as new files (O_EXCL) in a new directory,
   read back and hashed: a `done` entry with what was written, or a `failed` entry naming
   the files not to be used (they are left as written: nothing here deletes).
"""

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..durable import fsync_dir
from ..encryption import AgeError, Identity, KeyFormatError, NoIdentityMatch, decrypt
from ..errors import RecorderError, StoreError
from ..evidence.documents import signature_valid
from ..evidence.files import NotRegular, hash_regular, open_read_only, read_regular, safe_relative
from ..evidence.keys import device_id_for
from ..evidence.ledger import parse_object
from ..evidence.trusted import signed_history
from .audit import AuditError, AuditLog, named
from .keys import load_dock_keys

AGE_MAGIC = b"age-encryption.org/v1\n"
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
COPY_CHUNK = 1 << 20


class AccessRefused(RecorderError):
    """The access was refused or failed; the log says so (unless no requester or reason was named)."""


class _Refusal(Exception):
    """Why a request cannot be served: the text of its `refused` or `failed` entry."""


@dataclass(frozen=True)
class Request:
    requester: str
    reason: str
    device_id: str
    session_id: str
    seq: int | None = None  # None: the whole session
    action: str = "export"  # or "view"

    def subject(self) -> dict:
        return {"device_id": self.device_id, "session_id": self.session_id, "seq": self.seq}


@dataclass(frozen=True)
class _Segment:
    seq: int
    path: Path
    file_sha256: str  # of the file as stored (the ciphertext when encrypted)
    manifest: bytes  # the manifest file's bytes, hash-checked against the ledger
    encrypted: bool
    plaintext_sha256: str  # what the exported file must hash to
    plaintext_size: int
    final_chunk: bool  # an encrypted file ends with age's final chunk (false: sealed after a power cut)

    @property
    def name(self) -> str:
        return f"{self.seq:05d}.mp4"

    @property
    def manifest_name(self) -> str:
        return f"{self.seq:05d}.manifest.json"


def export(root: Path, request: Request, output: Path, identity_file: Path | None = None) -> dict:
    """Serve `request` into the new directory `output`; the `done` entry, or AccessRefused."""
    if named(request.requester) is None or named(request.reason) is None:
        raise AccessRefused("an export needs a named requester and a reason: nothing was logged or exported")
    keys = load_dock_keys(Path(root))
    log = AuditLog(keys.layout.audit_path, keys.private_key())
    subject = request.subject()

    def append(result: dict) -> tuple[dict, str]:
        return log.append(request.requester, request.reason, request.action, subject, result)

    output = Path(output).absolute()
    try:
        identities = _identities(identity_file)
        segments = _checked_segments(keys.layout.device_store(request.device_id), request, identities)
        _check_output(output)
    except _Refusal as why:
        _, ref = append({"status": "refused", "why": str(why)})
        raise AccessRefused(f"refused (audit entry {ref}): {why}") from None
    granted, _ = append({"status": "granted", "output": str(output), "segments": [s.seq for s in segments],
                         "identities": [str(i.recipient) for i in identities]})
    written = []
    try:
        output.mkdir(mode=0o700)
        for segment in segments:
            written.append(_write_segment(output, segment, identities))
            written.append(_write_new(output / segment.manifest_name, segment.manifest))
        fsync_dir(output)
    except (_Refusal, OSError, AgeError) as exc:
        why = str(exc) if isinstance(exc, _Refusal) else f"{exc.__class__.__name__}: {exc}"
        _, ref = append({"status": "failed", "grant": granted["index"], "why": why, "not_to_be_used": written})
        raise AccessRefused(f"failed after it was granted (audit entry {ref}): {why}; "
                            f"do not use what is in {output}") from None
    entry, _ = append({"status": "done", "grant": granted["index"], "output": str(output), "files": written,
                       "bytes": sum(f["size"] for f in written)})
    return entry


def _identities(identity_file: Path | None) -> list:
    if identity_file is None:
        return []
    try:
        return Identity.parse_file(Path(identity_file).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise _Refusal(f"cannot read the identity file: {exc.__class__.__name__}") from None
    except KeyFormatError as exc:
        raise _Refusal(f"the identity file holds no age identity: {exc}") from None


def _checked_segments(store: Path, request: Request, identities: list) -> list[_Segment]:
    for what, name in (("device", request.device_id), ("session", request.session_id)):
        if not isinstance(name, str) or not SAFE_NAME.match(name):
            raise _Refusal(f"{what} {name!r} is not a {what} id")
    try:
        signed = signed_history(store)
    except StoreError as exc:
        raise _Refusal(f"the dock holds nothing of device {request.device_id}: {exc}") from None
    if device_id_for(signed.key) != request.device_id:
        raise _Refusal(f"the store received as {request.device_id} holds the key of {device_id_for(signed.key)}")
    session = signed.history.sessions.get(request.session_id)
    if session is None:
        raise _Refusal(f"device {request.device_id} has no session {request.session_id} in its signed ledger")
    bodies = [b for b in session.segments if request.seq is None or b.get("seq") == request.seq]
    if not bodies:
        raise _Refusal(f"session {request.session_id} has no segment {request.seq}" if request.seq is not None
                       else f"session {request.session_id} has no segment")
    return [_checked_segment(store, signed.key, body, identities) for body in bodies]


def _checked_segment(store: Path, key, body: dict, identities: list) -> _Segment:
    try:
        seq, relative, manifest_relative = int(body["seq"]), body["path"], body["manifest"]
        size, sha256, manifest_sha256 = body["file_size"], body["file_sha256"], body["manifest_sha256"]
    except (KeyError, TypeError, ValueError):
        raise _Refusal("a segment entry of the ledger lacks its path, manifest or hashes") from None
    path, manifest_path = safe_relative(store, str(relative)), safe_relative(store, str(manifest_relative))
    if path is None or manifest_path is None:
        raise _Refusal(f"segment {seq}: the ledger names a file outside the store's media")
    try:
        manifest_bytes = read_regular(manifest_path)
        found = hash_regular(path)
    except (OSError, NotRegular) as exc:
        raise _Refusal(f"segment {seq}: {relative} or its manifest cannot be read: {exc}") from None
    if hashlib.sha256(manifest_bytes).hexdigest() != manifest_sha256:
        raise _Refusal(f"segment {seq}: the manifest's hash does not match the ledger")
    manifest = parse_object(manifest_bytes)
    if manifest is None or not signature_valid(key, manifest):
        raise _Refusal(f"segment {seq}: the manifest's signature does not verify with the device's key")
    if found != (size, sha256):
        raise _Refusal(f"segment {seq}: {relative} is {found[0]} bytes with SHA-256 {found[1][:16]}…, the ledger "
                       f"says {size} bytes, {str(sha256)[:16]}…: it is not the file the device sealed")
    with os.fdopen(open_read_only(path), "rb") as f:
        encrypted = "encryption" in manifest or f.read(len(AGE_MAGIC)) == AGE_MAGIC
    if not encrypted:
        return _Segment(seq, path, sha256, manifest_bytes, False, sha256, size, True)
    plaintext = _plaintext_expected(manifest)
    if plaintext is None:
        raise _Refusal(f"segment {seq} is encrypted, and its manifest gives no plaintext hash to check a "
                       "decryption against")
    encryption = manifest.get("encryption") if isinstance(manifest.get("encryption"), dict) else {}
    final_chunk = encryption.get("final_chunk", True) is not False
    segment = _Segment(seq, path, sha256, manifest_bytes, True, plaintext[1], plaintext[0], final_chunk)
    if not identities:
        raise _Refusal(f"segment {seq} is encrypted: the agency's age identity is needed (--identity)")
    digest = _Hashing()
    _decrypt(segment, identities, digest)  # to nowhere: the identity and the plaintext checked first
    if (digest.size, digest.hexdigest()) != (segment.plaintext_size, segment.plaintext_sha256):
        raise _Refusal(f"segment {seq}: the decrypted file is not the plaintext its manifest names")
    return segment


def _plaintext_expected(manifest: dict) -> tuple[int, str] | None:
    """(size, sha256) of an encrypted segment's plaintext MP4, from its manifest (format 5:
    `encryption.plaintext`, docs/ENCRYPTION.md). The one place to teach another form."""
    encryption = manifest.get("encryption")
    plaintext = encryption.get("plaintext") if isinstance(encryption, dict) else None
    if isinstance(plaintext, dict) and isinstance(plaintext.get("size"), int) and \
            isinstance(plaintext.get("sha256"), str):
        return plaintext["size"], plaintext["sha256"]
    return None


def _decrypt(segment: _Segment, identities: list, sink) -> None:
    try:
        with os.fdopen(open_read_only(segment.path), "rb") as source:
            result = decrypt(source, identities, sink, allow_torn=not segment.final_chunk)
    except NoIdentityMatch:
        raise _Refusal(f"segment {segment.seq}: the identity given does not open it (encrypted to other "
                       "recipients)") from None
    except AgeError as exc:
        raise _Refusal(f"segment {segment.seq}: it does not decrypt: {exc}") from None
    if result.torn is not None and result.torn.where != "chunk boundary":
        raise _Refusal(f"segment {segment.seq}: {result.torn.describe(result)}")


def _check_output(output: Path) -> None:
    if output.exists() or output.is_symlink():
        raise _Refusal(f"{output} exists already: an export goes to a new directory")
    if not output.parent.is_dir():
        raise _Refusal(f"{output.parent} is not a directory")


def _write_segment(output: Path, segment: _Segment, identities: list) -> dict:
    target = output / segment.name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        if segment.encrypted:
            _decrypt(segment, identities, sink)
        else:
            with os.fdopen(open_read_only(segment.path), "rb") as source:
                while chunk := source.read(COPY_CHUNK):
                    sink.write(chunk)
        _seal(sink)
    size, sha256 = hash_regular(target)  # what reached the disk, read back
    if (size, sha256) != (segment.plaintext_size, segment.plaintext_sha256):
        raise _Refusal(f"{target.name} as written hashes to {sha256[:16]}…, not {segment.plaintext_sha256[:16]}…")
    return {"name": target.name, "seq": segment.seq, "size": size, "sha256": sha256,
            "source_sha256": segment.file_sha256, "decrypted": segment.encrypted}


def _write_new(target: Path, data: bytes) -> dict:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        sink.write(data)
        _seal(sink)
    size, sha256 = hash_regular(target)
    if sha256 != hashlib.sha256(data).hexdigest():
        raise _Refusal(f"{target.name} as written does not hash as it was read")
    return {"name": target.name, "size": size, "sha256": sha256}


def _seal(sink) -> None:
    """Durable and read-only: the copy handed over is the copy checked."""
    sink.flush()
    os.fsync(sink.fileno())
    os.fchmod(sink.fileno(), 0o444)


class _Hashing:
    def __init__(self):
        self._digest, self.size = hashlib.sha256(), 0

    def write(self, data) -> int:
        self._digest.update(data)
        self.size += len(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


__all__ = ["AccessRefused", "AuditError", "Request", "export"]
