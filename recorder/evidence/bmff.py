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


def hash_layout(source) -> dict:
    """{"file": {size, sha256}, "init": {...}, "fragments": [...], "tail": {...}|None}.

    The layout comes from the file's own boxes. Reads the file once, in chunks (segments
    can be gigabytes on a long setting), feeding each chunk to the whole-file hash and to
    the hash of the part it belongs to. `source`: a path, or a file open for reading."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return hash_layout(f)
    f = source
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


# -- tracks and samples (ISO/IEC 14496-12: moov/trak/tkhd+hdlr, moof/traf/tfhd+trun) ---------

def _children(data: bytes):
    return [(box.kind, data[box.offset + _header(data, box) : box.offset + box.size])
            for box in scan_boxes(data) if box.offset + box.size <= len(data)]


def _header(data: bytes, box: Box) -> int:
    return 16 if struct.unpack_from(">I", data, box.offset)[0] == 1 else 8


def track_handlers(moov: bytes) -> dict[int, str]:
    """track_ID -> handler type ('vide', 'soun', …) from a moov box's payload."""
    handlers = {}
    for kind, trak in _children(moov):
        if kind != b"trak":
            continue
        track_id, handler = None, None
        for child, body in _children(trak):
            if child == b"tkhd" and len(body) >= 24:
                track_id = struct.unpack_from(">I", body, 20 if body[0] == 1 else 12)[0]
            elif child == b"mdia":
                for grandchild, payload in _children(body):
                    if grandchild == b"hdlr" and len(payload) >= 12:
                        handler = payload[8:12].decode("latin-1")
        if track_id is not None:
            handlers[track_id] = handler
    return handlers


def fragment_samples(moof: bytes) -> dict[int, int]:
    """track_ID -> samples in one moof (the sum of its trun sample counts)."""
    counts: dict[int, int] = {}
    for kind, traf in _children(moof):
        if kind != b"traf":
            continue
        track_id, samples = None, 0
        for child, body in _children(traf):
            if child == b"tfhd" and len(body) >= 8:
                track_id = struct.unpack_from(">I", body, 4)[0]
            elif child == b"trun" and len(body) >= 8:
                samples += struct.unpack_from(">I", body, 4)[0]
        if track_id is not None:
            counts[track_id] = counts.get(track_id, 0) + samples
    return counts


def sample_counts(f) -> dict[str, int]:
    """Samples per handler type ('vide', 'soun') over all fragments of an open file, from
    the file's own moov and moof boxes (small reads: the media data is not read)."""
    size = os.fstat(f.fileno()).st_size
    handlers: dict[int, str] = {}
    totals: dict[str, int] = {}
    for box in scan_file_boxes(f, size):
        if box.kind not in (b"moov", b"moof") or box.offset + box.size > size:
            continue
        f.seek(box.offset)
        data = f.read(box.size)
        payload = data[_header(data, Box(box.kind, 0, box.size)) :]
        if box.kind == b"moov":
            handlers = track_handlers(payload)
            totals.update({h: 0 for h in handlers.values() if h})
        else:
            for track_id, count in fragment_samples(payload).items():
                kind = handlers.get(track_id, f"track {track_id}")
                totals[kind] = totals.get(kind, 0) + count
    return totals
