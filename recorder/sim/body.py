"""The simulated body: synthetic camera and microphone driven by the agent's clock.

Frames and audio blocks are produced in time order, each at the moment it would
leave a real sensor, and stamped from the one monotonic clock. On a SystemClock
that is real time; on a SimulatedClock (`--fast`) the same schedule runs as fast
as the encoders allow.
"""

from ..capture.body import Body, capture_record
from ..capture.encoders import AudioEncoder, VideoEncoder
from ..capture.osd import Watermark
from ..capture.synthetic import SyntheticCamera, SyntheticMicrophone
from ..clock import Clock
from ..config import Config


class SimulatedBody(Body):
    description = "camera: synthetic; microphone: synthetic"

    def __init__(self, config: Config, clock: Clock, outputs, watermark: Watermark | None = None):
        super().__init__()
        self.clock = clock
        self.fps = config.video.fps
        # The OSD is burned below the frame code and frame number.
        self.camera = SyntheticCamera(config.video.width, config.video.height, watermark)
        self.video = VideoEncoder(config.video, outputs)
        self.audio = AudioEncoder(config.audio, outputs) if config.audio.enabled else None
        if self.audio:
            self.microphone = SyntheticMicrophone(config.audio.sample_rate, config.audio.channels)
        self.origin_ns = clock.monotonic_ns()
        self.frames = 0  # next frame index
        self.samples = 0  # next sample index

    def frame_time_ns(self, index: int) -> int:
        return self.origin_ns + index * 1_000_000_000 // self.fps

    def sample_time_ns(self, position: int) -> int:
        return self.origin_ns + position * 1_000_000_000 // self.microphone.sample_rate

    def advance_to(self, until_ns: int):
        """Capture and encode everything ready by until_ns, in the order it becomes
        ready (a frame at its stamp, an audio block once its last sample is in)."""
        while not self.closed:
            pending = []
            if self.frame_time_ns(self.frames) < until_ns:
                pending.append((self.frame_time_ns(self.frames), self._capture_frame))
            # An audio block is ready once its last sample is in: never run the clock past
            # until_ns for it, or inputs due at until_ns would be read late.
            block_end = self.audio and self.sample_time_ns(self.samples + self.microphone.block)
            if self.audio and block_end <= until_ns:
                pending.append((block_end, self._capture_audio_block))
            if not pending:
                return
            ready_ns, capture = min(pending, key=lambda item: item[0])
            self.clock.sleep_until(ready_ns)
            capture()

    def _capture_frame(self):
        stamp_ns = self.frame_time_ns(self.frames)
        self.video.encode(self.camera.frame(self.frames, self.clock.wall_ns_at(stamp_ns)), stamp_ns // 1000)
        self.frames += 1

    def _capture_audio_block(self):
        stamp_us = self.sample_time_ns(self.samples) // 1000
        self.audio.encode(self.microphone.samples(self.samples), stamp_us)
        self.samples += self.microphone.block

    def _stop(self):
        """End of capture: push every packet still inside the encoders."""
        self.video.flush()
        if self.audio:
            self.audio.flush()

    @property
    def counters(self) -> dict:
        return {"frames_captured": self.frames, "samples_captured": self.samples}

    def capture_record(self) -> dict:
        why = "simulated body (recorder run --simulate)"
        microphone = {"kind": "synthetic", "why": why} if self.audio else None
        return capture_record({"kind": "synthetic", "why": why}, microphone)


def open_simulated_body(config: Config, clock: Clock, outputs, device_id: str) -> SimulatedBody:
    """The simulated body, whatever is attached to this machine (`recorder run --simulate`)."""
    from ..capture.select import make_watermark

    body = SimulatedBody(config, clock, outputs, watermark=make_watermark(config, device_id, simulated=True))
    body.description = "camera: synthetic (simulated body); microphone: " + (
        "synthetic (simulated body)" if config.audio.enabled else "none (audio.enabled = false)")
    return body
