"""The synthetic camera and microphone as capture sources, paced in real time.

The all-synthetic case uses the simulated body (recorder/sim/body.py, which also runs
on simulated time). These exist for the mixed case on a live body: a board with a
microphone but no camera (or the reverse) records the real source next to a
synthetic one, both on the one monotonic clock.
"""

import threading

from ..config import AudioConfig, VideoConfig
from .encoders import AudioEncoder, VideoEncoder
from .listeners import SampleListeners
from .osd import Watermark
from .sources import CaptureSource
from .synthetic import SyntheticCamera, SyntheticMicrophone


class _Paced(CaptureSource):
    """A thread producing item i at origin + i * period, until stopped."""

    name = "synthetic"
    description = "synthetic"

    def __init__(self):
        super().__init__()
        self.produced = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self, period_ns_of, produce):
        while not self._stop.is_set():
            due = self.origin_ns + period_ns_of(self.produced + 1)
            delay = (due - self.clock.monotonic_ns()) / 1e9
            if delay > 0 and self._stop.wait(delay):
                break
            try:
                produce(self.produced)
            except Exception as exc:
                self.fail(f"synthetic source failed: {exc}", exc)
                return
            self.produced += 1

    def _begin(self, clock, period_ns_of, produce):
        self.clock = clock
        self.origin_ns = clock.monotonic_ns()
        self._thread = threading.Thread(target=self._run, args=(period_ns_of, produce), daemon=True,
                                        name=f"{type(self).__name__}")
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._flush()


class SyntheticCameraSource(_Paced):
    def __init__(self, video: VideoConfig, watermark: Watermark | None = None):
        super().__init__()
        self.video, self.watermark = video, watermark

    def start(self, outputs, clock):
        self.encoder = VideoEncoder(self.video, outputs)
        self.camera = SyntheticCamera(self.video.width, self.video.height, self.watermark)
        # Frame i is captured at origin + i / fps and ready right away (period_ns_of(i + 1) - one frame).
        fps = self.video.fps
        self._begin(clock, lambda n: (n - 1) * 1_000_000_000 // fps, self._frame)

    def _frame(self, index):
        stamp_ns = self.origin_ns + index * 1_000_000_000 // self.video.fps
        self.encoder.encode(self.camera.frame(index, self.clock.wall_ns_at(stamp_ns)), stamp_ns // 1000)

    def _flush(self):
        self.encoder.flush()

    @property
    def counters(self):
        return {"frames_captured": self.produced}


class SyntheticMicrophoneSource(_Paced):
    def __init__(self, audio: AudioConfig):
        super().__init__()
        self.audio = audio
        self.listeners = SampleListeners()

    def add_listener(self, callback) -> None:
        """As Microphone.add_listener (capture/listeners.py); called on this source's thread."""
        self.listeners.add(callback)

    def remove_listener(self, callback) -> None:
        self.listeners.discard(callback)

    def start(self, outputs, clock):
        self.encoder = AudioEncoder(self.audio, outputs)
        self.microphone = SyntheticMicrophone(self.audio.sample_rate, self.audio.channels)
        block, rate = self.microphone.block, self.audio.sample_rate
        # Block i is ready once its last sample is in: at origin + (i + 1) * block / rate.
        self._begin(clock, lambda n: n * block * 1_000_000_000 // rate, self._block)

    def _block(self, index):
        first = index * self.microphone.block
        stamp_ns = self.origin_ns + first * 1_000_000_000 // self.audio.sample_rate
        samples = self.microphone.samples(first)
        self.encoder.encode(samples, stamp_ns // 1000)
        self.listeners.deliver(samples, stamp_ns, self.audio.sample_rate)

    def _flush(self):
        self.encoder.flush()

    @property
    def counters(self):
        return {"samples_captured": self.produced * self.microphone.block}
