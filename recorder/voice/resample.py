"""Band-limited resampling, block by block, with no delay.

Prompts are rendered at 22.05 kHz and played at the output device's rate or mixed into a
48 kHz microphone; the speech detector wants 16 kHz. `Resampler` converts between any two
integer rates with a windowed-sinc (Kaiser) filter evaluated on the exact rational grid:
output sample n is the input signal at time n / to_rate, where input sample k is at
k / from_rate. There is no group delay to compensate, so a sound placed at a sample on one
side lands on the matching sample on the other (tests/test_voice_resample.py).

Fed block by block it keeps only the few input samples its filter still needs; the signal
before the first sample and after `flush()` is taken as silence.
"""

from math import ceil, gcd

import numpy as np

HALF_WIDTH = 16  # filter half-length, in samples of the lower of the two rates
ROLLOFF = 0.92  # pass band edge as a share of the lower rate's Nyquist frequency
KAISER_BETA = 8.0  # stop band ~ -80 dB
CHUNK = 8192  # output samples computed at once (bounds the temporary index matrix)


def _table(up: int, down: int) -> tuple[np.ndarray, np.ndarray]:
    """(taps, offsets): one row of filter taps per phase r (output at input position q + r/up),
    applied to input samples q + offsets."""
    scale = min(1.0, up / down)  # downsampling: the filter cuts at the output's Nyquist
    reach = ceil(HALF_WIDTH / scale)  # input samples on each side
    offsets = np.arange(-reach + 1, reach + 1)
    t = offsets[None, :] - np.arange(up)[:, None] / up  # input samples from the output's position
    cutoff = 0.5 * scale * ROLLOFF  # cycles per input sample
    x = np.clip(t / reach, -1.0, 1.0)
    window = np.i0(KAISER_BETA * np.sqrt(1.0 - x * x)) / np.i0(KAISER_BETA)
    taps = 2 * cutoff * np.sinc(2 * cutoff * t) * window
    taps /= taps.sum(axis=1, keepdims=True)  # every phase passes DC exactly
    return taps.astype(np.float32), offsets


class Resampler:
    def __init__(self, from_rate: int, to_rate: int):
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, not {from_rate} -> {to_rate}")
        self.from_rate, self.to_rate = int(from_rate), int(to_rate)
        g = gcd(self.from_rate, self.to_rate)
        self.up, self.down = self.to_rate // g, self.from_rate // g
        self.taps, self.offsets = _table(self.up, self.down)
        self.reach = int(self.offsets[-1])
        # Input held: samples [self._start, self._start + len(self._buf)); silence before 0.
        self._buf = np.zeros(self.reach, dtype=np.float32)
        self._start = -self.reach
        self._next = 0  # next output sample
        self.samples_in = 0
        self._flushed = False

    def _produce(self, last_output: int) -> np.ndarray:
        """Output samples [self._next, last_output], all of whose inputs are held."""
        pieces = []
        while self._next <= last_output:
            n = np.arange(self._next, min(last_output, self._next + CHUNK - 1) + 1, dtype=np.int64)
            pos = n * self.down
            q, r = pos // self.up, pos % self.up
            index = (q - self._start)[:, None] + self.offsets[None, :]
            pieces.append(np.einsum("ij,ij->i", self._buf[index], self.taps[r]))
            self._next = int(n[-1]) + 1
        # Keep what the next output still needs.
        q_next = self._next * self.down // self.up
        drop = q_next + int(self.offsets[0]) - self._start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._start += drop
        if not pieces:
            return np.zeros(0, dtype=np.float32)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """The next input samples (mono) -> the output samples they complete."""
        if self._flushed:
            raise RuntimeError("Resampler.feed after flush")
        samples = np.asarray(samples, dtype=np.float32)
        self._buf = np.concatenate([self._buf, samples])
        self.samples_in += len(samples)
        held_last = self._start + len(self._buf) - 1
        # Output n needs inputs up to floor(n * down / up) + reach.
        a = held_last - self.reach
        last_output = ((a + 1) * self.up - 1) // self.down if a >= 0 else -1
        return self._produce(last_output)

    def flush(self) -> np.ndarray:
        """The rest: every output sample before the end of the input (silence after it)."""
        self._flushed = True
        self._buf = np.concatenate([self._buf, np.zeros(self.reach + 1, dtype=np.float32)])
        total = -(-self.samples_in * self.up // self.down)  # ceil: outputs at times < end
        return self._produce(total - 1)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """One-shot: ceil(len * to / from) samples, float32."""
    samples = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return samples.copy()
    resampler = Resampler(from_rate, to_rate)
    return np.concatenate([resampler.feed(samples), resampler.flush()])
