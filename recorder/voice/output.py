"""Playing a prompt through the device's speaker, while recording.

    player = open_player(config.voice, clock)   # at start-up: a bad device is an error now
    started_ns = player.play(prompt_audio("battery", config.voice.language))
    player.close()

`PromptPlayer.play(prompt)` hands the prompt over and returns the monotonic time (ns) at
which its first sample leaves the speaker, as well as the sound stack can tell, or None when
nothing is played (no speaker). It returns once that first sample is scheduled (within one
output block, ~20 ms), not when the prompt ends: playback runs on PortAudio's thread. A
prompt asked for while another still plays follows it.

Implementations:
  NoSpeaker         voice.output = "": no speaker fitted; cues only, play() returns None
  PortAudioPlayer   voice.output = "default", a PortAudio device name or an index: a
                    sounddevice OutputStream opened at start-up (so a missing device stops
                    the agent before it records, with the setting named) and started for
                    each prompt, stopped when it has played
  SimulatedSpeaker  (recorder/sim/body.py) mixes the prompt into the simulated body's
                    microphone, as the microphone hears a speaker, at an exact sample

The start time: PortAudio's callback is told when the first sample of its buffer reaches the
DAC (`outputBufferDacTime`) on the stream's clock, together with that clock's `currentTime`;
the difference, added to the monotonic clock read in the same callback, places the first
sample of the prompt on the monotonic clock (docs/VOICE.md: measured against where the
prompt lands in a recording of the PulseAudio sink's monitor).
"""

import logging
import threading
from collections import deque

import numpy as np

from .prompts import Prompt, VoiceError
from .resample import resample

log = logging.getLogger(__name__)

SETTING = "voice.output"
BLOCK = 1024  # samples per callback (21 ms at 48 kHz)
START_TIMEOUT_S = 1.0  # play() waits this long at most for the first sample to be scheduled
CLOSE_TIMEOUT_S = 2.0  # closing a vanished device can block for ever inside PortAudio


class PromptPlayer:
    description = ""

    def play(self, prompt: Prompt) -> int | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NoSpeaker(PromptPlayer):
    """No speaker fitted (voice.output = ""): the cues alone tell the officer."""

    description = 'none (voice.output = ""): cues only'

    def play(self, prompt: Prompt) -> None:
        log.info("voice prompt %r (%s) not played: no speaker (%s = \"\")", prompt.key, prompt.language, SETTING)
        return None


def device_arg(device: str):
    """'default' -> PortAudio's default output, '3' -> index 3, anything else a name."""
    if device == "default":
        return None
    return int(device) if device.isdigit() else device


class _Job:
    def __init__(self, samples: np.ndarray):
        self.samples = samples
        self.position = 0
        self.started_ns: int | None = None
        self.started = threading.Event()


class PortAudioPlayer(PromptPlayer):
    """A sounddevice OutputStream, mono float32 at the device's default rate."""

    def __init__(self, device: str, clock, setting: str = SETTING):
        self.device, self.clock, self.setting = device, clock, setting
        self._lock = threading.Lock()
        self._jobs: deque[_Job] = deque()
        self._running = False
        self._closed = False
        self._resampled: dict = {}  # prompt -> its samples at the stream's rate (made on first play)
        self.callbacks = 0
        self.underflows = 0
        try:
            import sounddevice
        except (ImportError, OSError) as exc:  # OSError: libportaudio2 missing
            raise VoiceError(f"{setting} = {device!r}: PortAudio is not available ({exc}); "
                             "install libportaudio2, or set voice.output = \"\" (no speaker)") from None
        self._sd = sounddevice
        try:
            info = sounddevice.query_devices(device_arg(device), "output")
            self.rate = int(info["default_samplerate"])
            self.name = info["name"]
            self._stream = sounddevice.OutputStream(
                samplerate=self.rate, channels=1, dtype="float32", blocksize=BLOCK,
                device=device_arg(device), callback=self._callback,
            )
        except Exception as exc:  # sounddevice raises ValueError / PortAudioError
            raise VoiceError(f"{setting} = {device!r}: cannot open the output device: {exc}") from None
        self.latency_s = float(self._stream.latency)
        self.description = f"PortAudio output {self.name!r} ({setting} = {device!r}, {self.rate} Hz)"

    # --- the agent's side ----------------------------------------------------------
    def play(self, prompt: Prompt) -> int | None:
        if self._closed:
            raise VoiceError("the prompt player is closed")
        job = _Job(self._at_stream_rate(prompt))
        called_ns = self.clock.monotonic_ns()
        with self._lock:
            previous = self._jobs[-1] if self._jobs else None  # still playing: this one follows it
            self._jobs.append(job)
            start = not self._running
            self._running = True
        if start:
            try:
                if not self._stream.stopped:  # it ended by itself after the last prompt
                    self._stream.stop()
                self._stream.start()
            except Exception as exc:  # a device lost mid-shift: the prompt is missed, recording goes on
                with self._lock:
                    self._jobs.clear()
                    self._running = False
                log.error("voice prompt %r not played: %s: %s", prompt.key, self.description, exc)
                return None
        if previous is not None and previous.started.wait(START_TIMEOUT_S):
            # Sample for sample after the one before it, in the same stream.
            return previous.started_ns + len(previous.samples) * 1_000_000_000 // self.rate
        if job.started.wait(START_TIMEOUT_S):
            return job.started_ns
        estimate = called_ns + int(self.latency_s * 1e9)
        log.warning("voice prompt %r: no output callback within %.1f s; start time estimated",
                    prompt.key, START_TIMEOUT_S)
        return estimate

    def _at_stream_rate(self, prompt: Prompt) -> np.ndarray:
        key = (prompt.key, prompt.language, len(prompt.samples), prompt.rate)
        if key not in self._resampled:
            self._resampled[key] = resample(prompt.samples, prompt.rate, self.rate)
        return self._resampled[key]

    @property
    def playing(self) -> bool:
        return self._running

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        stream = self._stream

        def close_stream():
            try:
                stream.abort()
            finally:
                stream.close()

        closer = threading.Thread(target=close_stream, name="prompt-output-close", daemon=True)
        closer.start()
        closer.join(CLOSE_TIMEOUT_S)
        if closer.is_alive():
            log.error("%s did not close within %.0f s; abandoned", self.description, CLOSE_TIMEOUT_S)

    # --- PortAudio's callback thread: copy, never wait --------------------------------
    def _callback(self, outdata, frames, time_info, status):
        now_ns = self.clock.monotonic_ns()
        self.callbacks += 1
        if status.output_underflow:
            self.underflows += 1
        out = outdata[:, 0]
        filled = 0
        finished = []
        with self._lock:
            while filled < frames and self._jobs:
                job = self._jobs[0]
                if job.position == 0:
                    ahead_s = time_info.outputBufferDacTime - time_info.currentTime
                    if not 0 <= ahead_s < 10:  # a host API that does not tell: its nominal latency
                        ahead_s = self.latency_s
                    job.started_ns = now_ns + int((ahead_s + filled / self.rate) * 1e9)
                    finished.append(job)  # its start is known: wake play()
                take = min(frames - filled, len(job.samples) - job.position)
                out[filled : filled + take] = job.samples[job.position : job.position + take]
                job.position += take
                filled += take
                if job.position >= len(job.samples):
                    self._jobs.popleft()
            out[filled:] = 0.0
            done = not self._jobs
            if done:
                self._running = False
        for job in finished:
            job.started.set()
        if done:
            raise self._sd.CallbackStop  # play what is buffered, then stop


def open_player(voice, clock) -> PromptPlayer:
    """The player `voice.output` names (a VoiceConfig); errors name the setting, at start-up."""
    if voice.output == "":
        return NoSpeaker()
    return PortAudioPlayer(voice.output, clock)
