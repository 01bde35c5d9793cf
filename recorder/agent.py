"""The agent: one store, one identity, one ledger, and the recording pipeline.

    capture -> encoders -> RecordingRouter -> (PrerecordRing | SegmentWriter) -> Sealer -> ledger

The agent owns the ledger entries that are not segments (device_init, agent
start/stop, session start/stop) and submits them through the sealer's queue,
so the ledger's order is the order things happened in.
"""

import logging
import os
import uuid

from . import __version__
from .clock import Clock
from .config import Config
from .errors import StoreError
from .segments.ring import PrerecordRing
from .segments.router import RecordingRouter
from .segments.store import Store
from .segments.writer import SegmentWriter, Session
from .sign.canonical import canonical_bytes, sha256_hex
from .sign.keys import DeviceIdentity, public_key_pem
from .sign.ledger import Ledger
from .sign.sealer import Sealer

log = logging.getLogger("recorder")


class Agent:
    def __init__(self, config: Config, store_root, clock: Clock):
        self.config, self.clock = config, clock
        self.store = Store(store_root).prepare()
        self.identity = self._identity()
        self.ledger = Ledger(self.store.ledger_path, self.identity)
        self.sealer = Sealer(self.store, self.identity, self.ledger, clock)
        if self.ledger.next_index == 0:
            self.sealer.record(
                "device_init",
                {
                    "public_key": public_key_pem(self.identity.public_key).decode("ascii"),
                    "agent_version": __version__,
                },
                clock.stamp(),
            )
        self.sealer.record(
            "agent_start",
            {
                "agent_version": __version__,
                "pid": os.getpid(),
                "config_sha256": sha256_hex(canonical_bytes(config.as_dict())),
            },
            clock.stamp(),
        )
        self.ring = PrerecordRing(
            config.prerecord.seconds, config.prerecord.max_bytes, config.prerecord.audio
        )
        self.writer = SegmentWriter(
            self.store, config.segments.seconds, config.video.fps, self.sealer.seal
        )
        self.router = RecordingRouter(self.ring, self.writer, self._session_ended)
        self.sessions: list[dict] = []
        self.session_listeners: list = []  # called with the session id once a session is closed
        self._marks = 0

    def _identity(self) -> DeviceIdentity:
        try:
            return DeviceIdentity.load_or_create(self.store.device_dir)
        except OSError as exc:
            raise StoreError(f"cannot create the device key in {self.store.device_dir}: {exc.strerror}") from None

    @property
    def recording(self) -> bool:
        return self.router.session is not None

    def start_recording(self, cause: str, at_ns: int | None = None) -> str:
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        session = Session(
            session_id=uuid.uuid4().hex,
            officer_id=self.config.device.officer_id,
            press_us=at_ns // 1000,
            prerecord_s=self.config.prerecord.seconds,
            prerecord_audio=self.config.prerecord.audio,
        )
        video = self.config.video
        audio = self.config.audio
        self.sealer.record(
            "session_start",
            {
                "session_id": session.session_id,
                "officer_id": session.officer_id,
                "cause": cause,
                "prerecord": {"configured_s": session.prerecord_s, "audio": session.prerecord_audio},
                "video": {
                    "codec": "h264",
                    "width": video.width,
                    "height": video.height,
                    "frame_rate": f"{video.fps}/1",
                },
                "audio": (
                    {"codec": audio.codec, "sample_rate": audio.sample_rate, "channels": audio.channels}
                    if audio.enabled
                    else None
                ),
            },
            self.clock.stamp(at_ns),
        )
        self.router.begin_session(session)
        self._marks = 0
        log.info("recording started (%s), session %s", cause, session.session_id)
        return session.session_id

    def stop_recording(self, cause: str, at_ns: int | None = None):
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        self.router.request_stop(at_ns // 1000, cause)

    def mark(self, cause: str, at_ns: int | None = None) -> int:
        """A key moment in the current session (regulation art. 7); returns its number."""
        at_ns = self.clock.monotonic_ns() if at_ns is None else at_ns
        session = self.router.session
        if session is None:
            raise RuntimeError("a mark needs a recording session")
        self._marks += 1
        self.sealer.record(
            "mark",
            {"session_id": session.session_id, "number": self._marks, "cause": cause, "position": None},
            self.clock.stamp(at_ns),
        )
        log.info("mark %d (%s)", self._marks, cause)
        return self._marks

    def record_transition(self, source: str, target: str, cause: str, at_ns: int, session_id: str | None):
        self.sealer.record(
            "transition",
            {"from": source, "to": target, "cause": cause, "session_id": session_id},
            self.clock.stamp(at_ns),
        )

    def record_stealth(self, enabled: bool, cause: str, at_ns: int):
        """Stealth changes what bystanders can see of the recording: it belongs in the evidence."""
        self.sealer.record("stealth", {"enabled": enabled, "cause": cause}, self.clock.stamp(at_ns))

    def _session_ended(self, session: Session, totals: dict, stop):
        stop_us, cause = stop if stop else (totals["end_us"], "capture-ended")
        end_us = totals["end_us"] if totals["end_us"] is not None else stop_us
        duration = 0 if totals["start_us"] is None else end_us - totals["start_us"]
        body = {
            "session_id": session.session_id,
            "cause": cause,
            "segments": totals["segments"],
            "frames": totals["frames"],
            "duration_us": duration,
            "end": self.clock.stamp(end_us * 1000),
            "marks": self._marks,
        }
        self.sealer.record("session_stop", body, self.clock.stamp(stop_us * 1000))
        self.sessions.append(body)
        log.info("recording stopped (%s): %d segments, %d frames", cause, totals["segments"], totals["frames"])
        for listener in self.session_listeners:
            listener(session.session_id)

    def shutdown(self, reason: str):
        """Release everything held, seal it, and close the ledger for this run."""
        self.router.flush()
        self.sealer.record("agent_stop", {"reason": reason}, self.clock.stamp())
        self.sealer.close()
