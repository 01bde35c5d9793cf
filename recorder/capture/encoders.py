"""PyAV encoders that feed the packet interface (recorder.packets.Output).

They behave like picamera2's LibavH264Encoder and its audio thread: each owns a
stream in a "null" container, announces it to every output with `_add_stream`,
and hands each packet over with `outputframe(bytes, keyframe, timestamp_us,
packet, audio)`. Timestamps are microseconds on the agent's monotonic clock.
"""

from fractions import Fraction

import av
import numpy as np

from ..config import AudioConfig, VideoConfig

MICROSECONDS = Fraction(1, 1_000_000)
AUDIO_CODECS = {"aac": "aac", "opus": "libopus"}


class _Encoder:
    def __init__(self, outputs):
        self.outputs = list(outputs)
        self._container = av.open("/dev/null", "w", format="null")

    def _announce(self, codec_name, **kwargs):
        for out in self.outputs:
            out._add_stream(self.stream, codec_name, **kwargs)

    def _emit(self, packet, timestamp_us, audio):
        data = bytes(packet)
        for out in self.outputs:
            out.outputframe(data, packet.is_keyframe, timestamp_us, packet, audio)


class VideoEncoder(_Encoder):
    """libx264, fixed GOP, no B-frames and no lookahead (as the Pi's hardware encoder), frame
    threading: a frame comes out ~4 frames after it went in (x264's own default lookahead held
    14 at `veryfast`, ~0.5 s of video that a crash took with it)."""

    codec_name = "h264"

    def __init__(self, config: VideoConfig, outputs):
        super().__init__(outputs)
        self.config = config
        self.stream = self._container.add_stream("libx264", rate=config.fps)
        self.stream.width, self.stream.height = config.width, config.height
        self.stream.pix_fmt = "yuv420p"
        ctx = self.stream.codec_context
        ctx.thread_type = "FRAME"
        ctx.time_base = MICROSECONDS
        ctx.bit_rate = config.bitrate
        ctx.gop_size = config.fps * config.gop_seconds
        ctx.max_b_frames = 0
        ctx.options = {
            "preset": config.preset,
            "keyint_min": str(ctx.gop_size),
            "sc_threshold": "0",  # keyframes only on the GOP grid: one fragment per GOP
            "rc-lookahead": "0",  # frames out as they come, as from the Pi's encoder
        }
        # SPS/PPS go in the stream's extradata, which the MP4 muxer needs up front.
        ctx.flags |= av.codec.context.Flags.global_header
        self._announce(self.codec_name, rate=config.fps, width=config.width, height=config.height)

    def encode(self, image: np.ndarray, timestamp_us: int):
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts, frame.time_base = timestamp_us, MICROSECONDS
        for packet in self.stream.codec_context.encode(frame):
            self._emit(packet, packet.pts, audio=False)

    def flush(self):
        for packet in self.stream.codec_context.encode(None):
            self._emit(packet, packet.pts, audio=False)


class AudioEncoder(_Encoder):
    """AAC or Opus from float PCM blocks; sample positions map onto the monotonic clock."""

    def __init__(self, config: AudioConfig, outputs):
        super().__init__(outputs)
        self.config = config
        self.codec_name = AUDIO_CODECS[config.codec]
        self.layout = "mono" if config.channels == 1 else "stereo"
        self.stream = self._container.add_stream(
            self.codec_name, rate=config.sample_rate, layout=self.layout
        )
        self.stream.codec_context.bit_rate = config.bitrate
        self.stream.codec_context.flags |= av.codec.context.Flags.global_header
        self.stream.codec_context.open()
        self.frame_size = self.stream.codec_context.frame_size
        self._fifo = av.AudioFifo()
        self._samples_in = 0
        self._origin_us = None  # monotonic µs of sample 0
        self._announce(self.codec_name, rate=config.sample_rate, layout=self.layout)

    def timestamp_us(self, sample_position: int) -> int:
        return self._origin_us + round(sample_position * 1_000_000 / self.config.sample_rate)

    def encode(self, samples: np.ndarray, first_sample_us: int):
        """samples: float32 (channels, n), the first one captured at first_sample_us."""
        if self._origin_us is None:
            self._origin_us = first_sample_us
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=self.layout
        )
        frame.sample_rate = self.config.sample_rate
        frame.pts = self._samples_in
        frame.time_base = Fraction(1, self.config.sample_rate)
        self._samples_in += samples.shape[1]
        self._fifo.write(frame)
        for block in self._fifo.read_many(self.frame_size):
            self._encode_frame(block)

    def _encode_frame(self, frame):
        for packet in self.stream.codec_context.encode(frame):
            self._emit(packet, self.timestamp_us(packet.pts), audio=True)

    def flush(self):
        if self._origin_us is None:
            return
        rest = self._fifo.read()
        if rest is not None:
            self._encode_frame(rest)
        self._encode_frame(None)
