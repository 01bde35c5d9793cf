"""What a crash or a power cut left in the store, made ready to seal — without losing a byte.

A segment being written when the power went is a `.partial` whose last fragment may be
torn. `trim_partial` keeps its whole fragments where they are and sets the torn bytes
aside: they are copied, durably, to `<name>.torn` first, and only then is the `.partial`
cut to its last whole fragment (the one truncation in the agent: of an unsealed file, of
bytes already kept elsewhere). A `.partial` without a single whole fragment, and any other
file that cannot be sealed, is set aside whole (renamed to `.torn`). Nothing is removed.
Run again after a cut during recovery itself (before or after the truncation), it finds the
`.torn` it already wrote and names it again instead of writing another.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from ..evidence.bmff import complete_length
from ..evidence.canonical import sha256_hex
from ..evidence.layout import PARTIAL_SUFFIX, TORN_SUFFIX
from .disk import SEALED_MODE, fsync_dir, write_sealed_file



@dataclass(frozen=True)
class Trimmed:
    path: Path  # the .partial, now holding whole fragments only (absent when set aside whole)
    kept: int  # bytes kept in it
    original_size: int  # its size as found (with the bytes set aside before, if any)
    torn: Path | None  # where its torn bytes are kept, if there were any
    torn_size: int
    torn_sha256: str | None


def torn_path(path: Path) -> Path:
    """Where a file's bytes set aside go: `00003.mp4.partial` -> `00003.mp4.torn`,
    `00003.manifest.json` -> `00003.manifest.json.torn`."""
    return path.with_name(path.name.removesuffix(PARTIAL_SUFFIX) + TORN_SUFFIX)


def _free(path: Path) -> Path:
    """path, or path with a number before its suffix when that name is taken."""
    number = 1
    candidate = path
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name.removesuffix(TORN_SUFFIX)}.{number}{TORN_SUFFIX}")
    return candidate


def set_aside(path: Path) -> Path:
    """Keep a file that cannot be sealed as found, under a `.torn` name; returns it."""
    aside = _free(torn_path(path))
    os.chmod(path, SEALED_MODE)
    os.rename(path, aside)
    fsync_dir(path.parent)
    return aside


def trim_partial(partial: Path, keep: int | None = None) -> Trimmed:
    """Set a cut segment's torn tail aside and leave whole fragments in the `.partial`.
    keep: how many bytes hold whole fragments, when the caller knows (an encrypted segment,
    from its fragment index: seal/encrypted_recovery.py); else found from the MP4's boxes."""
    with open(partial, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        keep = complete_length(f) if keep is None else keep
        f.seek(keep)
        tail = f.read()
    earlier = torn_path(partial)
    if not tail and earlier.exists():  # trimmed by a recovery that was itself cut short
        data = earlier.read_bytes()
        return Trimmed(partial, keep, size + len(data), earlier, len(data), sha256_hex(data))
    if keep == 0:  # not one whole fragment: all of it is set aside
        aside = set_aside(partial)
        return Trimmed(partial, 0, size, aside, size, sha256_hex(tail))
    if not tail:
        return Trimmed(partial, keep, size, None, 0, None)
    if earlier.exists() and earlier.read_bytes() == tail:
        aside = earlier  # written by a recovery cut before its truncation: not written twice
    else:
        aside = _free(earlier)
        write_sealed_file(aside, tail)  # durable before anything is cut
    fsync_dir(partial.parent)
    os.truncate(partial, keep)
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return Trimmed(partial, keep, size, aside, len(tail), sha256_hex(tail))
