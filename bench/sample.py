"""Encoded packets for the benchmarks, produced once (not timed) by the simulated body.

A short sample is encoded at the default config and then repeated with shifted
timestamps to make a long recording. The sample length is a whole number of
GOPs and of audio frames (32 s = 960 frames = 1500 AAC frames of 1024 samples),
so a shift by the sample length keeps keyframes on the GOP grid, keeps both
streams strictly increasing and moves video and audio by exactly the same time.
"""

from fractions import Fraction

from recorder.sim.body import SimulatedBody
from recorder.clock import SimulatedClock
from recorder.config import Config
from recorder.pipeline.packets import Packet
from recorder.sim.doubles import CollectingOutput


class Sample:
    """`seconds` of encoded media: packets in timestamp order, and the encoder streams."""

    def __init__(self, config: Config, seconds: int):
        video, audio = config.video, config.audio
        audio_frames = Fraction(seconds * audio.sample_rate, 1024)  # AAC: 1024 samples a frame
        if seconds % video.gop_seconds or audio_frames.denominator != 1:
            raise ValueError(f"{seconds} s is not a whole number of GOPs and audio frames")
        collector = CollectingOutput()
        with SimulatedBody(config, SimulatedClock(), [collector]) as body:
            body.advance_to(body.origin_ns + seconds * 1_000_000_000)
        frames = [p for p in collector.packets if not p.audio][: seconds * video.fps]
        blocks = [p for p in collector.packets if p.audio][: int(audio_frames)]
        if len(frames) != seconds * video.fps or len(blocks) != audio_frames or not frames[0].keyframe:
            raise RuntimeError("the encoders did not produce the expected sample")
        # is audio -> (encoder_stream, codec_name, kwargs)
        self.streams = {stream.type == "audio": (stream, name, kw) for stream, name, kw in collector.streams}
        self.config = config
        self.period_us = seconds * 1_000_000
        self.packets = sorted(frames + blocks, key=lambda p: p.timestamp)

    def repeated(self, times: int) -> list[Packet]:
        """The sample `times` over, back to back, in timestamp order (payloads shared)."""
        packets = [
            p._replace(timestamp=p.timestamp + k * self.period_us)
            for k in range(times)
            for p in self.packets
        ]
        packets.sort(key=lambda p: p.timestamp)
        for audio in (False, True):
            stamps = [p.timestamp for p in packets if p.audio == audio]
            if any(b <= a for a, b in zip(stamps, stamps[1:])):
                raise RuntimeError("repeated packets are not strictly increasing")
        return packets
