"""Sealing: turn a closed `.partial` segment into evidence.

Steps, in this order, on one worker thread so ledger entries keep their order:
 1. hash the file and each fragment (the writer already fsync'd it);
 2. write the signed manifest next to it (read-only, fsync'd);
 3. rename `.partial` -> `.mp4`, make it read-only, fsync the directory;
 4. append the `segment` entry to the ledger (fsync'd). Only now is it sealed.
A crash between steps leaves files the verifier reports and recovery can finish;
it never leaves a ledger entry pointing at a file that does not exist.

A failure is reported the moment it happens (`on_error`, called on the sealer's
thread, as picamera2's outputs report through a callback rather than raising into
the encoder) and kept in `failure`; the sealer goes on with the jobs after it, so a
failed manifest write does not stop the session's stop entry from being tried.
"""

import errno
import json
import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..clock import Clock
from ..evidence import entries
from ..evidence.bmff import hash_layout
from ..evidence.canonical import canonical_bytes, sha256_hex
from ..evidence.documents import signed
from ..evidence.files import hash_regular
from ..evidence.layout import index_path, manifest_path, partial_path
from ..store.disk import SEALED_MODE, Store, fsync_dir, write_sealed_file
from ..workers import close_at_exit
from .identity import DeviceIdentity
from .ledger import Ledger

log = logging.getLogger(__name__)


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
    pipeline: dict | None = None  # what the pipeline counted of its packets (entries.PIPELINE_COUNTS)
    # Sealed after a crash or power cut (seal/recovery.py): the run that wrote it is gone, so
    # its times come as stamps placed on the wall clock by its session's start, not from the
    # current monotonic clock; `recovered` goes into the manifest as is.
    start_stamp: dict | None = None
    end_stamp: dict | None = None
    recovered: dict | None = None
    clock: list | None = None  # the mappings it was placed with, when not the running clock's
    track: dict | None = None  # where it was recorded, when not the running agent's track
    # An age-encrypted segment (pipeline/encrypted.py EncryptedSegmentFile.facts()): the
    # ciphertext's size and hash, the plaintext's layout, the fragment index's `.partial`
    encrypted: dict | None = None


class Sealer:
    def __init__(self, store: Store, identity: DeviceIdentity, ledger: Ledger, clock: Clock, on_error=None):
        self.store, self.identity, self.ledger, self.clock = store, identity, ledger, clock
        self.on_error = on_error  # on_error(exc), on the sealer thread, at once
        self.make_room = None  # make_room(exc) -> bool: free space after ENOSPC (the ballast)
        # track_between(start_us, end_us) -> the manifest's track (evidence.entries.track);
        # the agent gives its receiver's track (telemetry/track.py)
        self.track_between = lambda start_us, end_us: entries.track("none", [])
        self.failure: BaseException | None = None  # the first failure
        self.sealed_count = 0
        self.last_sealed: dict | None = None  # {"entry", "manifest"} of the latest segment
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        # Not a daemon: the interpreter waits for it, so queued seals are never dropped at exit.
        self._thread = threading.Thread(target=self._run, name="sealer")
        self._thread.start()
        close_at_exit(self)

    # Jobs run strictly in submission order: segments, then session entries.
    def seal(self, segment: ClosedSegment):
        self._queue.put(("segment", segment))

    def record(self, entry_type: str, body: dict, at: dict, then=None):
        """then(ref): called on the sealer's thread with the entry's INDEX:SHA256 once it is
        in the ledger (an entry that a later one must name, e.g. an interruption)."""
        self._queue.put(("entry", (entry_type, body, at, then)))

    def drain(self):
        """Block until every submitted job is done; re-raise the first failure."""
        self._queue.join()
        if self.failure is not None:
            raise self.failure

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self):
        """Seal everything queued and stop the thread. Idempotent. The first failure is
        raised here only when nobody was told of it as it happened (no `on_error`)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.join()
        finally:
            self._queue.put(None)
            self._thread.join()
        if self.failure is not None and self.on_error is None:
            raise self.failure

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _run(self):
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                kind, payload = job
                if kind == "segment":
                    self.last_sealed = self._with_room(lambda: self._seal_segment(payload))
                    self.sealed_count += 1
                    log.info("sealed %s", payload.final_path.name,
                             extra={"session_id": payload.session_id, "segment": payload.seq})
                elif kind == "segment-finish":
                    self.last_sealed = self._with_room(lambda: self._finish(payload, manifest_path(payload)))
                    self.sealed_count += 1
                else:
                    entry_type, body, at, then = payload
                    self._with_room(lambda: self.ledger.append(entry_type, body, at))
                    if then is not None:
                        then(self.ledger.head_ref)
            except BaseException as exc:  # reported at once; evidence already sealed is untouched
                self._failed(exc)
            finally:
                self._queue.task_done()

    def _failed(self, exc: BaseException):
        log.error("sealing failed: %s", exc)
        if self.failure is None:
            self.failure = exc
        if self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:  # a listener's bug must not stop sealing
                log.exception("sealer error listener failed")

    def _with_room(self, job):
        """Run a job; on a full disk, have the ballast's room given back (store/ballast.py)
        and try it once more. make_room(exc) says whether it freed anything."""
        try:
            return job()
        except OSError as exc:
            if exc.errno != errno.ENOSPC or self.make_room is None or not self.make_room(exc):
                raise
            log.warning("sealing met a full disk; trying again in the ballast's room")
            return job()

    def _seal_segment(self, seg: ClosedSegment) -> dict:
        partial = partial_path(seg.final_path)
        mpath = manifest_path(seg.final_path)
        if mpath.exists():  # a second try (a full disk met after the manifest was written)
            return self._finish(seg.final_path, mpath)
        encryption = None
        if seg.encrypted is not None:
            layout, encryption = self._seal_index(seg)
        else:
            layout = hash_layout(partial)
        manifest = signed(
            self.identity,
            entries.manifest(
                device_id=self.identity.device_id,
                officer_id=seg.officer_id,
                session_id=seg.session_id,
                seq=seg.seq,
                file_name=seg.final_path.name,
                layout=layout,
                start=seg.start_stamp or self.clock.stamp(seg.start_us * 1000),
                end=seg.end_stamp or self.clock.stamp(seg.end_us * 1000),
                video=seg.video,
                audio=seg.audio,
                prerecord=seg.prerecord,
                notes=seg.notes,
                pipeline=seg.pipeline,
                recovered=seg.recovered,
                clock=seg.clock or [m.record() for m in self.clock.mappings_between(seg.start_us * 1000,
                                                                                    seg.end_us * 1000)],
                track=seg.track or self.track_between(seg.start_us, seg.end_us),
                encryption=encryption,
            ),
        )
        write_sealed_file(mpath, canonical_bytes(manifest))
        return self._finish(seg.final_path, mpath)

    @staticmethod
    def _seal_index(seg: ClosedSegment) -> tuple[dict, dict]:
        """An encrypted segment: its fragment index sealed beside it (the writer's `.partial`
        completed: store/disk.py), and the manifest's layout and `encryption` from what the
        writer counted — the ciphertext's hash as it was written, never re-read."""
        facts = seg.encrypted
        sealed_index = index_path(seg.final_path)
        if not sealed_index.exists():
            data = facts.get("index_bytes")  # recovery's: the lines of the fragments kept
            write_sealed_file(sealed_index, data if data is not None else Path(facts["index_partial"]).read_bytes())
        index_size, index_sha256 = hash_regular(sealed_index)
        layout = {"file": facts["file"], "init": facts["init"], "fragments": facts["fragments"], "tail": facts["tail"]}
        encryption = entries.encryption(
            facts["recipients"], facts["header_size"], facts["final_chunk"], facts["plaintext"],
            {"name": sealed_index.name, "size": index_size, "sha256": index_sha256})
        return layout, encryption

    def finish(self, final_path: Path):
        """Finish a seal a crash cut short after its manifest was written (seal/recovery.py):
        the rename, if it had not happened, and the ledger entry, from the manifest."""
        self._queue.put(("segment-finish", final_path))

    def _finish(self, final_path: Path, mpath: Path) -> dict:
        """Steps 3 and 4, from the manifest on disk; each step done only if not done yet."""
        manifest_bytes = mpath.read_bytes()
        manifest = json.loads(manifest_bytes)
        partial = partial_path(final_path)
        if partial.exists():
            os.chmod(partial, SEALED_MODE)
            os.rename(partial, final_path)
        fsync_dir(final_path.parent)
        entry = self.ledger.append(
            "segment",
            entries.segment(
                session_id=manifest["session_id"],
                seq=manifest["seq"],
                path=self.store.relative(final_path),
                file_sha256=manifest["file"]["sha256"],
                file_size=manifest["file"]["size"],
                manifest=self.store.relative(mpath),
                manifest_sha256=sha256_hex(manifest_bytes),
                start_mono_us=manifest["start"]["mono_us"],
                end_mono_us=manifest["end"]["mono_us"],
                frames=manifest["video"]["frames"],
            ),
            self.clock.stamp(),
        )
        return {"entry": entry, "manifest": manifest}
