"""Appending to the device-wide ledger: one signed, hash-chained entry per line.

The format (recorder/evidence/ledger.py, docs/FORMATS.md): JCS(entry) + "\n", `prev`
the hash of the previous line, `index` counting from 0. An entry counts only once its
line is fsync'd. Nothing here (or anywhere in the agent) truncates, rewrites or
deletes a line.

Two processes may append: the agent, and the offload that records a release under a dock
receipt (recorder/offload). Each append holds an exclusive flock on the ledger and, when
the file is not the size its writer last left it, reads the head again first, so the two
never fork the chain.
"""

import errno
import fcntl
import os
import threading
from pathlib import Path

from ..errors import StoreError
from ..evidence.canonical import canonical_bytes, sha256_hex
from ..evidence.documents import signed
from ..evidence import entries
from ..evidence.entries import LEDGER_VERSION
from ..evidence.keys import public_key_pem
from ..evidence.ledger import GENESIS_PREV, LedgerText, entry_hash, parse_object
from .identity import DeviceIdentity


class Ledger:
    def __init__(self, path: Path, identity: DeviceIdentity):
        self.path = Path(path)
        self.identity = identity
        self._lock = threading.Lock()
        self.torn: tuple[int, bytes] | None = None  # (line number, bytes) of a torn last line
        self._torn_ended = False  # its newline was written by a start cut before its repair entry
        self._size = 0  # the file's size when this writer last read or appended to it
        self.next_index, self.head = self._read_head()
        # After a failed or short write the file may end in a torn line: appending more
        # would glue an entry onto it. Stop; the verifier reports the torn line as found.
        self.failed: str | None = None

    def _read_head(self):
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0, GENESIS_PREV
        except OSError as exc:
            raise StoreError(f"cannot read ledger {self.path}: {exc.strerror}") from None
        self._size = len(data)
        text = LedgerText.parse(data)
        if text.torn:
            self.torn = (len(text.lines) + 1, text.torn)
        elif text.lines and not _is_entry(parse_object(text.lines[-1])):
            # ended with its newline, and the power went before the repair entry was written
            self.torn, self._torn_ended = (len(text.lines), text.lines[-1]), True
        for line in reversed(text.lines):  # the last complete entry (a line set aside is none)
            entry = parse_object(line)
            if _is_entry(entry):
                return entry["index"] + 1, entry_hash(line)
        if len(text.lines) > (1 if self._torn_ended else 0):
            raise StoreError(f"ledger {self.path}: no readable entry in {len(text.lines)} line(s)")
        return 0, GENESIS_PREV

    @property
    def head_ref(self) -> str | None:
        """The last entry as INDEX:SHA256 (None before the first)."""
        return None if self.next_index == 0 else f"{self.next_index - 1}:{self.head}"

    def set_aside_torn_line(self) -> dict | None:
        """End a torn last line with a newline, durably; returns the `repair` body that must
        be the next entry (None when there is nothing torn)."""
        if self.torn is None:
            return None
        number, data = self.torn
        if not self._torn_ended:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                if os.write(fd, b"\n") != 1:
                    raise OSError(28, "short write to ledger (storage full?)")
                os.fsync(fd)
                self._size += 1
            except OSError as exc:
                raise StoreError(f"cannot set the ledger's torn line aside: {exc.strerror or exc}") from None
            finally:
                os.close(fd)
        self.torn, self._torn_ended = None, False
        return entries.repair(number, len(data), sha256_hex(data))

    def opening_entries(self, agent_version: str) -> list[tuple[str, dict]]:
        """What a writer must append before anything else: `device_init` in an empty ledger,
        and the `repair` entry naming a torn last line (set aside now)."""
        repair = self.set_aside_torn_line()
        first = []
        if self.next_index == 0:
            first.append(("device_init", entries.device_init(
                public_key_pem(self.identity.public_key).decode("ascii"), agent_version)))
        if repair is not None:
            first.append(("repair", repair))
        return first

    def append(self, entry_type: str, body: dict, at: dict) -> dict:
        """Sign, chain and durably append one entry; returns the entry."""
        with self._lock:
            if self.failed:
                raise StoreError(f"ledger is closed after a failed write: {self.failed}")
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released by the close
                entry, line = self._append_locked(fd, entry_type, body, at)
            finally:
                os.close(fd)
            self.next_index += 1
            self.head = sha256_hex(line)
            self._size += len(line) + 1
            return entry

    def _append_locked(self, fd: int, entry_type: str, body: dict, at: dict) -> tuple[dict, bytes]:
        size = os.fstat(fd).st_size
        if size != self._size:  # another process appended since: chain onto its entries
            self.next_index, self.head = self._read_head()
        if self.torn is not None:
            raise StoreError("the ledger ends in a torn line: set it aside first")
        entry = signed(
            self.identity,
            {
                "v": LEDGER_VERSION,
                "index": self.next_index,
                "prev": self.head,
                "device_id": self.identity.device_id,
                "type": entry_type,
                "at": at,
                "body": body,
            },
        )
        line = canonical_bytes(entry)
        try:
            written = os.write(fd, line + b"\n")
            if written != len(line) + 1:
                raise OSError(errno.ENOSPC, "short write to ledger (storage full?)")
            os.fsync(fd)
        except OSError as exc:
            if exc.errno == errno.ENOSPC and os.fstat(fd).st_size == size:
                raise  # not a byte written: the ledger is intact, the entry may be tried again
            self.failed = f"entry {self.next_index}: {exc.strerror or exc}"
            raise StoreError(f"ledger write failed at {self.failed}") from None
        return entry, line


def _is_entry(entry) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("index"), int) and bool(entry.get("type"))
