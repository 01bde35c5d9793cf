"""Sealing an encrypted segment a crash or a power cut left — without reading it: the device
holds no key that opens its own files (docs/ENCRYPTION.md, "Recovery when the device cannot
read its own file").

The fragment index beside the `.mp4.age.partial` names, for each fragment the writer made
durable, how long the ciphertext was once the fragment's chunks were on it and the SHA-256
of that prefix. The file is hashed once from the start; the last index line whose prefix is
on the disk, hash and all, is where the file is trimmed (the bytes after it kept in a `.torn`
file: whole chunks the dock can still decrypt, and a torn chunk). The manifest is built from
the index: the plaintext ranges and hashes, the frames and audio packets, where it starts on
the monotonic clock. The sealed file has no final chunk (its key died with the power):
`final_chunk: false`, and a decryptor reports it as cut at a chunk boundary, which is what
the manifest says — unless the writer had closed it whole (a crash while sealing it, after
its index was sealed: the index's last line says `final_chunk`).
"""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ..evidence.canonical import canonical_bytes
from ..evidence.encrypted import read_index
from ..evidence.files import READ_CHUNK
from ..evidence.layout import index_path, partial_path
from ..store.recovery import set_aside, torn_path, trim_partial

log = logging.getLogger(__name__)


@dataclass
class IndexedPrefix:
    header: dict
    lines: list  # the fragment lines whose ciphertext is on the disk, in order

    @property
    def cipher_size(self) -> int:
        return self.lines[-1]["cipher_size"]

    def index_bytes(self) -> bytes:
        return b"".join(canonical_bytes(line) + b"\n" for line in [self.header, *self.lines])

    def tracks(self) -> dict:
        """The recovered file's tracks as seal/recovery.py reads them from a plaintext file's
        boxes: handler -> {samples, duration_us}."""
        timescale = self.header.get("video_timescale")
        ticks = sum(line["video_ticks"] for line in self.lines)
        tracks = {"vide": {"samples": sum(line["video_samples"] for line in self.lines),
                           "duration_us": ticks * 1_000_000 // timescale if timescale else None}}
        audio = sum(line["audio_samples"] for line in self.lines)
        if audio:
            tracks["soun"] = {"samples": audio, "duration_us": None}
        return tracks

    def encrypted_facts(self, partial: Path) -> dict:
        """ClosedSegment.encrypted for the trimmed file."""
        last = self.lines[-1]
        return {
            "recipients": self.header["recipients"], "header_size": self.header["header_size"],
            "final_chunk": last.get("final_chunk") is True,  # closed whole before the cut
            "plaintext": {"size": last["plaintext_size"], "sha256": last["plaintext_sha256"]},
            "file": {"size": last["cipher_size"], "sha256": last["cipher_sha256"]},
            "init": self.header["init"],
            "fragments": [{k: line[k] for k in ("offset", "size", "sha256")} for line in self.lines],
            "tail": None,
            "index_partial": str(partial_path(index_path(_final_of(partial)))),
            "index_bytes": self.index_bytes(),
        }


def _final_of(partial: Path) -> Path:
    return partial.with_name(partial.name.removesuffix(".partial"))


def indexed_prefix(partial: Path) -> IndexedPrefix | None:
    """The fragments of a cut encrypted segment whose ciphertext is on the disk as the index
    says; None when not one is (or there is no readable index)."""
    final = _final_of(partial)
    # the writer's; else the sealer's (a seal cut between the index and the manifest: the file
    # was closed whole); else one a recovery cut short had set aside
    candidates = (partial_path(index_path(final)), index_path(final), torn_path(partial_path(index_path(final))))
    index = next((c for c in candidates if c.exists()), candidates[0])
    try:
        header, lines = read_index(index.read_bytes())
    except (OSError, ValueError):
        return None
    if header is None or not lines:
        return None
    kept = []
    digest, done = hashlib.sha256(), 0
    with open(partial, "rb") as f:
        for line in lines:
            want = line.get("cipher_size")
            if not isinstance(want, int) or want < done:
                break
            while done < want:
                chunk = f.read(min(READ_CHUNK, want - done))
                if not chunk:
                    break
                digest.update(chunk)
                done += len(chunk)
            if done != want or digest.hexdigest() != line.get("cipher_sha256"):
                break  # its data never reached the disk (or is not what was indexed)
            kept.append(line)
    return IndexedPrefix(header, kept) if kept else None


def trim_encrypted(partial: Path, set_aside_list: list, relative) -> tuple[object, IndexedPrefix] | None:
    """Trim a cut `.mp4.age.partial` to its indexed fragments (the rest kept as `.torn`), and
    set its index `.partial` aside when it names more than what is kept (the sealer writes
    the index of what is kept). (Trimmed, prefix), or None when nothing of it can be sealed
    (then set aside whole, with its index). relative(path) -> its store path."""
    prefix = indexed_prefix(partial)
    index = partial_path(index_path(_final_of(partial)))
    if prefix is None:
        log.error("%s: no fragment its index names is on the disk; set aside whole", relative(partial))
        set_aside_list.append(relative(set_aside(partial)))
        if index.exists():
            set_aside_list.append(relative(set_aside(index)))
        return None
    trimmed = trim_partial(partial, prefix.cipher_size)
    if trimmed.torn is not None:
        set_aside_list.append(relative(trimmed.torn))
    if index.exists() and index.read_bytes() != prefix.index_bytes():
        set_aside_list.append(relative(set_aside(index)))
    return trimmed, prefix


def encrypted_extent(partial: Path) -> tuple[int, int] | None:
    """(start, end) in monotonic µs of the indexed fragments of a cut encrypted segment."""
    try:
        prefix = indexed_prefix(partial)
    except OSError:
        return None
    if prefix is None or prefix.tracks()["vide"]["duration_us"] is None:
        return None
    start = prefix.header["start_mono_us"]
    return start, start + prefix.tracks()["vide"]["duration_us"]
