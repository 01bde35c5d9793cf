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

    def entries(self):
        """(line number from 1, raw line, parsed object or None) for every complete line."""
        for number, line in enumerate(self.lines, start=1):
            yield number, line, parse_object(line)
