"""A FUSE filesystem that serves a directory the way sysfs serves a power_supply device.

Every file reads as what its backing file holds *now* (each open reads it afresh, as a
sysfs attribute calls the driver's get_property on every read), reports a size of 4096
and mode 0444 as sysfs attributes do, and refuses writes. A backing file that holds
`!ENODATA` (or any errno name: `!EINVAL`, `!EIO`, `!EAGAIN`) fails its read with that
errno, as a driver whose get_property returns -ENODATA does: the reader under test meets
the real system call error, not a Python stand-in.

    python sysfs_fs.py BACKING MOUNTPOINT        # foreground, until killed
    with mounted(backing, mountpoint): ...       # from a test (root, /dev/fuse, mfusepy)
"""

import errno
import os
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

try:  # as tests import it, and as the daemon's script (its directory first on sys.path)
    from support.writeback_fs import is_mounted, missing_requirement  # noqa: F401  (the same requirements)
except ModuleNotFoundError:
    from writeback_fs import is_mounted, missing_requirement  # noqa: F401

READY_TIMEOUT_S = 10
SYSFS_SIZE = 4096


def _operations():
    import mfusepy

    class SysfsFS(mfusepy.Operations):
        use_ns = True

        def __init__(self, backing: str):
            self.backing = os.path.realpath(backing)

        def _full(self, path: str) -> str:
            return os.path.join(self.backing, path.lstrip("/"))

        def getattr(self, path, fh=None):
            try:
                st = os.lstat(self._full(path))
            except FileNotFoundError:
                raise mfusepy.FuseOSError(errno.ENOENT) from None
            attrs = {key: getattr(st, key) for key in ("st_nlink", "st_uid", "st_gid", "st_ino")}
            for key in ("st_atime", "st_mtime", "st_ctime"):
                attrs[key] = getattr(st, key + "_ns")
            if stat.S_ISDIR(st.st_mode):
                attrs.update(st_mode=stat.S_IFDIR | 0o755, st_size=0)
            else:
                attrs.update(st_mode=stat.S_IFREG | 0o444, st_size=SYSFS_SIZE)
            return attrs

        def readdir(self, path, fh):
            return [".", "..", *os.listdir(self._full(path))]

        def open(self, path, flags):
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise mfusepy.FuseOSError(errno.EACCES)
            if not os.path.exists(self._full(path)):
                raise mfusepy.FuseOSError(errno.ENOENT)
            return 0

        def read(self, path, size, offset, fh):
            with open(self._full(path), "rb") as f:
                data = f.read()
            if data.startswith(b"!E"):
                raise mfusepy.FuseOSError(getattr(errno, data[1:].strip().decode()))
            return data[offset:offset + size]

    return mfusepy, SysfsFS


def main(argv: list[str]) -> None:
    backing, mountpoint = argv
    mfusepy, operations = _operations()
    mfusepy.FUSE(operations(backing), mountpoint, foreground=True, nothreads=True, fsname="fakesysfs",
                 direct_io=True, attr_timeout=0, entry_timeout=0, negative_timeout=0, ro=True)


@contextmanager
def mounted(backing: Path, mountpoint: Path):
    """Serve `backing` on `mountpoint` until the block ends, then stop and unmount."""
    Path(mountpoint).mkdir(parents=True, exist_ok=True)
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, __file__, str(backing), str(mountpoint)],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not is_mounted(mountpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"the sysfs-like filesystem did not mount: {log.read().decode(errors='replace')}")
            time.sleep(0.02)
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)
        for command in (["fusermount3", "-u", "-z"], ["umount", "-l"]):
            if not is_mounted(mountpoint):
                break
            subprocess.run([*command, str(mountpoint)], capture_output=True, timeout=10)


if __name__ == "__main__":
    main(sys.argv[1:])
