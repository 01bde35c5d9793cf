"""The device-wide append-only ledger: one signed, hash-chained entry per line.

Each line is JCS(entry) followed by "\n". `prev` is the SHA-256 of the previous
line without its newline (64 zeros for the first entry), `index` counts from 0.
An entry counts only once its line is fsync'd. Nothing in this module (or the
agent) ever truncates, rewrites or deletes a line.
"""

import json
import os
import threading
from pathlib import Path

from ..errors import StoreError
from .canonical import canonical_bytes, sha256_hex
from .documents import signed
from .keys import DeviceIdentity

LEDGER_VERSION = 1
GENESIS_PREV = "0" * 64


def entry_hash(line: bytes) -> str:
    return sha256_hex(line.rstrip(b"\n"))


class Ledger:
    def __init__(self, path: Path, identity: DeviceIdentity):
        self.path = Path(path)
        self.identity = identity
        self._lock = threading.Lock()
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
        if not data:
            return 0, GENESIS_PREV
        if not data.endswith(b"\n"):
            raise StoreError(
                f"ledger {self.path} ends with an incomplete entry; "
                "it is kept as found: verify and offload this store before recording again"
            )
        last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            index = json.loads(last)["index"]
        except (ValueError, KeyError, TypeError):
            raise StoreError(f"ledger {self.path}: last entry is unreadable") from None
        return index + 1, entry_hash(last)

    def append(self, entry_type: str, body: dict, at: dict) -> dict:
        """Sign, chain and durably append one entry; returns the entry."""
        with self._lock:
            if self.failed:
                raise StoreError(f"ledger is closed after a failed write: {self.failed}")
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
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, line + b"\n")
                if written != len(line) + 1:
                    raise OSError(28, "short write to ledger (storage full?)")
                os.fsync(fd)
            except OSError as exc:
                self.failed = f"entry {self.next_index}: {exc.strerror or exc}"
                raise StoreError(f"ledger write failed at {self.failed}") from None
            finally:
                os.close(fd)
            self.next_index += 1
            self.head = sha256_hex(line)
            return entry


def read_entries(path: Path):
    """Yield (line_number, raw_line_bytes) for every line, torn tail included."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            yield number, raw
