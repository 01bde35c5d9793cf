"""The segment writer: one recording session as gap-free fragmented MP4 files.

Packets arrive in timestamp order (see interleave.py) from one encoder per
stream that runs across segments. A new file starts at the first video keyframe
at or after the target length, so no frame is lost or repeated at a boundary,
and audio belongs to the file whose time span holds its timestamp. Each file is
fragmented MP4, one fragment per GOP, flushed as soon as a fragment is complete and
made durable before the next one completes (durable.py: a power cut loses at most
the open fragment), written as `.partial`, fsync'd, and handed to the sealer when
it closes. The writer runs on the pipeline's own thread (router.py), never on a
capture thread.
"""

import logging
from dataclasses import dataclass
from fractions import Fraction

import av

from ..errors import CaptureError
from ..evidence.layout import partial_path
from ..seal.sealer import ClosedSegment
from ..store.disk import Store
from .durable import FragmentSyncer

log = logging.getLogger(__name__)

MICROSECONDS = Fraction(1, 1_000_000)
MP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof",
    "flush_packets": "1",
}


@dataclass
class Session:
    session_id: str
    officer_id: str
    press_us: int  # monotonic µs of the start request
    prerecord_s: int
    prerecord_audio: bool


@dataclass
class StreamTemplate:
    encoder_stream: object  # the encoder's PyAV stream: codec parameters + extradata
    codec_name: str
    kwargs: dict


class _OpenSegment:
    def __init__(self, path, container, streams, start_us, seq, syncer):
        self.path, self.container, self.streams = path, container, streams
        self.start_us, self.seq = start_us, seq
        self.syncer = syncer
        self.frames = 0
        self.last_video_us = start_us
        self.audio_packets = 0
        self.audio_first_us = None


class SegmentWriter:
    def __init__(self, store: Store, segment_seconds: int, fps: int, on_closed):
        self.store = store
        self.segment_us = segment_seconds * 1_000_000
        self.frame_us = round(1_000_000 / fps)
        self.fps = fps
        self.on_closed = on_closed
        self.templates: dict[bool, StreamTemplate] = {}  # keyed by "is audio"
        self.session: Session | None = None
        self._open: _OpenSegment | None = None
        self._seq = 0
        self.dropped_before_keyframe = 0
        self.stats = {"segments": 0, "frames": 0, "start_us": None, "end_us": None}
        self.sync_ns_max = 0  # longest fdatasync of a fragment (durable.py)
        self.sync_wait_ns_max = 0  # longest the writer waited for one

    def add_stream(self, audio: bool, template: StreamTemplate):
        self.templates[audio] = template

    # -- session ---------------------------------------------------------------------------
    def begin(self, session: Session):
        self.session, self._seq = session, 0
        self.stats = {"segments": 0, "frames": 0, "start_us": None, "end_us": None}

    def end(self) -> dict:
        """Close the last segment; returns the session's totals."""
        if self._open:
            self._close(self._open.last_video_us + self.frame_us)
        self.session = None
        return self.stats

    def abort(self) -> dict:
        """Writing failed: give up the open segment without sealing it (its complete
        fragments are on disk as a `.partial`, for recovery) and end the session.
        Returns the totals of what was sealed."""
        seg, self._open = self._open, None
        if seg is not None:
            for close in (seg.container.close, lambda: seg.syncer.close(sync=False)):
                try:
                    close()
                except Exception as exc:  # the disk that failed may fail again: keep going
                    log.warning("closing %s after a write failure: %s", seg.path.name, exc)
        self.session = None
        return self.stats

    # -- packets ---------------------------------------------------------------------------
    def write(self, packet):
        seg = self._open
        is_keyframe = packet.keyframe and not packet.audio
        if seg is None:
            if not is_keyframe:
                self.dropped_before_keyframe += 1  # precedes the session's first frame
                return
            seg = self._open_segment(packet.timestamp)
        elif is_keyframe and packet.timestamp - seg.start_us >= self.segment_us:
            self._close(packet.timestamp)
            seg = self._open_segment(packet.timestamp)
        self._mux(seg, packet)

    def _mux(self, seg: _OpenSegment, packet):
        out = av.Packet(packet.data)
        out.stream = seg.streams[packet.audio]
        out.time_base = MICROSECONDS
        out.pts = out.dts = packet.timestamp - seg.start_us
        if packet.audio:
            ctx = self.templates[True].encoder_stream.codec_context
            out.duration = round(ctx.frame_size * 1_000_000 / ctx.sample_rate)
            seg.audio_packets += 1
            if seg.audio_first_us is None:
                seg.audio_first_us = packet.timestamp
        else:
            if seg.frames:
                _check_increasing(seg.streams[False].time_base, seg.last_video_us - seg.start_us, out.dts)
            out.duration = self.frame_us
            out.is_keyframe = packet.keyframe
            seg.frames += 1
            seg.last_video_us = packet.timestamp
        seg.container.mux(out)
        # A keyframe pushes the previous GOP out once it has left libavformat's
        # interleaving queue, which may be a packet or more later: the syncer looks.
        seg.syncer.packet_muxed()

    # -- files -----------------------------------------------------------------------------
    def _open_segment(self, start_us: int) -> _OpenSegment:
        self._seq += 1
        if self._seq == 1:
            self.store.new_session_dir(self.session.session_id)
        final = self.store.segment_path(self.session.session_id, self._seq)
        container = av.open(
            str(partial_path(final)), "w", format="mp4", options=self._mp4_options()
        )
        streams = {}
        for audio, template in self.templates.items():
            stream = container.add_stream_from_template(template.encoder_stream)
            # The template copy leaves out extradata (SPS/PPS, AudioSpecificConfig).
            stream.codec_context.extradata = template.encoder_stream.codec_context.extradata
            streams[audio] = stream
        self._open = _OpenSegment(final, container, streams, start_us, self._seq,
                                  FragmentSyncer(partial_path(final)))
        if self.stats["start_us"] is None:
            self.stats["start_us"] = start_us
        return self._open

    def _mp4_options(self) -> dict:
        # The edit list that places audio's first sample relative to the first frame is in
        # movie timescale units (FFmpeg's default: 1 ms). Use the audio sample rate so the
        # offset is exact to the sample.
        audio = self.templates.get(True)
        scale = audio.encoder_stream.codec_context.sample_rate if audio else 90_000
        return {**MP4_OPTIONS, "movie_timescale": str(scale)}

    def _close(self, end_us: int):
        seg = self._open
        seg.container.close()
        seg.syncer.close()  # the whole file on disk before the sealer hashes it
        self._open = None
        self.sync_ns_max = max(self.sync_ns_max, seg.syncer.sync_ns_max)
        self.sync_wait_ns_max = max(self.sync_wait_ns_max, seg.syncer.wait_ns_max)
        self.stats["segments"] += 1
        self.stats["frames"] += seg.frames
        self.stats["end_us"] = end_us
        self.on_closed(self._describe(seg, end_us))

    def _describe(self, seg: _OpenSegment, end_us: int) -> ClosedSegment:
        video = self.templates[False]
        audio = self.templates.get(True)
        audio_info = None
        if audio is not None:
            ctx = audio.encoder_stream.codec_context
            audio_info = {
                "codec": ctx.name,
                "sample_rate": ctx.sample_rate,
                "channels": ctx.channels,
                "packets": seg.audio_packets,
                "samples": seg.audio_packets * ctx.frame_size,
                "first_mono_us": seg.audio_first_us,
            }
        session = self.session
        prerecord = None
        if seg.seq == 1:
            prerecord = {
                "configured_s": session.prerecord_s,
                "span_us": max(0, session.press_us - seg.start_us),
                "audio": session.prerecord_audio,
            }
        return ClosedSegment(
            session_id=session.session_id,
            officer_id=session.officer_id,
            seq=seg.seq,
            final_path=seg.path,
            start_us=seg.start_us,
            end_us=end_us,
            video={
                "codec": video.codec_name,
                "width": video.encoder_stream.codec_context.width,
                "height": video.encoder_stream.codec_context.height,
                "frame_rate": f"{self.fps}/1",
                "gop_frames": video.encoder_stream.codec_context.gop_size,
                "frames": seg.frames,
            },
            audio=audio_info,
            prerecord=prerecord,
        )


def _check_increasing(time_base: Fraction, previous_us: int, current_us: int):
    """The MP4 muxer refuses (EINVAL) a frame whose time does not advance in the track's
    time base; say what is wrong instead: the capture source's timestamps are broken."""
    def ticks(us: int) -> int:
        return us * time_base.denominator // (1_000_000 * time_base.numerator)

    if ticks(current_us) <= ticks(previous_us):
        raise CaptureError(
            f"video timestamps do not advance: a frame at +{current_us} µs follows one at "
            f"+{previous_us} µs in this segment (the track's resolution is "
            f"{1_000_000 * time_base.numerator / time_base.denominator:.1f} µs); "
            "the camera delivered broken timestamps"
        )
