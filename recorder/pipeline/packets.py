"""The one packet interface that carries encoded media through the pipeline.

It mirrors picamera2's `Output` exactly, so picamera2's own encoders (H264Encoder,
LibavH264Encoder, their audio thread) can feed the recorder's outputs directly:

  output._add_stream(encoder_stream, codec_name, **kwargs)   once per stream, before packets
  output.outputframe(frame, keyframe, timestamp, packet, audio)

`frame` is the encoded payload (bytes), `timestamp` is in microseconds on the
agent's monotonic clock, `packet` is the PyAV packet when the encoder has one,
`audio` tells audio from video. Inside the pipeline a packet travels as the
compact `Packet` tuple below (the pre-record ring holds thousands of them).
"""

from typing import NamedTuple


class Packet(NamedTuple):
    timestamp: int  # µs, monotonic clock
    keyframe: bool
    audio: bool
    data: bytes


class Output:
    """Base class with picamera2's Output signature."""

    needs_add_stream = True
    needs_pacing = False

    def __init__(self):
        self.recording = False

    def start(self):
        self.recording = True

    def stop(self):
        self.recording = False

    def _add_stream(self, encoder_stream, codec_name, **kwargs):
        """An encoder announces a stream; the PyAV stream carries codec parameters."""

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        raise NotImplementedError
