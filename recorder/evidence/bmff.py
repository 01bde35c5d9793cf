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
    `moof`/`mdat` boxes that follow it (and `free` boxes: the filler that closes an
    encrypted file's last chunk after a power cut, docs/ENCRYPTION.md), and whatever comes
    after is the tail."""
    moofs = [b.offset for b in boxes if b.kind == b"moof"]
    if not moofs:
        return {"init": (0, file_size), "fragments": [], "tail": None}
    last_end = moofs[-1]
    for box in boxes:
        if box.offset >= moofs[-1]:
            if box.kind not in FRAGMENT_BOXES and box.kind != b"free":
                break
            last_end = box.offset + box.size
    bounds = moofs + [last_end]
    fragments = [(start, end - start) for start, end in zip(bounds, bounds[1:])]
    tail = (last_end, file_size - last_end) if last_end < file_size else None
    return {"init": (0, moofs[0]), "fragments": fragments, "tail": tail}


def hash_layout(source, file_sha256: str | None = None) -> dict:
    """{"file": {size, sha256}, "init": {...}, "fragments": [...], "tail": {...}|None}.

    The layout comes from the file's own boxes. Reads the file once, in chunks (segments
    can be gigabytes on a long setting), feeding each chunk to the whole-file hash and to
    the hash of the part it belongs to. `source`: a path, or a file open for reading.
    file_sha256: the whole file's digest, when the caller computed it as the bytes came
    (the dock's intake): not computed again, and reported as given."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return hash_layout(f, file_sha256)
    f = source
    size = os.fstat(f.fileno()).st_size
    ranges = layout_ranges(scan_file_boxes(f, size), size)
    parts = [ranges["init"], *ranges["fragments"]] + ([ranges["tail"]] if ranges["tail"] else [])
    whole = hashlib.sha256() if file_sha256 is None else None
    tiles_file = sum(n for _, n in parts) == size
    digests = [hash_range(f, offset, n, whole if tiles_file else None)[1] for offset, n in parts]
    if whole is not None and not tiles_file:  # a torn last box: parts do not cover the file exactly
        hash_range(f, 0, size, whole)

    def part(rng, digest):
        return {"offset": rng[0], "size": rng[1], "sha256": digest}

    described = [part(r, d) for r, d in zip(parts, digests)]
    fragment_count = len(ranges["fragments"])
    return {
        "file": {"size": size, "sha256": whole.hexdigest() if whole is not None else file_sha256},
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
    return {track_id: handler for track_id, (handler, _) in track_info(moov).items()}


def track_info(moov: bytes) -> dict[int, tuple[str | None, int | None]]:
    """track_ID -> (handler type, media timescale) from a moov box's payload."""
    tracks = {}
    for kind, trak in _children(moov):
        if kind != b"trak":
            continue
        track_id, handler, timescale = None, None, None
        for child, body in _children(trak):
            if child == b"tkhd" and len(body) >= 24:
                track_id = struct.unpack_from(">I", body, 20 if body[0] == 1 else 12)[0]
            elif child == b"mdia":
                for grandchild, payload in _children(body):
                    if grandchild == b"hdlr" and len(payload) >= 12:
                        handler = payload[8:12].decode("latin-1")
                    elif grandchild == b"mdhd" and len(payload) >= 24:
                        timescale = struct.unpack_from(">I", payload, 20 if payload[0] == 1 else 12)[0]
        if track_id is not None:
            tracks[track_id] = (handler, timescale)
    return tracks


def comment(moov: bytes) -> str | None:
    """The file's comment tag (moov/udta/meta/ilst/©cmt), as the MP4 muxer writes it."""
    for kind, udta in _children(moov):
        if kind != b"udta":
            continue
        for child, meta in _children(udta):
            if child != b"meta" or len(meta) < 4:
                continue
            for grandchild, ilst in _children(meta[4:]):  # meta is a FullBox
                if grandchild != b"ilst":
                    continue
                for item, payload in _children(ilst):
                    if item == b"\xa9cmt":
                        for data_kind, data in _children(payload):
                            if data_kind == b"data" and len(data) >= 8:
                                return data[8:].decode("utf-8", "replace")
    return None


def fragment_samples(moof: bytes, defaults: dict[int, int] | None = None) -> dict[int, tuple[int, int]]:
    """track_ID -> (samples, duration in the track's timescale) in one moof: the sum of its
    trun boxes (a sample's own duration, or the tfhd's default, or `defaults` (trex))."""
    counts: dict[int, tuple[int, int]] = {}
    for kind, traf in _children(moof):
        if kind != b"traf":
            continue
        track_id, samples, duration, default = None, 0, 0, None
        for child, body in _children(traf):
            if child == b"tfhd" and len(body) >= 8:
                flags = int.from_bytes(body[1:4], "big")
                track_id = struct.unpack_from(">I", body, 4)[0]
                offset = 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
                if flags & 0x8 and len(body) >= offset + 4:
                    default = struct.unpack_from(">I", body, offset)[0]
            elif child == b"trun" and len(body) >= 8:
                flags = int.from_bytes(body[1:4], "big")
                count = struct.unpack_from(">I", body, 4)[0]
                samples += count
                first = 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
                step = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
                if flags & 0x100:
                    duration += sum(struct.unpack_from(">I", body, first + i * step)[0]
                                    for i in range(count) if first + i * step + 4 <= len(body))
                else:
                    fallback = default if default is not None else (defaults or {}).get(track_id, 0)
                    duration += count * fallback
        if track_id is not None:
            had = counts.get(track_id, (0, 0))
            counts[track_id] = (had[0] + samples, had[1] + duration)
    return counts


def sample_counts(f) -> dict[str, int]:
    """Samples per handler type ('vide', 'soun') over all fragments of an open file, from
    the file's own moov and moof boxes (small reads: the media data is not read)."""
    return {handler: track["samples"] for handler, track in media_tracks(f).items()}


def media_tracks(f, end: int | None = None) -> dict[str, dict]:
    """handler type -> {"samples", "duration_us", "timescale"} over the complete fragments
    of an open file (those ending by `end`, default the file's size): small reads of the
    moov and moof boxes only."""
    size = os.fstat(f.fileno()).st_size if end is None else end
    info: dict[int, tuple[str | None, int | None]] = {}
    totals: dict[str, dict] = {}
    for box in scan_file_boxes(f, size):
        if box.kind not in (b"moov", b"moof") or box.offset + box.size > size:
            continue
        f.seek(box.offset)
        data = f.read(box.size)
        payload = data[_header(data, Box(box.kind, 0, box.size)) :]
        if box.kind == b"moov":
            info = track_info(payload)
            for handler, timescale in info.values():
                if handler:
                    totals[handler] = {"samples": 0, "ticks": 0, "timescale": timescale}
            continue
        for track_id, (count, ticks) in fragment_samples(payload).items():
            handler = info.get(track_id, (f"track {track_id}", None))[0]
            track = totals.setdefault(handler, {"samples": 0, "ticks": 0, "timescale": None})
            track["samples"] += count
            track["ticks"] += ticks
    for track in totals.values():
        timescale = track.pop("timescale")
        ticks = track.pop("ticks")
        track["duration_us"] = ticks * 1_000_000 // timescale if timescale else None
    return totals


def complete_length(f) -> int:
    """Bytes at the start of an open fragmented MP4 that hold its header (ftyp, moov) and
    only whole fragments (a moof and its mdat both present in full): where a file cut by a
    crash or a power loss can be trimmed to. 0 when not even the header and one fragment are
    whole."""
    size = os.fstat(f.fileno()).st_size
    boxes = scan_file_boxes(f, size)
    end = 0
    seen = set()
    for box in boxes:
        if box.offset + box.size > size:
            break  # torn: claims more bytes than the file has
        if box.kind == b"moof":
            seen = {b"moof"}
            continue
        if box.kind == b"mdat" and seen == {b"moof"}:
            end = box.offset + box.size  # a fragment is whole once its mdat is
            seen = set()
        elif b"moof" not in seen and box.kind != b"mdat":
            seen = set()
    has_header = any(b.kind == b"moov" and b.offset + b.size <= end for b in boxes)
    return end if has_header else 0
