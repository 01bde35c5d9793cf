"""Writing to the store: directories, durable (fsync'd) files, read-only sealed files.

Names and paths come from the format (recorder/evidence/layout.py); this module
adds the I/O: preparing a writable store and writing files so that they survive
a power cut.
"""

import os
from pathlib import Path

from ..durable import fsync_dir
from ..errors import StoreError
from ..evidence.layout import StoreLayout, partial_path

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


def write_sealed_file(path: Path, data: bytes, mode: int = SEALED_MODE) -> None:
    """Create a new read-only file durably; refuses to replace an existing one. (`mode`: a
    private key is 0600, the owner's alone, and never replaced either.)

    The bytes go to `<name>.partial` first and take the final name only once complete and
    on disk, so a write cut short (a full disk, a power cut) never leaves a file under a
    sealed name: it leaves a `.partial`, which the verifier reports and recovery finishes.
    A `.partial` left by an earlier attempt at the same bytes (a full disk, then room made)
    is completed; one holding anything else is refused."""
    if path.exists():
        raise FileExistsError(f"{path} exists: a sealed file is never replaced")
    partial = partial_path(path)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # read-only once whole
        done = 0
    except FileExistsError:
        done = _earlier_attempt(partial, data)
        fd = os.open(partial, os.O_WRONLY)
    try:
        view = memoryview(data)[done:]
        offset = done
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(partial, path)  # the directory is fsync'd by the caller, with the segment's rename


def _earlier_attempt(partial: Path, data: bytes) -> int:
    """Bytes of `data` an earlier, failed write already put in `partial`."""
    with open(partial, "rb") as f:
        found = f.read(len(data) + 1)
    if not data.startswith(found):
        raise FileExistsError(f"{partial} exists with other content: it is kept as found")
    return len(found)
