"""The simulated body: synthetic camera and microphone driven by the agent's clock.

Frames and audio blocks are produced in time order, each at the moment it would
leave a real sensor, and stamped from the one monotonic clock. On a SystemClock
that is real time; on a SimulatedClock (`--fast`) the same schedule runs as fast
as the encoders allow.

The microphone hears more than its noise when told to: `play_into_microphone(samples,
rate, at_ns)` adds a sound from a given sample on (speech a script says, the speaker
playing a voice prompt: `SimulatedSpeaker`), and listeners receive what it captured
(`add_listener`, as on a live microphone: capture/listeners.py).
"""

import logging

import numpy as np

from ..capture.body import Body, capture_record
from ..capture.listeners import SampleListeners
from ..capture.encoders import AudioEncoder, VideoEncoder
from ..capture.osd import Watermark
from ..capture.synthetic import SyntheticCamera, SyntheticMicrophone
from ..clock import Clock, SimulatedClock
from ..config import Config
from ..telemetry.track import NoReceiver
from ..voice.output import PromptPlayer
from ..voice.prompts import Prompt
from ..voice.resample import resample
from .chrony import SimulatedChrony
from .sky import SimulatedSky

log = logging.getLogger(__name__)

SPEAKER_GAIN = 0.5  # a prompt as the microphone hears the device's own speaker (-6 dB)


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
        self.listeners = SampleListeners()
        self._sounds: list[tuple[int, np.ndarray]] = []  # (first sample position, mono samples)
        self._stalls: list[tuple[int, int | None]] = []  # (from ns, until ns or None): no frames
        self.frames_stalled = 0
        self.camera_dark = False  # faults it can be told to have: darken_camera, silence_microphone
        self.microphone_dead = False
        self.gnss = config.gnss
        self.sky = None  # the receiver, once the agent asks for it (gnss_receiver)
        self.participants: list = []  # loop participants of the body's own: its sky and its chrony

    def gnss_receiver(self):
        """The body's receiver: the simulated sky through a real gpsd (sim/sky.py), none
        when [gnss] receiver = none, or None with simulated_sky = false (the agent then opens
        [gnss] receiver as a device does). On simulated time, the simulated chrony
        disciplines the clock from the sky (sim/chrony.py)."""
        receiver, self.participants = simulated_receiver(self.gnss, self.clock)
        self.sky = receiver if isinstance(receiver, SimulatedSky) else None
        return receiver

    def frame_time_ns(self, index: int) -> int:
        return self.origin_ns + index * 1_000_000_000 // self.fps

    def sample_time_ns(self, position: int) -> int:
        return self.origin_ns + position * 1_000_000_000 // self.microphone.sample_rate

    def sample_position(self, at_ns: int) -> int:
        """The first sample captured at or after at_ns."""
        rate = self.microphone.sample_rate
        return -(-(at_ns - self.origin_ns) * rate // 1_000_000_000)

    def play_into_microphone(self, samples: np.ndarray, rate: int, at_ns: int, gain: float = 1.0) -> int:
        """Let the microphone hear a sound (mono float32 at `rate`) from at_ns on: resampled to
        the microphone's rate and added to its noise from the first sample at or after at_ns
        (or the next sample not captured yet, if at_ns has passed). Returns the monotonic time
        of the sample it starts at. Without a microphone (audio.enabled = false) nothing
        hears it."""
        if not self.audio:
            return at_ns
        position = max(self.sample_position(at_ns), self.samples)
        if position > self.sample_position(at_ns):
            log.warning("sound for %d ns starts %d samples late (already captured)", at_ns,
                        position - self.sample_position(at_ns))
        sound = resample(np.asarray(samples, dtype=np.float32), rate, self.microphone.sample_rate) * np.float32(gain)
        self._sounds.append((position, sound))
        return self.sample_time_ns(position)

    def add_listener(self, callback) -> bool:
        """callback(samples float32 mono, first_sample_ns, rate) for every block captured."""
        if not self.audio:
            return False
        self.listeners.add(callback)
        return True

    def remove_listener(self, callback) -> None:
        self.listeners.discard(callback)

    def speaker(self) -> "SimulatedSpeaker":
        """The device's speaker as this body's microphone hears it (a PromptPlayer)."""
        return SimulatedSpeaker(self)

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

    def stall_camera(self, from_ns: int, until_ns: int | None = None) -> None:
        """The camera delivers nothing from from_ns until until_ns (None: for good), as a
        sensor whose CSI link or driver hangs: the frames of that time never exist."""
        self._stalls.append((from_ns, until_ns))

    def darken_camera(self) -> None:
        """The sensor delivers black frames from now on (a dead sensor, a lens cap): they are
        encoded and recorded as any frame."""
        self.camera_dark = True

    def silence_microphone(self) -> None:
        """The microphone delivers digital zero from now on (an I2S line cut, a dead capsule):
        nothing it would have heard, the device's own speaker included."""
        self.microphone_dead = True

    def _stalled(self, stamp_ns: int) -> bool:
        return any(start <= stamp_ns and (end is None or stamp_ns < end) for start, end in self._stalls)

    def _capture_frame(self):
        stamp_ns = self.frame_time_ns(self.frames)
        if self._stalled(stamp_ns):
            self.frames += 1
            self.frames_stalled += 1
            return
        frame = self.camera.black() if self.camera_dark else self.camera.frame(self.frames,
                                                                                self.clock.wall_ns_at(stamp_ns))
        self.video.encode(frame, stamp_ns // 1000)
        self.frames += 1

    def _capture_audio_block(self):
        first_ns = self.sample_time_ns(self.samples)
        samples = self.microphone.samples(self.samples)
        if self._sounds:
            samples = samples + self._heard(self.samples, samples.shape[1])[None, :]
        if self.microphone_dead:
            samples = np.zeros_like(samples)
        self.audio.encode(samples, first_ns // 1000)
        self.listeners.deliver(samples, first_ns, self.microphone.sample_rate)
        self.samples += self.microphone.block

    def _heard(self, first: int, count: int) -> np.ndarray:
        """The sounds playing during samples [first, first + count), summed."""
        mixed = np.zeros(count, dtype=np.float32)
        playing = []
        for start, sound in self._sounds:
            begin, end = max(first, start), min(first + count, start + len(sound))
            if begin < end:
                mixed[begin - first : end - first] += sound[begin - start : end - start]
            if start + len(sound) > first + count:
                playing.append((start, sound))
        self._sounds = playing
        return mixed

    def _stop(self):
        """End of capture: push every packet still inside the encoders."""
        self.video.flush()
        if self.audio:
            self.audio.flush()

    @property
    def counters(self) -> dict:
        return {"frames_captured": self.frames - self.frames_stalled, "frames_stalled": self.frames_stalled,
                "samples_captured": self.samples}

    def capture_record(self) -> dict:
        why = "simulated body (recorder run --simulate)"
        microphone = {"kind": "synthetic", "why": why} if self.audio else None
        return capture_record({"kind": "synthetic", "why": why}, microphone)


def simulated_receiver(gnss, clock) -> tuple:
    """(receiver, its loop participants) of the simulated body: NoReceiver for [gnss]
    receiver = none, None with simulated_sky = false, else the simulated sky (and on
    simulated time the simulated chrony it disciplines the clock with)."""
    if gnss.receiver == "none":
        return NoReceiver(), []
    if not gnss.simulated_sky:
        return None, []
    sky = SimulatedSky(gnss, clock)
    return sky, ([sky, SimulatedChrony(clock, sky)] if isinstance(clock, SimulatedClock) else [sky])


class SimulatedSpeaker(PromptPlayer):
    """The simulated device's speaker: a prompt is mixed into the synthetic microphone from
    the next sample on, at SPEAKER_GAIN, as the microphone hears the device's own speaker;
    play() returns the exact monotonic time of the sample it starts at."""

    description = "simulated speaker (mixed into the synthetic microphone)"

    def __init__(self, body: SimulatedBody, gain: float = SPEAKER_GAIN):
        self.body, self.gain = body, gain
        self.played: list[tuple[str, str, int]] = []  # (key, language, started_ns)

    def play(self, prompt: Prompt) -> int:
        started_ns = self.body.play_into_microphone(prompt.samples, prompt.rate, self.body.clock.monotonic_ns(),
                                                    self.gain)
        self.played.append((prompt.key, prompt.language, started_ns))
        return started_ns


def open_simulated_body(config: Config, clock: Clock, outputs, device_id: str) -> SimulatedBody:
    """The simulated body, whatever is attached to this machine (`recorder run --simulate`)."""
    from ..capture.select import make_watermark

    watermark = make_watermark(config, device_id, simulated=True)
    body = SimulatedBody(config, clock, outputs, watermark=watermark)
    body.osd_status = None if watermark is None else watermark.status
    body.description = "camera: synthetic (simulated body); microphone: " + (
        "synthetic (simulated body)" if config.audio.enabled else "none (audio.enabled = false)")
    return body
