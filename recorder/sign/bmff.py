"""ISO BMFF (MP4) layout of a fragmented segment, and its hashes.

A sealed segment is hashed as a whole and piece by piece, so that a verifier
can say *which* fragment changed:

  init      bytes before the first `moof` (ftyp + moov)
  fragment  one `moof` and everything up to the next `moof` or trailer box
  tail      trailing boxes after the last fragment (e.g. `mfra`), if any

One pass over the file computes every hash.
"""

import hashlib
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
    """Top-level boxes. A torn last box is reported with the size it claims."""
    boxes = []
    offset, end = 0, len(data)
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size == 1:
            if offset + 16 > end:
                break
            (size,) = struct.unpack_from(">Q", data, offset + 8)
        elif size == 0:
            size = end - offset
        if size < 8:
            break  # corrupt header: stop, the caller sees the unaccounted bytes
        boxes.append(Box(bytes(kind), offset, size))
        offset += size
    return boxes


def layout_ranges(boxes: list[Box], file_size: int) -> dict:
    """Byte ranges (offset, size) of init, each fragment, and tail."""
    first_moof = next((b.offset for b in boxes if b.kind == b"moof"), None)
    if first_moof is None:
        return {"init": (0, file_size), "fragments": [], "tail": None}
    fragments, tail_start = [], None
    for box in boxes:
        if box.offset < first_moof:
            continue
        if box.kind == b"moof":
            fragments.append([box.offset, box.size])
        elif box.kind in FRAGMENT_BOXES and fragments and tail_start is None:
            fragments[-1][1] = box.offset + box.size - fragments[-1][0]
        elif tail_start is None:
            tail_start = box.offset
    covered = fragments[-1][0] + fragments[-1][1]
    if tail_start is None and covered < file_size:
        tail_start = covered
    tail = (tail_start, file_size - tail_start) if tail_start is not None else None
    return {
        "init": (0, first_moof),
        "fragments": [tuple(f) for f in fragments],
        "tail": tail,
    }


def _digest(data, offset, size) -> str:
    return hashlib.sha256(data[offset : offset + size]).hexdigest()


def hash_layout(path) -> dict:
    """{"file": {size, sha256}, "init": {...}, "fragments": [...], "tail": {...}|None}."""
    with open(path, "rb") as f:
        data = memoryview(f.read())
    ranges = layout_ranges(scan_boxes(data), len(data))

    def part(rng):
        return {"offset": rng[0], "size": rng[1], "sha256": _digest(data, *rng)}

    return {
        "file": {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        "init": part(ranges["init"]),
        "fragments": [part(r) for r in ranges["fragments"]],
        "tail": part(ranges["tail"]) if ranges["tail"] else None,
    }
