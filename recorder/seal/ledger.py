"""Appending to the device-wide ledger: one signed, hash-chained entry per line.

The format (recorder/evidence/ledger.py, docs/FORMATS.md): JCS(entry) + "\n", `prev`
the hash of the previous line, `index` counting from 0. An entry counts only once its
line is fsync'd. Nothing here (or anywhere in the agent) truncates, rewrites or
deletes a line.
"""

import os
import threading
from pathlib import Path

from ..errors import StoreError
from ..evidence.canonical import canonical_bytes, sha256_hex
from ..evidence.documents import signed
from ..evidence.entries import LEDGER_VERSION
from ..evidence.ledger import GENESIS_PREV, LedgerText
from .identity import DeviceIdentity


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
            text = LedgerText.parse(self.path.read_bytes())
        except FileNotFoundError:
            return 0, GENESIS_PREV
        except OSError as exc:
            raise StoreError(f"cannot read ledger {self.path}: {exc.strerror}") from None
        if text.torn:
            raise StoreError(
                f"ledger {self.path} ends with an incomplete entry; "
                "it is kept as found: verify and offload this store before recording again"
            )
        if not text.lines:
            return 0, GENESIS_PREV
        *_, (_, _, last) = text.entries()
        if last is None or not isinstance(last.get("index"), int):
            raise StoreError(f"ledger {self.path}: last entry is unreadable")
        return last["index"] + 1, text.head

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
