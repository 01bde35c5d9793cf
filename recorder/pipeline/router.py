"""Where encoded packets go: the pre-record ring while ready, the writer while recording.

The router is the pipeline's picamera2-style Output: encoders (ours or picamera2's)
call `outputframe` from their own threads — on a Pi, picamera2's camera loop. It
only queues the packet and returns: everything else (timestamp ordering, the ring,
muxing, segment close with its fsync, the ring drain at a press) runs on the
pipeline's own thread, so no boundary or press ever stalls a capture source
(picamera2's SplittableOutput closes files away from the encoder for the same reason).

On that thread, packets are put in timestamp order first; then a start moves the
whole ring into the new session followed by every later packet, and a stop cuts at a
timestamp, not at the moment the request arrives, so packets still inside an encoder
land on the right side of the cut. Control requests travel through the same queue as
the packets, so they act exactly between the packets they arrived between.

A failure on the pipeline's thread (a full disk in the muxer, broken timestamps) is
reported at once through `on_error` and ends the open session; the pipeline keeps
running (into the ring) so that capture never sees the error.
"""

import logging
import threading
import time
from collections import deque

from ..errors import CaptureError
from ..workers import close_at_exit
from .interleave import Interleaver
from .packets import Output, Packet
from .ring import PrerecordRing
from .writer import SegmentWriter, Session, StreamTemplate

log = logging.getLogger(__name__)

# Packets queued and not yet handled beyond which storage is too slow: about two minutes of
# 30 fps video with AAC (~77 packets a second); a healthy pipeline holds a few dozen.
BACKLOG_LIMIT_PACKETS = 10_000
# The pipeline's thread looks for packets this often; capture threads never wake it (waking a
# thread per packet makes the capture thread hand the GIL over on its way out of the call).
POLL_S = 0.005


class RecordingRouter(Output):
    def __init__(self, ring: PrerecordRing, writer: SegmentWriter, on_session_end, on_error=None,
                 backlog_limit: int = BACKLOG_LIMIT_PACKETS):
        super().__init__()
        self.ring, self.writer = ring, writer
        self.on_session_end = on_session_end  # (session, totals, stop, failure), on the pipeline thread
        self.on_error = on_error  # (exception), on the pipeline thread, at once
        self._inbox: deque = deque()  # appends and pops are atomic: no lock for a capture thread
        self._control_waiting = threading.Event()  # control requests wake the thread at once
        self._interleaver = Interleaver(self._route)
        writer.late_packets = lambda: self._interleaver.late_packets
        self.session: Session | None = None  # the pipeline thread's view
        self._stop = None  # (timestamp_us, cause) once a stop is requested
        self.backlog_max = 0  # most items ever waiting in the queue (seen by the pipeline thread)
        self.backlog_limit = backlog_limit
        self._backlog_reported = False
        self.failure: BaseException | None = None
        self.last_video_us: int | None = None  # timestamp of the newest video packet received
        # The pipeline thread's heartbeat (time.monotonic_ns, real time even on a simulated
        # clock: systemd's watchdog counts real time): set before each item it handles and each
        # time it finds the queue empty, so it is never older than one item's handling or
        # POLL_S. A hung thread (a muxer stuck in a write, a deadlock) lets it age.
        self.heartbeat_ns = time.monotonic_ns()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="pipeline")
        self._thread.start()
        close_at_exit(self)

    # -- picamera2 Output interface (any thread) -------------------------------------------
    def _add_stream(self, encoder_stream, codec_name, **kwargs):
        audio = getattr(encoder_stream, "type", "video") == "audio"
        self._request(("stream", (audio, StreamTemplate(encoder_stream, codec_name, kwargs))))

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        # Only an append: no lock a capture thread could wait on, no thread woken.
        self._inbox.append(Packet(timestamp, bool(keyframe), bool(audio), frame))
        if not audio:
            self.last_video_us = timestamp  # for the capture monitor's stall check

    def _request(self, item):
        self._inbox.append(item)
        self._control_waiting.set()

    # -- control (the agent's thread) --------------------------------------------------------
    def begin_session(self, session: Session):
        self._request(("begin", session))

    def request_stop(self, timestamp_us: int, cause: str):
        self._request(("stop", (timestamp_us, cause)))

    def flush(self):
        """Capture has ended: release every held packet, close any open session, and
        return once all of it is handled."""
        self._round_trip("flush")

    def wait_idle(self):
        """Return once everything queued so far is handled (a simulated run keeps the
        pipeline in step with simulated time this way)."""
        self._round_trip("sync")

    def _round_trip(self, kind: str):
        done = threading.Event()
        self._request((kind, done))
        done.wait()

    def close(self):
        """Flush, then stop the pipeline thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        self._request(None)
        self._thread.join()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def late_packets(self) -> int:
        return self._interleaver.late_packets

    def stalled_ns(self, now_ns: int | None = None) -> int | None:
        """How long the pipeline thread has not beaten (real time), or None when the thread
        is not running at all (ended, or closed)."""
        if not self._thread.is_alive():
            return None
        return (time.monotonic_ns() if now_ns is None else now_ns) - self.heartbeat_ns

    # -- the pipeline thread -----------------------------------------------------------------
    def _run(self):
        while True:
            self.heartbeat_ns = time.monotonic_ns()  # the queue is empty (or this is the start)
            while self._inbox:
                self.heartbeat_ns = time.monotonic_ns()
                item = self._inbox.popleft()
                if item is None:
                    return
                if isinstance(item, Packet):
                    self._handle(self._packet, item)
                elif item[0] in ("flush", "sync"):
                    if item[0] == "flush":
                        self._handle(self._flush)
                    item[1].set()
                else:
                    self._handle(self._control, *item)
            self._control_waiting.wait(POLL_S)
            self._control_waiting.clear()

    def _handle(self, action, *args):
        try:
            action(*args)
        except Exception as exc:
            self._failed(exc)

    def _packet(self, packet: Packet):
        behind = len(self._inbox)
        self.backlog_max = max(self.backlog_max, behind)
        if behind > self.backlog_limit and not self._backlog_reported:
            self._backlog_reported = True
            self._failed(OSError(f"the pipeline is {behind} packets behind capture: storage cannot keep up"))
        self._interleaver.push(packet)

    def _flush(self):
        self._interleaver.flush()
        if self.session is not None:
            self._finish_session()

    def _control(self, kind, argument):
        if kind == "stream":
            audio, template = argument
            self.writer.add_stream(audio, template)
            self._interleaver.add_stream(audio)
        elif kind == "begin":
            self._begin(argument)
        elif kind == "stop" and self.session is not None and self._stop is None:
            self._stop = argument

    def _begin(self, session: Session):
        if self.session is not None:
            raise RuntimeError("a session is already recording")
        self.session, self._stop = session, None
        self.writer.begin(session)
        # Packets still inside the encoders make the ring's newest packet older than
        # the press: measure the pre-record window from the press itself.
        self.ring.trim(session.press_us)
        for packet in self.ring.drain():
            self.writer.write(packet)

    def _route(self, packet: Packet):
        session = self.session
        if session is not None and self._stop is not None and packet.timestamp >= self._stop[0]:
            self._finish_session()
            session = None
        if session is None:
            self.ring.add(packet)
            return
        if packet.audio and not session.prerecord_audio and packet.timestamp < session.press_us:
            return  # no sound from before the press unless configured
        self.writer.write(packet)

    def _finish_session(self, failure: BaseException | None = None):
        """Close the session's last segment and report the session's end. After a capture
        error (bad input: the file is intact) the segment is closed and sealed as usual;
        after a write error it is given up as a `.partial` (its complete fragments are on disk)."""
        session, stop = self.session, self._stop
        if failure is None or isinstance(failure, CaptureError):
            try:
                totals = self.writer.end()
            except Exception as exc:
                failure = failure or exc
                totals = self.writer.abort()
        else:
            totals = self.writer.abort()
        self.session, self._stop = None, None
        self.on_session_end(session, totals, stop, failure)

    def _failed(self, exc: BaseException):
        session = self.session
        log.error("pipeline: %s", exc, extra={"session_id": session.session_id if session else None,
                                              "segment": self.writer.segment_seq if session else None})
        if self.failure is None:
            self.failure = exc
        if self.on_error is not None:
            self.on_error(exc)
        if self.session is not None:  # end the session with what is sealed; capture goes on
            self._finish_session(failure=exc)
