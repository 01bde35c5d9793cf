"""The dock's access log (article 13): who exported or viewed which footage, why and when
(docs/DOCK.md, "Audited access").

`DOCK/audit/audit.jsonl`, one entry per line, built as the device's ledger is: JCS(entry) +
"\\n", `prev` the SHA-256 of the previous line without its newline (64 zeros first), `index`
0, 1, 2 … and `sig` ECDSA P-256 with SHA-256 (DER, base64) by the dock's key over the
canonical entry without `sig`. Members:

    {"v": 1, "index", "prev", "at" (UTC, RFC 3339 with µs), "requester", "reason",
     "action" ("export", "view", "repair"), "subject" ({"device_id", "session_id", "seq"}, or
     for a repair {"line", "size", "sha256"}), "result" ({"status": "granted" | "refused" |
     "done" | "failed", …}), "sig"}

The file is only ever opened to append (O_APPEND) or to read. Appends hold an exclusive
flock from reading the head to the fsync, so two processes never chain to the same entry.
A line a power cut tore is never rewritten: the next append ends it with a newline and
writes a signed `repair` entry naming it (its line number, size and SHA-256), chained from
the last complete entry, as the device does with its ledger (seal/ledger.py).
"""

import errno
import fcntl
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..durable import fsync_dir
from ..errors import RecorderError
from ..evidence.canonical import canonical_bytes, sha256_hex
from ..evidence.documents import ecdsa_signature_valid, ecdsa_signed
from ..evidence.ledger import GENESIS_PREV, LedgerText, entry_hash, head_ref, parse_object

AUDIT_VERSION = 1
ACCESS_ACTIONS = ("export", "view")
REPAIR = "repair"
STATUSES = ("granted", "refused", "done", "failed")
MEMBERS = {"v": int, "index": int, "prev": str, "at": str, "requester": str, "reason": str, "action": str,
           "subject": dict, "result": dict, "sig": str}
SIGNATURE_FIELD = "sig"
SYSTEM_REQUESTER = "recorder dock"  # the requester of the entries the dock writes itself (repairs)
HEAD_WINDOW = 1 << 16


class AuditError(RecorderError):
    """The access log cannot be written (or the request cannot be logged): nothing is released."""


def utc_now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sign_entry(private_key, entry: dict) -> dict:
    return ecdsa_signed(private_key, entry, SIGNATURE_FIELD)


def signature_ok(public_key, entry: dict) -> bool:
    return ecdsa_signature_valid(public_key, entry, SIGNATURE_FIELD)


def is_entry(value) -> bool:
    """A line that takes a place in the chain: an object with an integer index and an action."""
    return (isinstance(value, dict) and isinstance(value.get("index"), int) and not isinstance(value["index"], bool)
            and isinstance(value.get("action"), str))


def named(text) -> str | None:
    """A requester or a reason as given, or None when it says nothing."""
    return text.strip() if isinstance(text, str) and text.strip() else None


@dataclass(frozen=True)
class TornLine:
    line: int  # its line number in the file, from 1
    data: bytes  # its bytes, without a newline
    ended: bool  # a newline already follows it (a cut after the newline, before the repair entry)


@dataclass(frozen=True)
class Head:
    next_index: int
    prev: str  # what the next entry's `prev` holds
    torn: TornLine | None


class AuditLog:
    """Appends signed, chained entries to one dock's access log."""

    def __init__(self, path: Path, private_key):
        self.path = Path(path)
        self._key = private_key

    def __repr__(self):  # never the key
        return f"AuditLog({self.path})"

    def append(self, requester: str, reason: str, action: str, subject: dict, result: dict) -> tuple[dict, str]:
        """Sign, chain and durably append one entry; (entry, its INDEX:SHA256)."""
        if named(requester) is None or named(reason) is None:
            raise AuditError("an access needs a named requester and a reason (nothing was logged)")
        if action not in ACCESS_ACTIONS or result.get("status") not in STATUSES:
            raise AuditError(f"not an access to log: {action!r}, {result.get('status')!r}")
        fd = self._open_for_append()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by close
            head = self._read_head()
            if head.torn is not None:
                head = self._set_aside(fd, head)
            entry = {"v": AUDIT_VERSION, "index": head.next_index, "prev": head.prev, "at": utc_now_text(),
                     "requester": named(requester), "reason": named(reason), "action": action,
                     "subject": subject, "result": result}
            return self._write(fd, entry)
        finally:
            os.close(fd)

    def _open_for_append(self) -> int:
        directory = self.path.parent
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fsync_dir(directory.parent)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise AuditError(f"cannot open the access log {self.path}: {exc.strerror}") from None
        fsync_dir(directory)  # the new log's name is durable before its first entry counts
        return fd

    def _read_head(self) -> Head:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return read_head(fd)
        finally:
            os.close(fd)

    def _set_aside(self, fd: int, head: Head) -> Head:
        """End a torn last line with a newline (appended: nothing is rewritten) and name it in a
        signed repair entry; the entry after it chains from the repair."""
        torn = head.torn
        if not torn.ended:
            _write_all(fd, b"\n", "ending a torn line")
        repair = {"v": AUDIT_VERSION, "index": head.next_index, "prev": head.prev, "at": utc_now_text(),
                  "requester": SYSTEM_REQUESTER, "reason": "a line cut while being appended, set aside",
                  "action": REPAIR, "subject": {"line": torn.line, "size": len(torn.data),
                                                "sha256": sha256_hex(torn.data)},
                  "result": {"status": "done"}}
        entry, _ = self._write(fd, repair)
        line = canonical_bytes(entry)
        return Head(entry["index"] + 1, sha256_hex(line), None)

    def _write(self, fd: int, entry: dict) -> tuple[dict, str]:
        entry = sign_entry(self._key, entry)
        line = canonical_bytes(entry)
        _write_all(fd, line + b"\n", f"entry {entry['index']}")
        return entry, head_ref(entry["index"], sha256_hex(line))


def read_head(fd: int) -> Head:
    """The next index and `prev` from a read of the log's tail (a wider one when its last
    lines are not entries), and a torn last line if there is one."""
    size = os.fstat(fd).st_size
    window = HEAD_WINDOW
    while True:
        start = max(0, size - window)
        text = LedgerText.parse(os.pread(fd, size - start, start))
        lines = text.lines if start == 0 else text.lines[1:]  # the first may be a line's tail
        if start > 0 and not text.lines:
            window *= 2  # not one newline in the window: a very long torn line
            continue
        torn = None
        if text.torn:
            torn = (text.torn, False)
        elif lines and not is_entry(parse_object(lines[-1])):
            torn = (lines[-1], True)
        for line in reversed(lines):
            entry = parse_object(line)
            if is_entry(entry):
                return Head(entry["index"] + 1, entry_hash(line), _torn_line(fd, size, torn))
        if start == 0:
            if len(lines) > (1 if torn and torn[1] else 0):
                raise AuditError(f"the access log has no readable entry in its {len(lines)} line(s): "
                                 "`recorder dock audit` says what is wrong (nothing is released meanwhile)")
            return Head(0, GENESIS_PREV, _torn_line(fd, size, torn))
        window *= 2


def _torn_line(fd: int, size: int, torn) -> TornLine | None:
    if torn is None:
        return None
    data, ended = torn
    newlines, offset = 0, 0
    while offset < size:  # its line number: the newlines before it (rare: read it all)
        chunk = os.pread(fd, min(1 << 20, size - offset), offset)
        newlines += chunk.count(b"\n")
        offset += len(chunk)
    return TornLine(newlines if ended else newlines + 1, data, ended)


def _write_all(fd: int, data: bytes, what: str) -> None:
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.ENOSPC, "short write (storage full?)")
        os.fsync(fd)
    except OSError as exc:
        # A partial line is left as a torn line: the next append sets it aside.
        raise AuditError(f"the access log could not be written ({what}): {exc.strerror or exc}") from None
