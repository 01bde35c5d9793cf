"""Writing files that survive a power cut: the primitives every durable writer here shares
(the store on the device, the dock, its archive, the agency's directory).

A file counts as written only once its bytes are fsync'd and the directory entry naming it
is fsync'd too; a new file is created with O_EXCL, so nothing is ever written over."""

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data) -> None:
    """os.write until every byte is written (a write may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def create_new(path: Path, data: bytes, mode: int = 0o444) -> Path:
    """A new file with these bytes and mode, fsync'd with its directory; FileExistsError when
    the name is taken (never over another file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(Path(path).parent)
    return Path(path)


def create_numbered(directory: Path, data: bytes, suffix: str = ".json", mode: int = 0o444) -> Path:
    """DIRECTORY/<n><suffix>, n = 000001, 000002 …: the next free number, never over another."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    number = len(list(directory.glob(f"*{suffix}"))) + 1
    while True:
        try:
            return create_new(directory / f"{number:06d}{suffix}", data, mode)
        except FileExistsError:
            number += 1
