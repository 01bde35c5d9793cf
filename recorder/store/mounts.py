"""Where the store lives: the filesystem under a path, read from /proc/self/mountinfo, and
whether the device may record onto it (docs/SERVICE.md, "Storage layout").

On the device the root filesystem is read-only and the store and state live on a separate
journaled data partition, so that a power cut can never corrupt the system and the store
survives one. The agent refuses to record onto a filesystem that breaks that: the root
filesystem itself, a read-only mount, memory (tmpfs: gone at power off), or one without a
journal (FAT: a power cut can leave it unreadable, and it has no read-only files).
"""

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError

MOUNTINFO = Path("/proc/self/mountinfo")
JOURNALED = frozenset({"ext4", "ext3", "xfs", "btrfs", "f2fs"})
IN_MEMORY = frozenset({"tmpfs", "ramfs"})


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str
    options: frozenset  # the mount's own and the superblock's


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 …)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        fields, rest = before.split(), after.split()
        if not sep or len(fields) < 6 or len(rest) < 3:
            continue
        options = frozenset(fields[5].split(",")) | frozenset(rest[2].split(","))
        mounts.append(Mount(_unescape(fields[4]), rest[0], _unescape(rest[1]), options))
    return mounts


def mount_of(path, mountinfo: str | None = None) -> Mount:
    """The mount a path is on: the last mounted of those whose mount point holds it."""
    real = os.path.realpath(path)
    mounts = parse_mountinfo(MOUNTINFO.read_text() if mountinfo is None else mountinfo)
    holding = [m for m in mounts if real == m.mount_point or real.startswith(m.mount_point.rstrip("/") + "/")]
    if not holding:
        raise StoreError(f"cannot tell which filesystem {path} is on ({MOUNTINFO} names none)")
    longest = max(len(m.mount_point) for m in holding)
    return [m for m in holding if len(m.mount_point) == longest][-1]


def existing_parent(path) -> Path:
    """The path itself, or its nearest existing parent (the store may not exist yet)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def data_partition_problem(path, mountinfo: str | None = None) -> str | None:
    """Why the device must not record onto the filesystem under path, or None."""
    # the store may not exist yet: the filesystem is its nearest existing parent's (on this
    # machine; a mountinfo given as text is read as the path says)
    mount = mount_of(existing_parent(path) if mountinfo is None else path, mountinfo)
    where = f"{path} is on {mount.source} ({mount.fstype}, mounted at {mount.mount_point})"
    if mount.mount_point == "/":
        return f"{where}: the root filesystem; the store belongs on the data partition (hw/README.md)"
    if "ro" in mount.options:
        return f"{where}: mounted read-only"
    if mount.fstype in IN_MEMORY:
        return f"{where}: memory, lost at power off"
    if mount.fstype not in JOURNALED:
        return f"{where}: not a journaled filesystem (one of {', '.join(sorted(JOURNALED))})"
    return None


def require_data_partition(path, mountinfo: str | None = None) -> None:
    problem = data_partition_problem(path, mountinfo)
    if problem is not None:
        raise StoreError(f"refusing to record: {problem}; set [storage] require_data_partition = false "
                         "only off the device (a laptop, a test)")
