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
