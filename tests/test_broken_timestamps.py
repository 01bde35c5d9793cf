"""A camera whose timestamps stop advancing: a clear error naming the cause (the MP4 muxer
would only say EINVAL), and everything written before it stays sealed and verifies."""

import pytest

from recorder.agent import Agent
from recorder.capture.encoders import VideoEncoder
from recorder.capture.synthetic import SyntheticCamera
from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.errors import CaptureError
from recorder.packets import Output
from recorder.sign.verifier import verify_store


class Collect(Output):
    def __init__(self):
        super().__init__()
        self.streams, self.packets = [], []

    def _add_stream(self, encoder_stream, codec_name, **kwargs):
        self.streams.append((encoder_stream, codec_name, kwargs))

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        self.packets.append((frame, keyframe, timestamp))


def test_timestamps_that_stop_advancing_are_named_and_evidence_is_kept(tmp_path):
    config = config_from_dict({
        "video": {"width": 160, "height": 120, "fps": 30, "bitrate": 200_000},
        "audio": {"enabled": False}, "prerecord": {"seconds": 0},
    })
    clock = SimulatedClock()
    collected = Collect()
    encoder = VideoEncoder(config.video, [collected])
    camera = SyntheticCamera(160, 120)
    origin_us = clock.monotonic_ns() // 1000
    for index in range(45):
        encoder.encode(camera.frame(index), origin_us + index * 33_333)
    encoder.flush()

    agent = Agent(config, tmp_path, clock)
    router = agent.router
    for stream in collected.streams:
        router._add_stream(*stream[:2], **stream[2])
    agent.start_recording("command", origin_us * 1000)
    frames = collected.packets
    for frame, keyframe, timestamp in frames[:40]:
        router.outputframe(frame, keyframe, timestamp)
    frame, keyframe, timestamp = frames[40]
    with pytest.raises(CaptureError, match="video timestamps do not advance"):
        # the same instant as the frame before
        router.outputframe(frame, keyframe, frames[39][2])
        router.outputframe(*frames[41])  # released by the interleaver once a later packet comes
        router.flush()
    agent.shutdown("test")
    report = verify_store(tmp_path)
    assert report.ok, report.summary_text()
    assert report.sessions[0]["frames"] >= 30, "the frames before the broken one are sealed"
