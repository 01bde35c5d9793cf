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

The pre-record of a session that keeps no sound from before the press (the default)
is written as video-only segments, ending at the keyframe of the GOP that holds the
press; the session's sound starts in the segment after. The MP4 muxer writes nothing
(no moov, so no fragment) until every track of a file has a sample: with the audio
track in the same file, 30 s of pre-record would wait in memory as one fragment until
the first sound after the press — a power cut then would lose all of it. A keyframe
less than one GOP before the press starts the GOP of the press; one that is a GOP or
more before it is pre-record, unless frames were lost and it turns out to hold the
press after all: such a GOP is held back (in memory) until the next keyframe or the
first packet after the press says which it is.
"""

import logging
from dataclasses import dataclass
from fractions import Fraction

import av

from ..errors import CaptureError
from ..evidence.layout import index_path, partial_path
from ..seal.sealer import ClosedSegment
from ..store.disk import Store
from .durable import FragmentSyncer
from .encrypted import EncryptedSegmentFile

log = logging.getLogger(__name__)

MICROSECONDS = Fraction(1, 1_000_000)
MP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof",
    "flush_packets": "1",
}
# Encrypted, the muxer writes into the encryptor, which cannot seek: no `mfra` trailer, whose
# absolute offsets would not count the `free` boxes that align fragments to chunks.
ENCRYPTED_MOVFLAGS = MP4_OPTIONS["movflags"] + "+skip_trailer"


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
    def __init__(self, path, container, streams, start_us, seq, syncer, encrypted=None):
        """streams: {is audio: muxer stream}; a pre-record segment has no audio stream.
        encrypted: the EncryptedSegmentFile the muxer writes into, or None (plaintext)."""
        self.path, self.container, self.streams = path, container, streams
        self.start_us, self.seq = start_us, seq
        self.syncer = syncer
        self.encrypted = encrypted
        self.frames = 0
        self.last_video_us = start_us
        self.audio_packets = 0
        self.audio_first_us = None

    def check_advances(self, dts_us: int):
        """The MP4 muxer refuses (EINVAL) a frame whose time does not advance in the track's
        time base (set by the muxer when it wrote the header); say what is wrong instead: the
        capture source's timestamps are broken."""
        time_base = self.streams[False].time_base
        scale, unit = time_base.denominator, 1_000_000 * time_base.numerator
        previous_us = self.last_video_us - self.start_us
        if dts_us * scale // unit <= previous_us * scale // unit:
            raise CaptureError(
                f"video timestamps do not advance: a frame at +{dts_us} µs follows one at "
                f"+{previous_us} µs in this segment (the track's resolution is "
                f"{1_000_000 * time_base.numerator / time_base.denominator:.1f} µs); "
                "the camera delivered broken timestamps"
            )


class SegmentWriter:
    def __init__(self, store: Store, segment_seconds: int, fps: int, on_closed, metadata_for=None,
                 gop_seconds: int = 1, recipients=()):
        """metadata_for(session, seq, start_us) -> the MP4 metadata of a new file
        (creation_time and tags naming device, officer, session and sequence).
        recipients: the age recipients segments are encrypted to (none: plaintext MP4)."""
        self.store = store
        self.recipients = list(recipients)
        self.metadata_for = metadata_for or (lambda session, seq, start_us: {})
        self.segment_us = segment_seconds * 1_000_000
        self.gop_us = gop_seconds * 1_000_000
        self.frame_us = round(1_000_000 / fps)
        self.fps = fps
        self.on_closed = on_closed
        self.templates: dict[bool, StreamTemplate] = {}  # keyed by "is audio"
        self.session: Session | None = None
        self._open: _OpenSegment | None = None
        self._seq = 0
        self._press_gop: list | None = None  # held while the pre-record is written video only
        self._video_only = False
        self.dropped_before_keyframe = 0
        self.late_packets = lambda: 0  # the interleaver's count (set by the router)
        self._counted_at_session = self._counted_at_segment = (0, 0)
        self.stats = {"segments": 0, "frames": 0, "start_us": None, "end_us": None}
        self.sync_ns_max = 0  # longest fdatasync of a fragment (durable.py)
        self.sync_wait_ns_max = 0  # longest the writer waited for one

    @property
    def segment_seq(self) -> int:
        """The number of the session's newest segment (0 before its first); the pipeline
        thread's count, read by others for the service's status line."""
        return self._seq

    def add_stream(self, audio: bool, template: StreamTemplate):
        self.templates[audio] = template
        if audio:  # every AAC/Opus packet lasts one codec frame
            ctx = template.encoder_stream.codec_context
            self._audio_packet_us = round(ctx.frame_size * 1_000_000 / ctx.sample_rate)

    # -- session ---------------------------------------------------------------------------
    def begin(self, session: Session):
        self.session, self._seq = session, 0
        self.stats = {"segments": 0, "frames": 0, "start_us": None, "end_us": None}
        self._counted_at_session = self._counted_at_segment = self._counts()
        self._video_only = not session.prerecord_audio and True in self.templates
        self._press_gop = [] if self._video_only else None

    def end(self) -> dict:
        """Close the last segment; returns the session's totals."""
        if self._press_gop:  # the session ended before anything after the press
            self._write_all(self._press_gop)
        self._press_gop = None
        if self._open:
            self._close(self._open.last_video_us + self.frame_us)
        self.session = None
        return {**self.stats, "pipeline": self._counted_since(self._counted_at_session)}

    def abort(self) -> dict:
        """Writing failed: give up the open segment without sealing it (its complete
        fragments are on disk as a `.partial`, for recovery) and end the session.
        Returns the totals of what was sealed."""
        seg, self._open = self._open, None
        stats = {**self.stats, "open_seq": seg.seq if seg is not None else None,
                 "pipeline": self._counted_since(self._counted_at_session)}
        if seg is not None:
            closes = (seg.container.close, seg.encrypted.abandon) if seg.encrypted else (
                seg.container.close, lambda: seg.syncer.close(sync=False))
            for close in closes:
                try:
                    close()
                except Exception as exc:  # the disk that failed may fail again: keep going
                    log.warning("closing %s after a write failure: %s", seg.path.name, exc)
        self.session = None
        return stats

    def _counts(self) -> tuple[int, int]:
        return self.late_packets(), self.dropped_before_keyframe

    def _counted_since(self, mark: tuple[int, int]) -> dict:
        late, dropped = self._counts()
        return {"late_packets": late - mark[0], "dropped_before_keyframe": dropped - mark[1]}

    # -- packets ---------------------------------------------------------------------------
    def write(self, packet):
        if self._press_gop is not None:
            self._write_pre_record(packet)
        else:
            self._write(packet)

    def _write_pre_record(self, packet):
        """While the pre-record goes out video only (see the module's notes)."""
        press = self.session.press_us
        if not packet.audio and packet.timestamp <= press:
            if packet.keyframe:
                self._write_all(self._press_gop)  # a later keyframe before the press: all pre-record
                self._press_gop = []
                if press - packet.timestamp < self.gop_us - self.frame_us // 2:
                    self._start_sound(packet.timestamp)  # this keyframe starts the GOP of the press
                else:
                    self._press_gop = [packet]
                    return
            elif self._press_gop:
                self._press_gop.append(packet)
                return
            self._write(packet)  # before the session's first keyframe it is dropped and counted
            return
        held = self._press_gop
        self._start_sound(held[0].timestamp if held else None)
        self._write_all(held)
        self._write(packet)

    def _start_sound(self, keyframe_us: int | None):
        """From this keyframe on, segments carry the sound too."""
        self._press_gop, self._video_only = None, False
        if keyframe_us is not None and self._open is not None:
            self._close(keyframe_us)

    def _write_all(self, packets):
        for packet in packets:
            self._write(packet)

    def _write(self, packet):
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
        out.pts = out.dts = dts = packet.timestamp - seg.start_us
        keyframe = False
        if packet.audio:
            out.duration = self._audio_packet_us
            seg.audio_packets += 1
            if seg.audio_first_us is None:
                seg.audio_first_us = packet.timestamp
        else:
            if seg.frames:
                seg.check_advances(dts)
            out.duration = self.frame_us
            out.is_keyframe = keyframe = packet.keyframe
            seg.frames += 1
            seg.last_video_us = packet.timestamp
        seg.container.mux(out)
        if seg.encrypted is not None:
            seg.encrypted.after_mux()  # a fragment is seen at the encryptor's input, not in the file's size
        else:
            seg.syncer.after_write(keyframe)

    # -- files -----------------------------------------------------------------------------
    def _open_segment(self, start_us: int) -> _OpenSegment:
        self._seq += 1
        if self._seq == 1:
            self.store.new_session_dir(self.session.session_id)
        final = self.store.segment_path(self.session.session_id, self._seq, encrypted=bool(self.recipients))
        options, encrypted = self._mp4_options(), None
        if self.recipients:
            encrypted = EncryptedSegmentFile(partial_path(final), partial_path(index_path(final)), self.recipients,
                                             start_us)
            container = av.open(encrypted, "w", format="mp4", options={**options, "movflags": ENCRYPTED_MOVFLAGS})
        else:
            container = av.open(str(partial_path(final)), "w", format="mp4", options=options)
        container.metadata.update(self.metadata_for(self.session, self._seq, start_us))
        streams = {audio: mux_stream(container, template.encoder_stream)
                   for audio, template in self.templates.items() if not (audio and self._video_only)}
        self._open = _OpenSegment(final, container, streams, start_us, self._seq,
                                  encrypted.syncer if encrypted else FragmentSyncer(partial_path(final)), encrypted)
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
        if seg.encrypted is not None:
            seg.encrypted.close()  # the final chunk; file and index on disk
        else:
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
        if audio is not None and True in seg.streams:  # a pre-record segment has no sound
            ctx = audio.encoder_stream.codec_context
            audio_info = {
                "codec": ctx.codec.canonical_name,  # the format's name ("opus"), not the encoder's ("libopus")
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
        pipeline = self._counted_since(self._counted_at_segment)
        self._counted_at_segment = self._counts()
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
            pipeline=pipeline,
            encrypted=seg.encrypted.facts() if seg.encrypted is not None else None,
        )


def mux_stream(container, encoder_stream):
    """A stream of `container` that describes what the encoder really produces.

    PyAV copies a template's *stream* parameters, which an encoder in a null container
    never updates from its codec context: they keep PyAV's defaults (640x480, stereo), and
    the MP4 muxer writes those into the track header and sample entry, so players that
    honour them show 1280x720 video squeezed to 640x480. The muxer takes the new stream's
    parameters from its codec context when it writes the header: set there what the
    encoder's codec context says (size, pixel and sample aspect, rate, channels) and the
    extradata (SPS/PPS, AudioSpecificConfig), which the copy leaves out as well."""
    stream = container.add_stream_from_template(encoder_stream)
    source, target = encoder_stream.codec_context, stream.codec_context
    if encoder_stream.type == "video":
        target.width, target.height = source.width, source.height
        if source.sample_aspect_ratio:
            target.sample_aspect_ratio = source.sample_aspect_ratio
    else:
        target.sample_rate, target.layout = source.sample_rate, source.layout
    target.extradata = source.extradata
    return stream
