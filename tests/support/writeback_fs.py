"""A FUSE filesystem that forgets every write nobody fsync'd: a power cut on demand.

It passes a backing directory through, but keeps the data written to each file in
memory, as dirty 4 KiB pages (the page cache of a disk that never writes back on its
own), and writes a file's pages to the backing file only when that file is fsync'd
or fdatasync'd (FUSE's fsync op, whichever descriptor asks: the recorder's fragment
syncer uses a read-only one). close() (FUSE flush/release) persists nothing. Reads
see the dirty pages and sizes include unsynced appends, so the program under test
sees an ordinary filesystem. SIGKILL of this daemon is the power cut: what is in the
backing directory afterwards is exactly what was fsync'd.

What it models and what it does not (docs/TESTING-POWER-CUT.md):
- data is written back only when asked (the worst case of a write-back page cache;
  a real kernel also writes back after ~5-30 s, which can only make things better);
- metadata operations (create, mkdir, rename, chmod, truncate to a smaller size,
  utimens) go straight to the backing directory: a filesystem whose metadata journal
  commits at once. Real metadata is durable only after fsync of the directory or a
  journal commit; that is not modelled (optimistic for renames).
- no disk cache, no SD-card FTL, no torn sectors beyond what a kill in the middle of
  a sync leaves (pages are written to the backing file one by one).

Single-threaded (`-s`): one request at a time, so no locks. `direct_io` keeps the
kernel from caching file data on its side and zero attribute/entry timeouts make it
ask this daemon for sizes, so the daemon's memory is the only cache there is.

    python writeback_fs.py BACKING MOUNTPOINT       # foreground, until killed
    with mounted(backing, mountpoint) as fs: ...    # from a test; fs.cut() = power cut
"""

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PAGE = 4096
READY_TIMEOUT_S = 10


# ---------------------------------------------------------------------------- the daemon


class _Dirty:
    """A file's unsynced state: its size as programs see it and its dirty pages."""

    def __init__(self, size: int):
        self.size = size
        self.pages: dict[int, bytearray] = {}


class _Handle:
    def __init__(self, fd: int, key: tuple, append: bool):
        self.fd, self.key, self.append = fd, key, append


def _operations():
    import mfusepy  # only the daemon needs the binding (and libfuse)

    class WritebackFS(mfusepy.Operations):
        use_ns = True

        def __init__(self, backing: str):
            self.backing = os.path.realpath(backing)
            self.dirty: dict[tuple, _Dirty] = {}  # (st_dev, st_ino) of the backing file
            self.handles: dict[int, _Handle] = {}
            self.next_fh = 1

        # -- helpers
        def _full(self, path: str) -> str:
            return os.path.join(self.backing, path.lstrip("/"))

        def _open_handle(self, fd: int, flags: int) -> int:
            st = os.fstat(fd)
            fh, self.next_fh = self.next_fh, self.next_fh + 1
            self.handles[fh] = _Handle(fd, (st.st_dev, st.st_ino), bool(flags & os.O_APPEND))
            return fh

        def _state(self, handle: _Handle) -> _Dirty:
            state = self.dirty.get(handle.key)
            if state is None:
                state = self.dirty[handle.key] = _Dirty(os.fstat(handle.fd).st_size)
            return state

        def _page(self, handle: _Handle, state: _Dirty, number: int) -> bytearray:
            page = state.pages.get(number)
            if page is None:  # read-modify-write, as a page cache does
                page = bytearray(os.pread(handle.fd, PAGE, number * PAGE).ljust(PAGE, b"\0"))
                state.pages[number] = page
            return page

        # -- metadata: straight to the backing directory
        def getattr(self, path, fh=None):
            handle = self.handles.get(fh) if fh is not None else None
            st = os.fstat(handle.fd) if handle else os.lstat(self._full(path))
            attrs = {key: getattr(st, key) for key in (
                "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino",
                "st_atime_ns", "st_mtime_ns", "st_ctime_ns")}
            for key in ("st_atime", "st_mtime", "st_ctime"):
                attrs[key] = attrs.pop(key + "_ns")
            state = self.dirty.get((st.st_dev, st.st_ino)) if stat.S_ISREG(st.st_mode) else None
            if state is not None:
                attrs["st_size"] = state.size  # unsynced appends count
            return attrs

        def readdir(self, path, fh):
            return [".", "..", *os.listdir(self._full(path))]

        def access(self, path, amode):
            if not os.path.lexists(self._full(path)):
                raise mfusepy.FuseOSError(errno.ENOENT)
            return 0

        def mkdir(self, path, mode):
            os.mkdir(self._full(path), mode)

        def chmod(self, path, mode):
            os.chmod(self._full(path), mode)

        def chown(self, path, uid, gid):
            os.chown(self._full(path), uid, gid)

        def utimens(self, path, times=None):
            os.utime(self._full(path), ns=times)

        def rename(self, old, new):
            target = self._full(new)
            try:
                st = os.lstat(target)
                self.dirty.pop((st.st_dev, st.st_ino), None)  # the replaced file is gone
            except FileNotFoundError:
                pass
            os.rename(self._full(old), target)

        def statfs(self, path):
            sv = os.statvfs(self._full(path))
            return {key: getattr(sv, key) for key in (
                "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree",
                "f_favail", "f_flag", "f_namemax")}

        def fsyncdir(self, path, datasync, fh):
            return 0  # metadata is already in the backing directory

        # -- files
        def create(self, path, mode, flags):
            fd = os.open(self._full(path), os.O_RDWR | os.O_CREAT | (flags & os.O_EXCL), mode)
            fh = self._open_handle(fd, flags)
            self.dirty.pop(self.handles[fh].key, None)  # a new inode: nothing cached for it
            if flags & os.O_TRUNC:
                self._truncate(self.handles[fh], 0)
            return fh

        def open(self, path, flags):
            # Always read-write underneath: fsync through a read-only descriptor must be
            # able to write the file's pages back.
            fh = self._open_handle(os.open(self._full(path), os.O_RDWR), flags)
            if flags & os.O_TRUNC:  # libfuse 3 asks for atomic O_TRUNC: it comes here
                self._truncate(self.handles[fh], 0)
            return fh

        def read(self, path, size, offset, fh):
            handle = self.handles[fh]
            state = self.dirty.get(handle.key)
            if state is None:
                return os.pread(handle.fd, size, offset)
            end = min(offset + size, state.size)
            if end <= offset:
                return b""
            out = bytearray(os.pread(handle.fd, end - offset, offset).ljust(end - offset, b"\0"))
            for number in range(offset // PAGE, (end - 1) // PAGE + 1):
                page = state.pages.get(number)
                if page is not None:
                    lo, hi = max(offset, number * PAGE), min(end, (number + 1) * PAGE)
                    out[lo - offset:hi - offset] = page[lo - number * PAGE:hi - number * PAGE]
            return bytes(out)

        def write(self, path, data, offset, fh):
            handle = self.handles[fh]
            state = self._state(handle)
            if handle.append:
                offset = state.size
            position, view = offset, memoryview(data)
            while view:
                number, start = divmod(position, PAGE)
                count = min(PAGE - start, len(view))
                self._page(handle, state, number)[start:start + count] = view[:count]
                position, view = position + count, view[count:]
            state.size = max(state.size, offset + len(data))
            return len(data)

        def truncate(self, path, length, fh=None):
            if fh is not None and fh in self.handles:
                self._truncate(self.handles[fh], length)
                return
            fd = os.open(self._full(path), os.O_RDWR)
            try:
                st = os.fstat(fd)
                self._truncate(_Handle(fd, (st.st_dev, st.st_ino), False), length)
            finally:
                os.close(fd)

        def _truncate(self, handle: _Handle, length: int):
            state = self._state(handle)
            if length < os.fstat(handle.fd).st_size:
                os.ftruncate(handle.fd, length)  # shrinking is metadata: at once
            for number in [n for n in state.pages if n * PAGE >= length]:
                del state.pages[number]
            tail = state.pages.get(length // PAGE)
            if tail is not None:
                tail[length % PAGE:] = bytes(PAGE - length % PAGE)
            state.size = length  # growing is lazy, like appending

        def flush(self, path, fh):
            return 0  # close() is not a sync: nothing reaches the backing file

        def release(self, path, fh):
            os.close(self.handles.pop(fh).fd)  # the dirty pages stay, as in a page cache
            return 0

        def fsync(self, path, datasync, fh):
            """Write this file's dirty pages and size to the backing file (fsync and
            fdatasync alike: metadata is not cached here)."""
            handle = self.handles[fh]
            state = self.dirty.pop(handle.key, None)
            if state is None:
                return 0
            for number in sorted(state.pages):
                count = min(PAGE, state.size - number * PAGE)
                if count > 0:
                    os.pwrite(handle.fd, state.pages[number][:count], number * PAGE)
            os.ftruncate(handle.fd, state.size)
            return 0

    return mfusepy, WritebackFS


def main(argv: list[str]) -> None:
    backing, mountpoint = argv
    mfusepy, operations = _operations()
    mfusepy.FUSE(
        operations(backing), mountpoint,
        foreground=True, nothreads=True, fsname="writeback", direct_io=True,
        attr_timeout=0, entry_timeout=0, negative_timeout=0, default_permissions=True,
    )


# ---------------------------------------------------------------------------- for tests


def missing_requirement() -> str | None:
    """Why this filesystem cannot be mounted here, or None."""
    if os.geteuid() != 0:
        return "mounting the write-back FUSE filesystem needs root"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (fuse kernel module)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing (Debian package fuse3)"
    try:
        import mfusepy  # noqa: F401  (loads libfuse3: Debian package libfuse3-3)
    except (ImportError, OSError) as exc:
        return f"mfusepy with libfuse3 is not usable: {exc}"
    return None


def is_mounted(path: Path) -> bool:
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as mounts:
        return any(line.split()[4] == target for line in mounts)


class WritebackMount:
    def __init__(self, backing: Path, mountpoint: Path):
        self.backing, self.mountpoint = Path(backing), Path(mountpoint)
        self.process: subprocess.Popen | None = None
        self.log = None
        self.cut_at_ns: int | None = None

    def start(self) -> "WritebackMount":
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.log = tempfile.TemporaryFile()  # not a pipe: a full pipe would stall the daemon
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.backing), str(self.mountpoint)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not is_mounted(self.mountpoint):
            if self.process.poll() is not None:
                raise RuntimeError(f"the write-back filesystem did not start: {self.output()}")
            if time.monotonic() > deadline:
                self.cut()
                raise RuntimeError(f"the write-back filesystem was not mounted within {READY_TIMEOUT_S} s")
            time.sleep(0.02)
        return self

    def output(self) -> str:
        """What the daemon printed (libfuse and mfusepy report errors there)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def cut(self) -> None:
        """The power cut: SIGKILL the daemon; its unsynced pages are gone. Idempotent."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.cut_at_ns = time.monotonic_ns()
            self.process.wait(timeout=10)

    def unmount(self) -> None:
        """Cut (if not done), then detach the dead mount lazily."""
        self.cut()
        for command in (["fusermount3", "-u", "-z"], ["umount", "-l"]):
            if not is_mounted(self.mountpoint):
                return
            try:
                subprocess.run([*command, str(self.mountpoint)], capture_output=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                continue


@contextmanager
def mounted(backing: Path, mountpoint: Path):
    """Mount the write-back filesystem of `backing` on `mountpoint`; on exit (whatever
    happened) SIGKILL it and unmount lazily. Inside, `mount.cut()` is the power cut."""
    mount = WritebackMount(backing, mountpoint)
    try:
        yield mount.start()
    finally:
        mount.unmount()


if __name__ == "__main__":
    main(sys.argv[1:])
