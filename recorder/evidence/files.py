"""Opening the files of a store for verification: read-only, never following symlinks,
never blocking on a FIFO, without updating access times where the OS allows it."""

import hashlib
import os
import stat
from pathlib import Path

READ_CHUNK = 1 << 20


class NotRegular(Exception):
    """The path is a symlink, directory, FIFO or device, not a regular file."""


def open_read_only(path: Path) -> int:
    """An fd on a regular file: read-only, no symlinks, no blocking on FIFOs, no atime."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:  # O_NOATIME needs file ownership
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == getattr(os, "ELOOP", None) or path.is_symlink():
            raise NotRegular("is a symbolic link") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegular("is not a regular file")
    return fd


def digest_open(f) -> tuple[int, str]:
    """(size, sha256) of an open binary file, from its start, streamed."""
    digest, size = hashlib.sha256(), 0
    f.seek(0)
    while chunk := f.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def read_regular(path: Path) -> bytes:
    with os.fdopen(open_read_only(path), "rb") as f:
        return f.read()


def hash_regular(path: Path) -> tuple[int, str]:
    """(size, sha256) of a regular file, streamed."""
    digest, size = hashlib.sha256(), 0
    with os.fdopen(open_read_only(path), "rb") as f:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def safe_relative(root: Path, relative: str) -> Path | None:
    """root/relative when `relative` stays inside root/media, else None."""
    parts = relative.split("/")
    if len(parts) < 2 or parts[0] != "media" or any(p in ("", ".", "..") for p in parts):
        return None
    if "\\" in relative or "\0" in relative:
        return None
    return root.joinpath(*parts)
