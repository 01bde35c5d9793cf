"""Reading the ledger: lines, the chain's hashes, the head (docs/FORMATS.md, "Ledger").

One entry per line: JCS(entry) + "\n". `prev` is the SHA-256 of the previous line
without its newline (64 zeros for the first entry). A last line without a newline
was cut while being written (a torn line) and was never a committed entry.
The one reader shared by `recorder status`, the verifier and the agent's start-up.
"""

import json
from dataclasses import dataclass

from .canonical import sha256_hex

GENESIS_PREV = "0" * 64


def entry_hash(line: bytes) -> str:
    return sha256_hex(line.rstrip(b"\n"))


def parse_object(data: bytes) -> dict | None:
    """The JSON object a line or file holds, or None when it holds anything else."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # invalid UTF-8 included; absurd nesting
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class LedgerText:
    lines: list[bytes]  # complete lines, without their newline
    torn: bytes  # bytes after the last newline (b"" when the ledger ends cleanly)

    @classmethod
    def parse(cls, data: bytes) -> "LedgerText":
        lines = data.split(b"\n")
        torn = lines.pop()
        return cls(lines, torn)

    @property
    def head(self) -> str:
        """Hash of the last complete line: what the next entry's `prev` must hold."""
        return entry_hash(self.lines[-1]) if self.lines else GENESIS_PREV

    @property
    def head_ref(self) -> str | None:
        """The last complete entry as `INDEX:SHA256` (what a dock receipt witnesses and
        `recorder verify --head` takes), or None for an empty ledger. The index is the
        entry's own `index` member, or its position when that is unreadable."""
        if not self.lines:
            return None
        entry = parse_object(self.lines[-1])
        index = entry.get("index") if entry is not None else None
        if not isinstance(index, int) or isinstance(index, bool):
            index = len(self.lines) - 1
        return head_ref(index, self.head)

    def entries(self):
        """(line number from 1, raw line, parsed object or None) for every complete line."""
        for number, line in enumerate(self.lines, start=1):
            yield number, line, parse_object(line)


def last_entry(path, window: int = 1 << 16) -> dict | None:
    """The last complete entry of a ledger file, from a read of its tail only (None when it
    has none, or none in the last `window` bytes)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - window))
            tail = f.read()
    except OSError:
        return None
    for line in reversed(LedgerText.parse(tail).lines):
        entry = parse_object(line)
        if entry is not None:
            return entry
    return None


def head_ref(index: int, sha256: str) -> str:
    return f"{index}:{sha256}"


def parse_head_ref(text: str) -> tuple[int, str]:
    """`INDEX:SHA256` -> (index, sha256); ValueError naming what is wrong."""
    index, sep, digest = text.strip().partition(":")
    if not sep or not index.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{text!r} is not INDEX:SHA256 (a ledger index and 64 lowercase hex digits)")
    return int(index), digest
