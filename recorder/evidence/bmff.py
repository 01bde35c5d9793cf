"""ISO BMFF (MP4) layout of a fragmented segment, and its hashes.

A sealed segment is hashed as a whole and piece by piece, so that a verifier
can say *which* fragment changed:

  init      bytes before the first `moof` (ftyp + moov)
  fragment  one `moof` and everything up to the next `moof` or trailer box
  tail      trailing boxes after the last fragment (e.g. `mfra`), if any

One pass over the file computes every hash.
"""

import hashlib
import os
import struct
from dataclasses import dataclass

FRAGMENT_BOXES = {b"moof", b"mdat"}
READ_CHUNK = 1 << 20


@dataclass
class Box:
    kind: bytes
    offset: int
    size: int  # bytes the box claims; may run past the end of a truncated file


def scan_boxes(data: memoryview | bytes) -> list[Box]:
    """Top-level boxes of an in-memory file. A torn last box keeps the size it claims."""
    return _scan(lambda offset, n: bytes(data[offset : offset + n]), len(data))


def scan_file_boxes(f, size: int) -> list[Box]:
    """The same, reading only the box headers of an open file."""

    def read_at(offset, n):
        f.seek(offset)
        return f.read(n)

    return _scan(read_at, size)


def _scan(read_at, end: int) -> list[Box]:
    boxes, offset = [], 0
    while offset + 8 <= end:
        header = read_at(offset, 16)
        size, kind = struct.unpack_from(">I4s", header)
        if size == 1:
            if len(header) < 16:
                break
            (size,) = struct.unpack_from(">Q", header, 8)
        elif size == 0:
            size = end - offset
        if size < 8:
            break  # corrupt header: stop, the caller sees the unaccounted bytes
        boxes.append(Box(bytes(kind), offset, size))
        offset += size
    return boxes


def layout_ranges(boxes: list[Box], file_size: int) -> dict:
    """Byte ranges (offset, size) of init, each fragment, and tail. Ranges never overlap:
    a fragment runs from its `moof` to the next `moof`; the last one ends after the
    `moof`/`mdat` boxes that follow it, and whatever comes after is the tail."""
    moofs = [b.offset for b in boxes if b.kind == b"moof"]
    if not moofs:
        return {"init": (0, file_size), "fragments": [], "tail": None}
    last_end = moofs[-1]
    for box in boxes:
        if box.offset >= moofs[-1]:
            if box.kind not in FRAGMENT_BOXES:
                break
            last_end = box.offset + box.size
    bounds = moofs + [last_end]
    fragments = [(start, end - start) for start, end in zip(bounds, bounds[1:])]
    tail = (last_end, file_size - last_end) if last_end < file_size else None
    return {"init": (0, moofs[0]), "fragments": fragments, "tail": tail}


def hash_layout(path) -> dict:
    """{"file": {size, sha256}, "init": {...}, "fragments": [...], "tail": {...}|None}.

    Reads the file once, in chunks (segments can be gigabytes on a long setting), feeding
    each chunk to the whole-file hash and to the hash of the part it belongs to."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        ranges = layout_ranges(scan_file_boxes(f, size), size)
        parts = [ranges["init"], *ranges["fragments"]] + ([ranges["tail"]] if ranges["tail"] else [])
        whole = hashlib.sha256()
        tiles_file = sum(n for _, n in parts) == size
        digests = [hash_range(f, offset, n, whole if tiles_file else None)[1] for offset, n in parts]
        if not tiles_file:  # a torn last box: parts do not cover the file exactly
            hash_range(f, 0, size, whole)

    def part(rng, digest):
        return {"offset": rng[0], "size": rng[1], "sha256": digest}

    described = [part(r, d) for r, d in zip(parts, digests)]
    fragment_count = len(ranges["fragments"])
    return {
        "file": {"size": size, "sha256": whole.hexdigest()},
        "init": described[0],
        "fragments": described[1 : 1 + fragment_count],
        "tail": described[1 + fragment_count] if ranges["tail"] else None,
    }


def hash_range(f, offset: int, size: int, also=None) -> tuple[int, str]:
    """(bytes actually present, SHA-256) of [offset, offset + size) of an open file;
    every chunk read is fed to `also` too (a whole-file hash built in the same read)."""
    digest = hashlib.sha256()
    f.seek(offset)
    remaining, got = size, 0
    while remaining > 0:
        chunk = f.read(min(READ_CHUNK, remaining))
        if not chunk:
            break
        digest.update(chunk)
        if also is not None:
            also.update(chunk)
        got += len(chunk)
        remaining -= len(chunk)
    return got, digest.hexdigest()
