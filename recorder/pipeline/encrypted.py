"""An encrypted segment as it is written: the MP4 muxer's output encrypted to the agency's
recipients (age v1) on its way to the disk, with a plaintext-free fragment index beside it
(docs/ENCRYPTION.md, "Recovery when the device cannot read its own file").

PyAV writes into `EncryptedSegmentFile` as into a file (never seeking: the writer's options
plus `skip_trailer`). A fragment reaches it whole within one `mux` call, so after each call
the writer asks `after_mux()` whether one is complete; if so it is closed off in whole
chunks (`align()`: a `free` box fills the open chunk, part of the fragment by the layout
rules), described (its plaintext range and hash, its samples from its `moof`, the
ciphertext's size and running hash once its chunks are on the sink) and handed to the
syncer: the file's fdatasync first, then the index lines it covers, then the index's
fdatasync. So an index line never names ciphertext that is not on the disk, and a power
cut leaves every indexed fragment decryptable by the agency. The device keeps no key that
opens the file: the file key dies with the encryptor.
"""

import hashlib
import os
from pathlib import Path

from ..encryption import StreamEncryptor, free_box
from ..evidence.bmff import fragment_samples, scan_boxes, track_info
from ..evidence.canonical import canonical_bytes
from .durable import FragmentSyncer

INDEX_VERSION = 5


class IndexedSyncer(FragmentSyncer):
    """A FragmentSyncer that appends the index lines a sync made true, and syncs them."""

    def __init__(self, path: Path, index_path: Path):
        super().__init__(path)
        self._index_fd = os.open(index_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._lines: list[bytes] = []

    def add_line(self, line: bytes) -> None:
        with self._lock:
            self._lines.append(line)

    def fragment_written(self) -> None:
        self._descriptor()  # opened here, on the writer's thread (the base opens it on a size check)
        super().fragment_written()

    def _take_due(self):
        with self._lock:
            due, self._lines = self._lines, []
        return due

    def _synced(self, due) -> None:
        if not due:
            return
        data = b"".join(due)
        view = memoryview(data)
        while view:
            view = view[os.write(self._index_fd, view):]
        os.fdatasync(self._index_fd)

    def close(self, sync: bool = True) -> None:
        try:
            super().close(sync)
        finally:
            if self._index_fd is not None:
                os.close(self._index_fd)
                self._index_fd = None


class _FileSink:
    """The ciphertext's file: every chunk goes straight to the kernel (no user-space buffer
    a power cut or the syncer could miss)."""

    def __init__(self, fd: int):
        self.fd = fd

    def write(self, data) -> int:
        return os.write(self.fd, data)


class EncryptedSegmentFile:
    """The file-like output PyAV muxes into (write only)."""

    def __init__(self, path: Path, index_path: Path, recipients: list, start_us: int):
        self.path, self.index_path, self.start_us = path, index_path, start_us
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.encryptor = StreamEncryptor(_FileSink(self._fd), recipients)
        self.syncer = IndexedSyncer(path, index_path)
        self._piece = bytearray()  # plaintext of the fragment the muxer is handing over
        self._piece_offset = 0  # where it starts in the plaintext
        self._scanned = 0  # the piece's length when its boxes were last looked at
        self._tracks: dict[int, tuple[str | None, int | None]] = {}  # track_ID -> (handler, timescale)
        self.init: dict | None = None
        self.fragments: list[dict] = []  # the index's fragment lines, as dicts
        self.closed = False

    # -- PyAV's side -----------------------------------------------------------------------
    def write(self, data) -> int:
        self.encryptor.write(data)
        self._piece += data
        return len(data)

    # -- the writer's side -----------------------------------------------------------------
    def after_mux(self) -> bool:
        """After a mux call: when a whole fragment arrived, close it off, index it and start
        its sync. True when one did."""
        if len(self._piece) == self._scanned:  # most calls: the muxer wrote nothing
            return False
        self._scanned = len(self._piece)
        boxes = scan_boxes(self._piece)
        whole = boxes and boxes[-1].offset + boxes[-1].size == len(self._piece)
        if not whole or boxes[-1].kind != b"mdat" or not any(b.kind == b"moof" for b in boxes):
            return False
        self._fragment_done(boxes, align=True)
        self.syncer.fragment_written()
        return True

    def close(self) -> None:
        """After the muxer closed: the last fragment in age's final chunk, the file and the
        index synced. Idempotent."""
        if self.closed:
            return
        boxes = scan_boxes(self._piece)
        if boxes:
            self._fragment_done(boxes, align=False)
        # else (not seen: the muxer always holds the fragment of the last keyframe until it
        # closes) the file ends after whole chunks, as a recovered one does: final_chunk false
        self.closed = True
        self.syncer.close()
        os.close(self._fd)

    def abandon(self) -> None:
        """Writing failed: leave what reached the disk (whole chunks, indexed fragments)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.syncer.close(sync=False)
        finally:
            os.close(self._fd)

    def _fragment_done(self, boxes, align: bool) -> None:
        piece = bytes(self._piece)
        moofs = [b for b in boxes if b.kind == b"moof"]
        if self.init is None:
            moov = next((b for b in boxes if b.kind == b"moov"), None)
            if moov is not None:
                self._tracks = track_info(piece[moov.offset + 8: moov.offset + moov.size])
            init = piece[:moofs[0].offset] if moofs else piece
            self.init = {"offset": 0, "size": len(init), "sha256": hashlib.sha256(init).hexdigest()}
        if align:
            filler = self.encryptor.align()
            piece += free_box(filler) if filler else b""
        else:
            self.encryptor.close()  # the final chunk: a fragment after align() always has bytes
        bounds = [b.offset for b in moofs] + [len(piece)]
        for start, end in zip(bounds, bounds[1:]):
            self.fragments.append(self._describe(piece, start, end))
        self._piece_offset += len(piece)
        self._piece, self._scanned = bytearray(), 0

    def _describe(self, piece: bytes, start: int, end: int) -> dict:
        moof = scan_boxes(piece[start:end])[0]
        samples = {"vide": [0, 0], "soun": [0, 0]}
        for track, (count, ticks) in fragment_samples(piece[start + 8: start + moof.size]).items():
            handler = self._tracks.get(track, (None, None))[0]
            if handler in samples:
                samples[handler][0] += count
                samples[handler][1] += ticks
        line = {
            "fragment": len(self.fragments) + 1,
            "offset": self._piece_offset + start, "size": end - start,
            "sha256": hashlib.sha256(memoryview(piece)[start:end]).hexdigest(),
            "video_samples": samples["vide"][0], "video_ticks": samples["vide"][1],
            "audio_samples": samples["soun"][0],
            "cipher_size": self.encryptor.ciphertext_size,
            "cipher_sha256": self.encryptor.ciphertext_sha256(),
            # the plaintext up to here: a recovered file's whole plaintext hash, without decrypting
            "plaintext_size": self.encryptor.plaintext_size, "plaintext_sha256": self.encryptor.plaintext_sha256(),
            "final_chunk": self.encryptor.closed,  # true on the last line of a file closed whole
        }
        lines = [line]
        if not self.fragments:
            lines.insert(0, self.header_line())
        for entry in lines:
            self.syncer.add_line(canonical_bytes(entry) + b"\n")
        return line

    def header_line(self) -> dict:
        video_timescale = next((t for h, t in self._tracks.values() if h == "vide"), None)
        return {"v": INDEX_VERSION, "recipients": [str(r) for r in self.encryptor.recipients],
                "header_size": self.encryptor.header_size, "start_mono_us": self.start_us,
                "video_timescale": video_timescale, "init": self.init}

    def facts(self) -> dict:
        """What the sealer needs of the closed file (ClosedSegment.encrypted)."""
        e = self.encryptor
        return {
            "recipients": [str(r) for r in e.recipients], "header_size": e.header_size,
            "final_chunk": e.closed,
            "plaintext": {"size": e.plaintext_size, "sha256": e.plaintext_sha256()},
            "file": {"size": e.ciphertext_size, "sha256": e.ciphertext_sha256()},
            "init": self.init,
            "fragments": [{k: f[k] for k in ("offset", "size", "sha256")} for f in self.fragments],
            "tail": None,  # no mfra (skip_trailer)
            "index_partial": str(self.index_path),
        }
