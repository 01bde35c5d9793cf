"""Layout of the evidence store on disk.

  STORE/device/device.key        private key (0600), never offloaded
  STORE/device/device.pub        public key (PEM), published for verifiers
  STORE/ledger/ledger.jsonl      device-wide append-only ledger
  STORE/media/<session>/<seq>.mp4            sealed segment (read-only)
  STORE/media/<session>/<seq>.mp4.partial    segment being written
  STORE/media/<session>/<seq>.manifest.json  signed manifest (read-only)

The store only ever grows: there is no function here (or anywhere in the
agent) that deletes or rewrites a sealed file.
"""

import os
from pathlib import Path

from ..errors import StoreError

SEALED_MODE = 0o444
PARTIAL_SUFFIX = ".partial"
MANIFEST_SUFFIX = ".manifest.json"


def segment_name(seq: int) -> str:
    return f"{seq:05d}.mp4"


class Store:
    def __init__(self, root):
        self.root = Path(root)
        self.device_dir = self.root / "device"
        self.ledger_path = self.root / "ledger" / "ledger.jsonl"
        self.media_dir = self.root / "media"

    def prepare(self) -> "Store":
        """Create the directories and prove the store is writable, or raise StoreError."""
        try:
            for directory in (self.device_dir, self.ledger_path.parent, self.media_dir):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {self.root} is not usable: {exc.strerror}") from None
        for directory in (self.device_dir, self.ledger_path.parent, self.media_dir):
            if not os.access(directory, os.W_OK | os.X_OK):
                raise StoreError(f"store {self.root} is not writable ({directory})")
        return self

    def session_dir(self, session_id: str) -> Path:
        path = self.media_dir / session_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def segment_path(self, session_id: str, seq: int) -> Path:
        return self.session_dir(session_id) / segment_name(seq)

    def relative(self, path: Path) -> str:
        return Path(path).relative_to(self.root).as_posix()


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + PARTIAL_SUFFIX)


def manifest_path(final: Path) -> Path:
    return final.with_name(final.name.removesuffix(".mp4") + MANIFEST_SUFFIX)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_sealed_file(path: Path, data: bytes) -> None:
    """Create a new read-only file durably; refuses to replace an existing one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SEALED_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
