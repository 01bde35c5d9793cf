"""The inode flag that makes a file immutable (`chattr +i`): no write, no unlink, no
rename, no new link, not even by root, until someone with CAP_LINUX_IMMUTABLE clears it.
ext4, xfs and btrfs have it, tmpfs since Linux 6.0. The archive only ever sets it."""

import array
import ctypes
import fcntl
import os

# _IOR/_IOW('f', 1/2, long): the size field holds sizeof(long); the kernel reads an int.
_LONG = ctypes.sizeof(ctypes.c_long)
FS_IOC_GETFLAGS = (2 << 30) | (_LONG << 16) | (ord("f") << 8) | 1
FS_IOC_SETFLAGS = (1 << 30) | (_LONG << 16) | (ord("f") << 8) | 2
FS_IMMUTABLE_FL = 0x00000010


def inode_flags(fd: int) -> int | None:
    """The file's flags, or None where the filesystem keeps none."""
    flags = array.array("i", [0])
    try:
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
    except OSError:
        return None
    return flags[0]


def is_immutable(fd: int) -> bool:
    flags = inode_flags(fd)
    return flags is not None and bool(flags & FS_IMMUTABLE_FL)


def make_immutable(fd: int) -> bool:
    """Set the flag; False where it cannot be set (no CAP_LINUX_IMMUTABLE, a filesystem
    without it). The file is then still read-only by its mode, just not locked."""
    flags = inode_flags(fd)
    if flags is None:
        return False
    if not flags & FS_IMMUTABLE_FL:
        try:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, array.array("i", [flags | FS_IMMUTABLE_FL]), True)
        except OSError:
            return False
        os.fsync(fd)  # the flag is metadata: on disk before we say it holds
    return is_immutable(fd)
