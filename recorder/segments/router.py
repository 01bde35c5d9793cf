"""Where encoded packets go: the pre-record ring while ready, the writer while recording.

The router is the pipeline's picamera2-style Output: encoders (ours or
picamera2's) call `outputframe` from their own threads. Packets are put in
timestamp order first; then a start moves the whole ring into the new session
followed by every later packet, and a stop cuts at a timestamp, not at the
moment the request arrives, so packets still inside an encoder land on the
right side of the cut.
"""

import threading

from ..packets import Output, Packet
from .interleave import Interleaver
from .ring import PrerecordRing
from .writer import SegmentWriter, Session, StreamTemplate


class RecordingRouter(Output):
    def __init__(self, ring: PrerecordRing, writer: SegmentWriter, on_session_end):
        super().__init__()
        self.ring, self.writer = ring, writer
        self.on_session_end = on_session_end  # called with (session, totals, stop)
        self._lock = threading.RLock()
        self._interleaver = Interleaver(self._route)
        self.session: Session | None = None
        self._stop = None  # (timestamp_us, cause) once a stop is requested

    # -- picamera2 Output interface -------------------------------------------------------
    def _add_stream(self, encoder_stream, codec_name, **kwargs):
        audio = getattr(encoder_stream, "type", "video") == "audio"
        with self._lock:
            self.writer.add_stream(audio, StreamTemplate(encoder_stream, codec_name, kwargs))
            self._interleaver.add_stream(audio)

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        with self._lock:
            self._interleaver.push(Packet(timestamp, bool(keyframe), bool(audio), frame))

    # -- control ---------------------------------------------------------------------------
    def begin_session(self, session: Session):
        with self._lock:
            if self.session is not None:
                raise RuntimeError("a session is already recording")
            self.session, self._stop = session, None
            self.writer.begin(session)
            # Packets still inside the encoders make the ring's newest packet older than
            # the press: measure the pre-record window from the press itself.
            self.ring.trim(session.press_us)
            for packet in self.ring.drain():
                self.writer.write(packet)

    def request_stop(self, timestamp_us: int, cause: str):
        with self._lock:
            if self.session is not None and self._stop is None:
                self._stop = (timestamp_us, cause)

    def flush(self):
        """Capture has ended: release every held packet and close any open session."""
        with self._lock:
            self._interleaver.flush()
            if self.session is not None:
                self._finish_session()

    @property
    def late_packets(self) -> int:
        return self._interleaver.late_packets

    # -- routing ---------------------------------------------------------------------------
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

    def _finish_session(self):
        session, stop = self.session, self._stop
        totals = self.writer.end()
        self.session, self._stop = None, None
        self.on_session_end(session, totals, stop)
