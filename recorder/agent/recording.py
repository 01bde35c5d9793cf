"""Recording sessions into evidence: one store, one identity, one ledger, one pipeline.

    body -> encoders -> RecordingRouter -> (PrerecordRing | SegmentWriter) -> Sealer -> ledger

The SessionRecorder owns the ledger entries that are not segments (device_init,
agent start/stop, session start/stop, transitions, marks, stealth) and submits them
through the sealer's queue, so the ledger's order is the order things happened in.
It is driven by the state machine (recorder/agent/state.py) on the agent's thread;
the pipeline tells it from its own thread when a session has closed.
"""

import logging
import os
import uuid
from contextlib import ExitStack

from .. import __version__
from ..clock import Clock
from ..config import Config
from ..errors import CaptureError, StoreError
from ..evidence import entries
from ..evidence.canonical import canonical_bytes, sha256_hex
from ..evidence.keys import public_key_pem
from ..pipeline.ring import PrerecordRing
from ..pipeline.router import RecordingRouter
from ..pipeline.writer import SegmentWriter, Session
from ..seal.identity import DeviceIdentity
from ..seal.ledger import Ledger
from ..seal.sealer import Sealer
from ..store.disk import Store

log = logging.getLogger("recorder")


class SessionRecorder:
    def __init__(self, config: Config, store_root, clock: Clock, on_write_error=None, on_seal_error=None):
        """on_write_error / on_seal_error(exc): called at once, from the pipeline's or the
        sealer's thread, when writing or sealing fails (the agent's pipeline monitor)."""
        self.config, self.clock = config, clock
        self.store = Store(store_root).prepare()
        self.identity = self._identity()
        self.ledger = Ledger(self.store.ledger_path, self.identity)
        self.sealer = Sealer(self.store, self.identity, self.ledger, clock, on_error=on_seal_error)
        self._closed = False
        self.capture: dict | None = None  # the sources this run records from (agent_started)
        try:
            if self.ledger.next_index == 0:
                self.sealer.record(
                    "device_init",
                    entries.device_init(public_key_pem(self.identity.public_key).decode("ascii"), __version__),
                    clock.stamp(),
                )
            self.ring = PrerecordRing(config.prerecord.seconds, config.prerecord.max_bytes, config.prerecord.audio)
            self.writer = SegmentWriter(self.store, config.segments.seconds, config.video.fps, self.sealer.seal,
                                        metadata_for=self._file_metadata, gop_seconds=config.video.gop_seconds)
            self.router = RecordingRouter(self.ring, self.writer, self._session_ended, on_error=on_write_error)
        except BaseException:
            self.sealer.close()
            raise
        self.sessions: list[dict] = []  # one summary per session of this run (the CLI prints them)
        self.session_listeners: list = []  # listener(session_id, closed_at_ns) once a session is closed
        self._marks = 0

    def _identity(self) -> DeviceIdentity:
        try:
            return DeviceIdentity.load_or_create(self.store.device_dir)
        except OSError as exc:
            raise StoreError(f"cannot create the device key in {self.store.device_dir}: {exc.strerror}") from None

    def agent_started(self, capture: dict | None):
        """The run begins: `agent_start`, with the capture sources it records from (None when
        none could be opened; the run then ends at once)."""
        self.capture = capture
        config_sha256 = sha256_hex(canonical_bytes(self.config.as_dict()))
        self.sealer.record("agent_start", entries.agent_start(__version__, os.getpid(), config_sha256, capture),
                           self.clock.stamp())

    def _file_metadata(self, session: Session, seq: int, start_us: int) -> dict:
        """What an MP4 says of itself in ffprobe and ordinary players (the manifest is the
        authority; this only makes a file found on its own say where it belongs)."""
        device = self.identity.device_id
        return {
            "creation_time": self.clock.stamp(start_us * 1000)["wall"],
            "title": f"{device} session {session.session_id} segment {seq}",
            "artist": session.officer_id,
            "comment": (f"device {device}; officer {session.officer_id}; session {session.session_id}; "
                        f"segment {seq}" + ("; SIMULATED" if self.capture and self.capture["simulated"] else "")),
        }

    @property
    def outputs(self) -> list:
        """Where encoders deliver packets (picamera2's Output interface)."""
        return [self.router]

    def start_recording(self, cause: str, at_ns: int | None = None) -> str:
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        session = Session(
            session_id=uuid.uuid4().hex,
            officer_id=self.config.device.officer_id,
            press_us=at_ns // 1000,
            prerecord_s=self.config.prerecord.seconds,
            prerecord_audio=self.config.prerecord.audio,
        )
        video, audio = self.config.video, self.config.audio
        self.sealer.record(
            "session_start",
            entries.session_start(
                session.session_id, session.officer_id, cause,
                prerecord={"configured_s": session.prerecord_s, "audio": session.prerecord_audio},
                video={"codec": "h264", "width": video.width, "height": video.height,
                       "frame_rate": f"{video.fps}/1"},
                audio=({"codec": audio.codec, "sample_rate": audio.sample_rate, "channels": audio.channels}
                       if audio.enabled else None),
                capture=self.capture,
            ),
            self.clock.stamp(at_ns),
        )
        self.router.begin_session(session)
        self._marks = 0
        log.info("recording started (%s), session %s", cause, session.session_id)
        return session.session_id

    def stop_recording(self, cause: str, at_ns: int | None = None):
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        self.router.request_stop(at_ns // 1000, cause)

    def mark(self, session_id: str, cause: str, at_ns: int | None = None) -> int:
        """A key moment in the current session (regulation art. 7); returns its number."""
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        self._marks += 1
        self.sealer.record("mark", entries.mark(session_id, self._marks, cause), self.clock.stamp(at_ns))
        log.info("mark %d (%s)", self._marks, cause)
        return self._marks

    def record_transition(self, source: str, target: str, cause: str, at_ns: int, session_id: str | None,
                          detail: str | None = None):
        self.sealer.record("transition", entries.transition(source, target, cause, session_id, detail),
                           self.clock.stamp(at_ns))

    def record_stealth(self, enabled: bool, cause: str, at_ns: int):
        """Stealth changes what bystanders can see of the recording: it belongs in the evidence."""
        self.sealer.record("stealth", entries.stealth(enabled, cause), self.clock.stamp(at_ns))

    def _session_ended(self, session: Session, totals: dict, stop, failure):
        """On the pipeline's thread: the writer closed the session's last segment (or gave
        up after a write failure, which becomes the stop's cause)."""
        stop_us, cause = stop if stop else (totals["end_us"], "capture-ended")
        if failure is not None:
            stop_us = self.clock.monotonic_ns() // 1000
            cause = "capture-failed" if isinstance(failure, CaptureError) else "write-failed"
        end_us = totals["end_us"] if totals["end_us"] is not None else stop_us
        duration = 0 if totals["start_us"] is None else end_us - totals["start_us"]
        body = entries.session_stop(
            session.session_id, cause, totals["segments"], totals["frames"], duration,
            end=self.clock.stamp(end_us * 1000), marks=self._marks,
        )
        self.sealer.record("session_stop", body, self.clock.stamp(stop_us * 1000))
        self.sessions.append(body)
        log.info("recording stopped (%s): %d segments, %d frames", cause, totals["segments"], totals["frames"])
        closed_ns = self.clock.monotonic_ns()
        for listener in self.session_listeners:
            listener(session.session_id, closed_ns)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, reason: str):
        """Release everything held, seal it, and close the ledger for this run. Idempotent;
        every step runs even when an earlier one fails, and the sealer drains last."""
        if self._closed:
            return
        self._closed = True
        with ExitStack() as stack:
            stack.callback(self.sealer.close)
            stack.callback(lambda: self.sealer.record("agent_stop", entries.agent_stop(reason), self.clock.stamp()))
            self.router.close()
