"""What every archive is: the record of a stored object, the interface, the error."""

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Protocol

from ..errors import ConfigError, RecorderError


class ArchiveError(RecorderError):
    """An object could not be stored, found, read or kept as asked; nothing was changed
    that the message does not name."""


class ArchiveConfigError(ArchiveError, ConfigError):
    """The dock's archive settings are invalid (caught as either)."""


@dataclass(frozen=True)
class Stored:
    sha256: str  # hex, lowercase
    size: int
    location: str  # "file:objects/sha256/ab/<sha256>" (relative to the root) or "s3://BUCKET/KEY?versionId=V"
    retain_until: str | None  # RFC 3339 UTC; None: a local store, which has no retention clock
    locked: bool  # the store itself enforces it (Object Lock COMPLIANCE; the immutable flag took)

    def record(self) -> dict:
        """JSON-ready, for receipts."""
        return {"sha256": self.sha256, "size": self.size, "location": self.location,
                "retain_until": self.retain_until, "locked": self.locked}


class Archive(Protocol):
    description: str  # one line for logs and reports, no secrets

    def find(self, sha256: str) -> Stored | None: ...

    def put(self, sha256: str, source: Path, footage_class: str, recorded_until: datetime,
            checked: bool = False) -> Stored: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def extend(self, sha256: str, retain_until: datetime) -> Stored: ...

    def close(self) -> None: ...


def check_sha256(sha256: str) -> str:
    """A digest as the archive names objects by: 64 lowercase hex digits."""
    if not (isinstance(sha256, str) and len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)):
        raise ArchiveError(f"not a lowercase hex SHA-256: {sha256!r}")
    return sha256


def rfc3339(moment: datetime) -> str:
    """Whole seconds, UTC: '2027-06-03T12:00:00Z'."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
