"""Writing to the store: directories, durable (fsync'd) files, read-only sealed files.

Names and paths come from the format (recorder/evidence/layout.py); this module
adds the I/O: preparing a writable store and writing files so that they survive
a power cut.
"""

import os
from pathlib import Path

from ..errors import StoreError
from ..evidence.layout import StoreLayout

SEALED_MODE = 0o444


class Store(StoreLayout):
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

    def new_session_dir(self, session_id: str) -> Path:
        """Create a session's media folder (durably: its entry in media/ is fsync'd)."""
        path = self.session_dir(session_id)
        path.mkdir(exist_ok=True)
        fsync_dir(self.media_dir)
        return path


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
