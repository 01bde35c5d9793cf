"""Room to seal on a full disk: a file of zeros held in the media folder's filesystem.

The storage monitor stops recording at a floor well above a full disk (monitors/storage.py).
If the disk fills anyway (the reserve disabled, another writer, a bitrate spike), the muxer
meets ENOSPC with a segment open: sealing what is on disk then needs a few hundred KiB — the
torn fragment kept aside, a manifest, ledger entries — on a disk with none. The ballast is
that room, set aside in advance: `release()` empties it (it holds no evidence, only zeros)
and `restore()` fills it again once space is back. It is the one file the agent empties.
"""

import logging
import os
from pathlib import Path

from ..evidence.layout import BALLAST_NAME
from .disk import fsync_dir

log = logging.getLogger(__name__)

BALLAST_BYTES = 4 * 1024 * 1024  # a torn 1 s fragment at ~25 Mbit/s, the manifests and entries


class Ballast:
    def __init__(self, media_dir: Path, size: int = BALLAST_BYTES):
        """The ballast lives in STORE/media (docs/FORMATS.md, "Store layout")."""
        self.path = Path(media_dir) / BALLAST_NAME
        self.size = size

    @property
    def held(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def restore(self) -> bool:
        """Fill the ballast to its size, durably; False (and nothing kept half-done counted
        on) when the disk has no room for it now."""
        if self.held >= self.size:
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # real blocks, not a sparse file
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self.path.parent)
        except OSError as exc:
            log.warning("no room for the sealing ballast (%s): a full disk may leave a segment unsealed "
                        "until space is freed", exc.strerror)
            return False
        return True

    def release(self) -> int:
        """Give the ballast's space back to the filesystem; returns the bytes freed."""
        held = self.held
        if held:
            os.truncate(self.path, 0)
            log.warning("the disk is full: the sealing ballast (%d KiB) released to seal what is recorded",
                        held // 1024)
        return held
