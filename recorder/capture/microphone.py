"""Microphones on PortAudio: sounddevice (default) and pyaudio back-ends.

The driver's callback thread only copies each block and queues it with its
arrival time on the agent's clock: it must never wait (a late callback is an
overrun). An encoder thread takes the blocks, places them on the monotonic clock
(`ClockMapper`: origin, drift, lost samples) and feeds the AAC/Opus encoder,
which delivers packets to the outputs.

Nothing is hidden: overruns (the driver's input-overflow flag) are counted and
logged, samples lost in them are replaced by counted silence, and a device that
stops delivering (unplugged, sound server gone) or a stream that ends by itself
sets `failure` to a CaptureError within `loss_timeout_s`.
"""

import logging
import queue
import threading

import numpy as np

from ..config import AudioConfig
from .audio_clock import ClockMapper
from .encoders import AudioEncoder
from .listeners import SampleListeners
from .sources import CaptureSource

log = logging.getLogger(__name__)

BLOCK = 1024  # samples per driver callback: 21 ms at 48 kHz
SETTLE_S = 0.5  # arrival times gathered before sample 0 is placed on the clock
QUEUE_SECONDS = 10  # audio the encoder thread may fall behind before it is a failure
START_TIMEOUT_S = 3.0  # a device may take a while to deliver its first block (PulseAudio ~1-2 s)
CLOSE_TIMEOUT_S = 2.0  # closing a vanished device can block for ever inside PortAudio


class Microphone(CaptureSource):
    """Common part: queue, encoder thread, loss watchdog, counters. A back-end
    implements `_open(callback)` / `_close()` and calls `_deliver` from its callback."""

    def __init__(self, audio: AudioConfig, device: str = "", loss_timeout_s: float = 1.0):
        super().__init__()
        self.audio = audio
        self.device = device
        self.loss_timeout_s = loss_timeout_s
        self.overruns = 0
        self.blocks = 0
        self.mapper: ClockMapper | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SECONDS * audio.sample_rate // BLOCK)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.encoder: AudioEncoder | None = None
        self.listeners = SampleListeners()

    def add_listener(self, callback) -> None:
        """callback(samples float32 mono, first_sample_ns, rate) for every block encoded, on the
        encoder thread, placed on the monotonic clock as the recording is (capture/listeners.py)."""
        self.listeners.add(callback)

    def remove_listener(self, callback) -> None:
        self.listeners.discard(callback)

    @property
    def description(self) -> str:
        return f"{self.name} ({self.device or 'default device'})"

    def describe(self) -> dict:
        return {"kind": self.name, "device": self.device or "default"}

    # --- lifecycle -------------------------------------------------------------
    def start(self, outputs, clock) -> None:
        self.clock = clock
        self.encoder = AudioEncoder(self.audio, outputs)
        self.mapper = ClockMapper(self.audio.sample_rate, self.audio.channels)
        try:
            latency_s = self._open()
        except Exception as exc:  # the driver's own error type differs per back-end
            raise self.fail(f"cannot open input device {self.device or 'default'!r}: {exc}", exc) from exc
        # Not subtracted from the arrival times: PortAudio reports its buffer size (43 ms
        # here), while the lower envelope of the arrivals already marks when a block was
        # complete (measured: speech played into PulseAudio lands 0-10 ms after paplay starts).
        self.reported_latency_s = latency_s
        self._thread = threading.Thread(target=self._encode_loop, name=f"{self.name}-encoder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the device, then encode and deliver every block it captured."""
        self._stopping.set()
        # Pa_StopStream waits for the driver's callback thread, which can hang for ever
        # in ALSA's poll once the sound server is gone: close on a helper thread and give
        # up on it after a while, so that what was captured is still delivered.
        closer = threading.Thread(target=self._close_reporting, name=f"{self.name}-close", daemon=True)
        closer.start()
        closer.join(CLOSE_TIMEOUT_S)
        if closer.is_alive():
            log.error("%s: the input device did not close within %.0f s; abandoned", self.name, CLOSE_TIMEOUT_S)
            self.fail(f"input device {self.device or 'default'!r} did not close within {CLOSE_TIMEOUT_S:.0f} s "
                      "(driver hung; abandoned)")
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self.encoder is not None:
            self.encoder.flush()

    def _close_reporting(self) -> None:
        try:
            self._close()
        except Exception as exc:
            self.fail(f"closing the input device failed: {exc}", exc)

    @property
    def counters(self) -> dict:
        m = self.mapper
        return {
            "blocks": self.blocks,
            "samples_captured": m.samples_in if m else 0,
            "samples_encoded": m.samples_out if m else 0,
            "overruns": self.overruns,
            "gap_samples": m.gap_samples if m else 0,
            "dropped_samples": m.dropped_samples if m else 0,
            # The offset of the device clock against the monotonic clock so far (ms; slow change =
            # drift). A rate in ppm means something only over minutes: scheduling jitter is ~1 ms.
            "clock_slip_ms": round(m.slip_samples * 1000 / m.rate, 2) if m and m.reference_ns is not None else 0.0,
            "drift_ppm": round(m.drift_ppm, 1) if m and m.drift_ppm is not None else None,
        }

    # --- driver side (callback thread): copy, stamp, queue; never block ---------
    def _deliver(self, samples: np.ndarray, overflow: bool) -> None:
        """samples: (frames, channels) float32, owned by the driver (copied here)."""
        arrival = self.clock.monotonic_ns()
        if overflow:
            self.overruns += 1
        try:
            self._queue.put_nowait((samples.T.copy(), arrival, overflow))
        except queue.Full:
            self.fail(f"encoder fell {QUEUE_SECONDS} s behind the device; audio would be lost")

    def _stream_ended(self) -> None:
        """The driver ended the stream by itself (device gone, server stopped)."""
        if not self._stopping.is_set():
            self.fail(f"input device {self.device or 'default'!r} stopped delivering audio (device lost?)")

    # --- encoder thread ----------------------------------------------------------
    def _encode_loop(self) -> None:
        try:
            self._encode_blocks()
        except Exception as exc:  # an encoder error must not end the thread unnoticed
            self.fail(f"encoding audio failed: {exc}", exc)

    def _encode_blocks(self) -> None:
        pending = []  # blocks held until sample 0 is placed on the clock
        last_arrival = self.clock.monotonic_ns()
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                item = ()
            if item is None:  # stop(): the device is closed, everything is queued
                break
            if item == ():
                silent_s = (self.clock.monotonic_ns() - last_arrival) / 1e9
                allowed = self.loss_timeout_s if self.blocks else max(START_TIMEOUT_S, self.loss_timeout_s)
                if not self._stopping.is_set() and silent_s > allowed and self.failure is None:
                    self.fail(f"no audio from input device {self.device or 'default'!r} "
                              f"for {silent_s:.1f} s (device lost?)")
                continue
            block, arrival, overflow = item
            last_arrival = arrival
            self.blocks += 1
            if overflow:
                log.warning("%s: input overrun #%d (samples lost; silence put in their place)",
                            self.name, self.overruns)
            self.mapper.observe(block.shape[1], arrival)
            if self.mapper.reference_ns is None:
                pending.append(block)
                if self.mapper.samples_in >= SETTLE_S * self.audio.sample_rate:
                    self._place_origin(pending)
                    pending = []
                continue
            self._encode(block)
        if pending:  # stopped before settling: place what there is
            self._place_origin(pending)

    def _place_origin(self, blocks) -> None:
        self._origin_us = self.mapper.place_origin() // 1000
        for block in blocks:
            self._encode(block)

    def _encode(self, block: np.ndarray) -> None:
        out = self.mapper.resample(block)
        if out.shape[1]:
            # The encoder stamps output sample j at origin + j / rate: the mapper made that true.
            self.encoder.encode(out, self._origin_us)
            if self.listeners:
                first = self.mapper.samples_out - out.shape[1]
                rate = self.audio.sample_rate
                self.listeners.deliver(out, self._origin_us * 1000 + first * 1_000_000_000 // rate, rate)

    def _open(self) -> float:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


def device_arg(device: str):
    """'' -> the default device, '3' -> index 3, anything else a name."""
    if device == "":
        return None
    return int(device) if device.isdigit() else device


class SoundDeviceMicrophone(Microphone):
    name = "sounddevice"

    def _open(self) -> float:
        import sounddevice

        def callback(indata, frames, time_info, status):
            self._deliver(indata, bool(status.input_overflow))

        self._stream = sounddevice.InputStream(
            samplerate=self.audio.sample_rate, channels=self.audio.channels, dtype="float32",
            blocksize=BLOCK, device=device_arg(self.device), callback=callback,
            finished_callback=self._stream_ended,
        )
        self._stream.start()
        return float(self._stream.latency)

    def _close(self) -> None:
        stream = getattr(self, "_stream", None)
        if stream is not None:
            self._stream = None
            try:
                # A lost device: abort (PortAudio cancels its callback thread, which may be
                # stuck in ALSA's poll); stop would wait for it for ever.
                stream.abort() if self.failure is not None else stream.stop()
            finally:
                stream.close()


class PyAudioMicrophone(Microphone):
    name = "pyaudio"

    def _open(self) -> float:
        import pyaudio

        self._pa = pyaudio.PyAudio()
        device = device_arg(self.device)
        if isinstance(device, str):
            device = pyaudio_input_index(self._pa, device)
        channels = self.audio.channels

        def callback(in_data, frame_count, time_info, status):
            samples = np.frombuffer(in_data, dtype=np.float32).reshape(frame_count, channels)
            self._deliver(samples, bool(status & pyaudio.paInputOverflow))
            return None, pyaudio.paContinue

        self._stream = self._pa.open(
            format=pyaudio.paFloat32, channels=channels, rate=self.audio.sample_rate, input=True,
            input_device_index=device, frames_per_buffer=BLOCK, stream_callback=callback,
        )
        self._stream.start_stream()
        return float(self._stream.get_input_latency())

    def _close(self) -> None:
        stream, pa = getattr(self, "_stream", None), getattr(self, "_pa", None)
        self._stream = self._pa = None
        try:
            if stream is not None:
                if self.failure is not None and hasattr(pyaudio_module(), "_portaudio"):
                    # PyAudio has no public abort; see SoundDeviceMicrophone._close for why.
                    pyaudio_module()._portaudio.abort_stream(stream._stream)
                else:
                    stream.stop_stream()
                stream.close()
        finally:
            if pa is not None:
                pa.terminate()


def pyaudio_module():
    import pyaudio

    return pyaudio


def pyaudio_input_index(pa, name: str) -> int:
    """The index of pyaudio's input device called `name` (ValueError when there is none)."""
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if info.get("maxInputChannels", 0) > 0 and info.get("name") == name:
            return index
    raise ValueError(f"no input device named {name!r}")


MICROPHONES = {"sounddevice": SoundDeviceMicrophone, "pyaudio": PyAudioMicrophone}
