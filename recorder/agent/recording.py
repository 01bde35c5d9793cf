"""Recording sessions into evidence: one store, one identity, one ledger, one pipeline.

    body -> encoders -> RecordingRouter -> (PrerecordRing | SegmentWriter) -> Sealer -> ledger

The SessionRecorder owns the ledger entries that are not segments (device_init,
agent start/stop, session start/stop, transitions, marks, stealth, interruptions,
explanations, warnings, repairs) and submits them through the sealer's queue, so the
ledger's order is the order things happened in. It is driven by the state machine
(recorder/agent/state.py) on the agent's thread; the pipeline tells it from its own
thread when a session has closed.

At start-up it repairs and recovers what a dead run left (a torn ledger line, sessions
never stopped, segments never sealed: seal/recovery.py) and says which interrupted
session, if any, recording should resume after.
"""

import errno
import logging
import os
import uuid
from contextlib import ExitStack

from .. import __version__
from ..clock import Clock, boot_id
from ..config import Config
from ..encryption import Recipient
from ..errors import CaptureError, StoreError
from ..evidence import entries
from ..evidence.canonical import canonical_bytes, sha256_hex
from ..evidence.history import History
from ..evidence.layout import StoreLayout
from ..evidence.ledger import LedgerText
from ..evidence.modes import FAULT, STORAGE
from ..pipeline.ring import PrerecordRing
from ..pipeline.router import RecordingRouter
from ..pipeline.writer import SegmentWriter, Session
from ..seal.identity import DeviceIdentity, identity_dir_for, open_identity, require_identity
from ..seal.ledger import Ledger
from ..seal.recovery import SessionFacts, interruption_facts, recover_open_sessions, seal_cut_segment
from ..seal.sealer import Sealer
from ..store.ballast import Ballast
from ..store.disk import Store

log = logging.getLogger("recorder")


class SessionRecorder:
    def __init__(self, config: Config, store_root, clock: Clock, on_write_error=None, on_seal_error=None,
                 identity_dir=None, create_identity: bool = True):
        """on_write_error / on_seal_error(exc): called at once, from the pipeline's or the
        sealer's thread, when writing or sealing fails (the agent's pipeline monitor).
        identity_dir: the device's keys (default: [device] identity, or beside the store);
        create_identity: make a key when there is none (the simulated body; the device's
        run refuses instead, before anything is written)."""
        self.config, self.clock = config, clock
        identity_dir = identity_dir or identity_dir_for(store_root, config.device.identity)
        if not create_identity:
            require_identity(identity_dir, StoreLayout(store_root))
        self.store = Store(store_root).prepare()
        self.identity = self._identity(identity_dir, create_identity)
        self.ledger = Ledger(self.store.ledger_path, self.identity)
        opening = self.ledger.opening_entries(__version__)  # a torn last line is kept as found
        self.sealer = Sealer(self.store, self.identity, self.ledger, clock, on_error=on_seal_error)
        self.ballast = Ballast(self.store.media_dir)
        self.sealer.make_room = self._make_room
        self.on_storage_full = None  # on_storage_full(exc): the disk filled (the agent's pipeline monitor)
        self._closed = False
        self.capture: dict | None = None  # the sources this run records from (agent_started)
        # position_at(at_ns) -> a mark's position (telemetry/track.py); None: no receiver known yet
        self.position_at = lambda at_ns: None
        clock.on_step(self._clock_stepped)
        try:
            for entry_type, body in opening:
                self.sealer.record(entry_type, body, clock.stamp())
            self.ring = PrerecordRing(config.prerecord.seconds, config.prerecord.max_bytes, config.prerecord.audio)
            self.writer = SegmentWriter(self.store, config.segments.seconds, config.video.fps, self.sealer.seal,
                                        metadata_for=self._file_metadata, gop_seconds=config.video.gop_seconds,
                                        recipients=[Recipient.parse(r) for r in config.encryption.recipients])
            self.router = RecordingRouter(self.ring, self.writer, self._session_ended, on_error=on_write_error)
        except BaseException:
            self.sealer.close()
            raise
        self.sessions: list[dict] = []  # one summary per session of this run (the CLI prints them)
        # listener(session_id, stop_cause, closed_at_ns) once a session is closed (pipeline thread)
        self.session_listeners: list = []
        self._marks = 0
        self._starts: dict[str, SessionFacts] = {}  # sessions of this run, for sealing a cut segment
        self._stops: dict[str, dict] = {}  # what each closed session's stop said, for its interruption
        self.ballast.restore()

    def _identity(self, identity_dir, create: bool) -> DeviceIdentity:
        try:
            return open_identity(identity_dir, self.store, create)
        except OSError as exc:
            raise StoreError(f"cannot create the device key in {identity_dir}: {exc.strerror}") from None

    def agent_started(self, capture: dict | None):
        """The run begins: `agent_start`, with the capture sources it records from (None when
        none could be opened; the run then ends at once)."""
        self.capture = capture
        config_sha256 = sha256_hex(canonical_bytes(self.config.as_dict()))
        self.sealer.record("agent_start",
                           entries.agent_start(__version__, os.getpid(), config_sha256, capture, boot_id(),
                                               self.clock.monotonic_id),
                           self.clock.stamp())

    def recover(self) -> dict | None:
        """After agent_start: seal and close what a dead run left, with an interruption entry
        for each session it cut, and return the interrupted session to resume after, if any
        ({"session_id", "interruption": INDEX:SHA256, "cause", "detail"}): the latest session, when an
        interruption cut it and nothing has recorded on after it."""
        self.sealer.drain()  # the ledger as it stands: everything of this run so far is in it
        history = History.read(LedgerText.parse(self.ledger.path.read_bytes()))
        latest = history.to_resume()
        resume = None
        if latest is not None:
            resume = {"session_id": latest.session_id, "interruption": latest.interruption_ref,
                      "cause": latest.interruption["body"]["cause"], "detail": latest.interruption["body"]["detail"]}
        now = self.clock.stamp()
        gop_frames = self.config.video.fps * self.config.video.gop_seconds
        for cut in recover_open_sessions(self.store, self.sealer, history, boot_id(), now, gop_frames):
            refs: list = []
            self.sealer.record("interruption",
                               entries.interruption(cut.session.session_id, cut.cause, cut.detail, **cut.facts()),
                               now, then=refs.append)
            self.sealer.drain()
            resume = {"session_id": cut.session.session_id, "interruption": refs[0], "cause": cut.cause,
                      "detail": cut.detail}
            log.warning("recovered session %s (%s): %s", cut.session.session_id, cut.cause, cut.detail,
                        extra={"session_id": cut.session.session_id, "cause": cut.cause})
        return resume

    def _file_metadata(self, session: Session, seq: int, start_us: int) -> dict:
        """What an MP4 says of itself in ffprobe and ordinary players (the manifest is the
        authority; this only makes a file found on its own say where it belongs)."""
        device = self.identity.device_id
        return {
            "creation_time": self.clock.stamp(start_us * 1000)["wall"],
            "title": f"{device} session {session.session_id} segment {seq}",
            "artist": session.officer_id,
            # start_mono_us: where the file starts on the monotonic clock, for sealing it after a
            # crash or a power cut (store/recovery.py), when the run that wrote it is gone
            "comment": (f"device {device}; officer {session.officer_id}; session {session.session_id}; "
                        f"segment {seq}; start_mono_us {start_us}"
                        + ("; SIMULATED" if self.capture and self.capture["simulated"] else "")),
        }

    @property
    def outputs(self) -> list:
        """Where encoders deliver packets (picamera2's Output interface)."""
        return [self.router]

    def start_recording(self, cause: str, at_ns: int | None = None, resumes: dict | None = None) -> str:
        """resumes: the interrupted session this one records on after,
        {"session_id", "interruption": INDEX:SHA256 or a pending reference, …}."""
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        session = Session(
            session_id=uuid.uuid4().hex,
            officer_id=self.config.device.officer_id,
            press_us=at_ns // 1000,
            prerecord_s=self.config.prerecord.seconds,
            prerecord_audio=self.config.prerecord.audio,
        )
        video, audio = self.config.video, self.config.audio
        body = entries.session_start(
            session.session_id, session.officer_id, cause,
            prerecord={"configured_s": session.prerecord_s, "audio": session.prerecord_audio},
            video={"codec": "h264", "width": video.width, "height": video.height, "frame_rate": f"{video.fps}/1"},
            audio=({"codec": audio.codec, "sample_rate": audio.sample_rate, "channels": audio.channels}
                   if audio.enabled else None),
            capture=self.capture,
            resumes=None if resumes is None else {"session_id": resumes["session_id"],
                                                  "interruption": self._ref(resumes["interruption"])},
        )
        at = self.clock.stamp(at_ns)
        self.sealer.record("session_start", body, at)
        self._starts[session.session_id] = SessionFacts(session.session_id, body, at,
                                                        self.config.video.fps * self.config.video.gop_seconds)
        self.router.begin_session(session)
        self._marks = 0
        log.info("recording started (%s), session %s", cause, session.session_id,
                 extra={"session_id": session.session_id, "cause": cause})
        return session.session_id

    def stop_recording(self, cause: str, at_ns: int | None = None):
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        self.router.request_stop(at_ns // 1000, cause)

    def mark(self, session_id: str, cause: str, at_ns: int | None = None) -> int:
        """A key moment in the current session (regulation art. 7); returns its number."""
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        self._marks += 1
        self.sealer.record("mark", entries.mark(session_id, self._marks, cause, self.position_at(at_ns)),
                           self.clock.stamp(at_ns))
        log.info("mark %d (%s)", self._marks, cause)
        return self._marks

    def record_transition(self, source: str, target: str, cause: str, at_ns: int, session_id: str | None,
                          detail: str | None = None):
        self.sealer.record("transition", entries.transition(source, target, cause, session_id, detail),
                           self.clock.stamp(at_ns))

    def _clock_stepped(self, step):
        """The wall clock jumped (clock.ClockStep): the size and both mappings go into the
        ledger; media time went on untouched."""
        if self._closed:
            return
        log.warning("the wall clock stepped by %+.3f s (%s: %s -> %s)", step.step_ns / 1e9, step.cause,
                    step.before.source, step.after.source)
        self.sealer.record("clock_step", entries.clock_step(step.step_ns // 1000, step.cause, step.before.record(),
                                                            step.after.record()), self.clock.stamp(step.at_ns))

    def record_stealth(self, enabled: bool, cause: str, at_ns: int):
        """Stealth changes what bystanders can see of the recording: it belongs in the evidence."""
        self.sealer.record("stealth", entries.stealth(enabled, cause), self.clock.stamp(at_ns))

    def _session_ended(self, session: Session, totals: dict, stop, failure):
        """On the pipeline's thread: the writer closed the session's last segment, or gave it
        up after a write failure; the segment it was writing is then sealed as recovered
        (trimmed to its whole fragments), and the failure decides the stop's cause."""
        stop_us, cause = stop if stop else (totals["end_us"], "capture-ended")
        totals = dict(totals)
        recovered = None
        if failure is not None:
            stop_us = self.clock.monotonic_ns() // 1000
            cause = STORAGE if _disk_full(failure) else FAULT
            if not isinstance(failure, CaptureError):
                recovered = self._seal_cut_segment(session, totals, cause, failure)
        end_us = totals["end_us"] if totals["end_us"] is not None else stop_us
        duration = 0 if totals["start_us"] is None else end_us - totals["start_us"]
        body = entries.session_stop(
            session.session_id, cause, totals["segments"], totals["frames"], duration,
            end=self.clock.stamp(end_us * 1000), marks=self._marks, pipeline=totals.get("pipeline"),
        )
        self.sealer.record("session_stop", body, self.clock.stamp(stop_us * 1000))
        self.sessions.append(body)
        self._stops[session.session_id] = {"end": body["end"], "frames": body["frames"], "recovered": recovered}
        log.info("recording stopped (%s): %d segments, %d frames", cause, totals["segments"], totals["frames"],
                 extra={"session_id": session.session_id, "cause": cause, "segment": totals["segments"]})
        closed_ns = self.clock.monotonic_ns()
        for listener in self.session_listeners:
            listener(session.session_id, cause, closed_ns)

    def _seal_cut_segment(self, session: Session, totals: dict, cause: str, failure) -> dict | None:
        """The segment a write failure cut: sealed as recovered, counted in the totals."""
        seq = totals.get("open_seq")
        if seq is None:
            return None
        if cause == STORAGE:
            self._make_room(failure)
        set_aside: list = []
        try:
            cut = seal_cut_segment(self.store, self.sealer, self._starts[session.session_id], seq, seq - 1, cause,
                                   totals["end_us"], set_aside)
        except OSError as exc:  # kept as found; the next start tries again
            log.error("the segment cut by the failure could not be sealed now: %s", exc)
            return None
        if cut is None:
            return {"set_aside": set_aside}
        if totals["start_us"] is None:
            totals["start_us"] = cut.start_us
        totals["segments"] += 1
        totals["frames"] += cut.frames
        totals["end_us"] = cut.end_us
        return {"segment": cut.as_dict(), "set_aside": set_aside}

    def _make_room(self, exc) -> bool:
        """The disk is full: release the ballast for sealing, and say so (storage monitor)."""
        freed = self.ballast.release()
        if self.on_storage_full is not None:
            self.on_storage_full(exc)
        return freed > 0

    def storage_recovered(self):
        """Space is back: hold the ballast again before recording into it."""
        self.ballast.restore()

    # -- interruptions, explanations, warnings --------------------------------------------------
    def record_interruption(self, session_id: str | None, cause: str, detail: str, at_ns: int) -> "PendingRef":
        """The interruption entry (after the session's stop, when it cut one); returns a
        reference that holds the entry's INDEX:SHA256 once it is in the ledger."""
        facts = {}
        stop = self._stops.get(session_id) if session_id else None
        if stop is not None:
            cut = stop["recovered"]
            facts = interruption_facts(stop["end"], ([cut["segment"]] if cut.get("segment") else []) if cut else None,
                                       cut["set_aside"] if cut else None)
        ref = PendingRef()
        self.sealer.record("interruption", entries.interruption(session_id, cause, detail, **facts),
                           self.clock.stamp(at_ns), then=ref.set)
        return ref

    def record_explanation(self, session_id: str, interruption, window, ended_by: str, at_ns: int):
        """The explanation window after a resume; window: (start_ns, end_ns, speech_ms, spoke),
        or None when nothing could listen (no microphone, no detector)."""
        start_ns, end_ns, speech_ms, spoke = window if window is not None else (at_ns, at_ns, 0, False)
        self.sealer.record("explanation",
                           entries.explanation(session_id, self._ref(interruption), self.clock.stamp(start_ns),
                                               self.clock.stamp(end_ns), ended_by, speech_ms, spoke),
                           self.clock.stamp(at_ns))

    def record_warning(self, kind: str, level: str, detail: str, at_ns: int):
        self.sealer.record("warning", entries.warning(kind, level, detail), self.clock.stamp(at_ns))

    def _ref(self, ref) -> str:
        """INDEX:SHA256 of an entry already submitted (waits for the sealer when needed)."""
        if isinstance(ref, PendingRef):
            if ref.value is None:
                self.sealer.drain()
            return ref.value
        return ref

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


class PendingRef:
    """An entry's INDEX:SHA256, known once the sealer has appended it."""

    def __init__(self):
        self.value: str | None = None

    def set(self, value: str):
        self.value = value


def _disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC
