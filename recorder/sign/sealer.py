"""Sealing: turn a closed `.partial` segment into evidence.

Steps, in this order, on one worker thread so ledger entries keep their order:
 1. hash the file and each fragment (the writer already fsync'd it);
 2. write the signed manifest next to it (read-only, fsync'd);
 3. rename `.partial` -> `.mp4`, make it read-only, fsync the directory;
 4. append the `segment` entry to the ledger (fsync'd). Only now is it sealed.
A crash between steps leaves files the verifier reports and recovery can finish;
it never leaves a ledger entry pointing at a file that does not exist.
"""

import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..clock import Clock
from ..segments.store import (
    SEALED_MODE,
    Store,
    fsync_dir,
    manifest_path,
    partial_path,
    write_sealed_file,
)
from .bmff import hash_layout
from .canonical import canonical_bytes, sha256_hex
from .documents import signed
from .keys import DeviceIdentity
from .ledger import Ledger

MANIFEST_VERSION = 1


@dataclass
class ClosedSegment:
    """What the writer knows about a segment it has just closed."""

    session_id: str
    officer_id: str
    seq: int
    final_path: Path
    start_us: int  # monotonic µs of the first video frame
    end_us: int  # monotonic µs just after the last video frame
    video: dict
    audio: dict | None
    prerecord: dict | None = None
    notes: list = field(default_factory=list)


class Sealer:
    def __init__(self, store: Store, identity: DeviceIdentity, ledger: Ledger, clock: Clock):
        self.store, self.identity, self.ledger, self.clock = store, identity, ledger, clock
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sealer", daemon=True)
        self.errors: list[BaseException] = []
        self.sealed: list[dict] = []
        self._thread.start()

    # Jobs run strictly in submission order: segments, then session entries.
    def seal(self, segment: ClosedSegment):
        self._queue.put(("segment", segment))

    def record(self, entry_type: str, body: dict, at: dict):
        self._queue.put(("entry", (entry_type, body, at)))

    def drain(self):
        """Block until every submitted job is done; re-raise the first failure."""
        self._queue.join()
        if self.errors:
            raise self.errors[0]

    def close(self):
        self.drain()
        self._queue.put(None)
        self._thread.join()

    def _run(self):
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                kind, payload = job
                if kind == "segment":
                    self.sealed.append(self._seal_segment(payload))
                else:
                    self.ledger.append(*payload)
            except BaseException as exc:  # kept and re-raised by drain(); evidence untouched
                self.errors.append(exc)
            finally:
                self._queue.task_done()

    def _seal_segment(self, seg: ClosedSegment) -> dict:
        partial = partial_path(seg.final_path)
        layout = hash_layout(partial)
        manifest = signed(
            self.identity,
            {
                "v": MANIFEST_VERSION,
                "type": "segment-manifest",
                "device_id": self.identity.device_id,
                "officer_id": seg.officer_id,
                "session_id": seg.session_id,
                "seq": seg.seq,
                "file": {"name": seg.final_path.name, **layout["file"]},
                "init": layout["init"],
                "fragments": layout["fragments"],
                "tail": layout["tail"],
                "start": self.clock.stamp(seg.start_us * 1000),
                "end": self.clock.stamp(seg.end_us * 1000),
                "duration_us": seg.end_us - seg.start_us,
                "video": seg.video,
                "audio": seg.audio,
                "prerecord": seg.prerecord,
                "notes": seg.notes,
            },
        )
        manifest_bytes = canonical_bytes(manifest)
        mpath = manifest_path(seg.final_path)
        write_sealed_file(mpath, manifest_bytes)
        os.chmod(partial, SEALED_MODE)
        os.rename(partial, seg.final_path)
        fsync_dir(seg.final_path.parent)
        entry = self.ledger.append(
            "segment",
            {
                "session_id": seg.session_id,
                "seq": seg.seq,
                "path": self.store.relative(seg.final_path),
                "file_sha256": layout["file"]["sha256"],
                "file_size": layout["file"]["size"],
                "manifest": self.store.relative(mpath),
                "manifest_sha256": sha256_hex(manifest_bytes),
                "start_mono_us": seg.start_us,
                "end_mono_us": seg.end_us,
                "duration_us": seg.end_us - seg.start_us,
                "frames": seg.video["frames"],
            },
            self.clock.stamp(),
        )
        return {"entry": entry, "manifest": manifest}
