"""Putting a microphone's samples on the agent's monotonic clock.

A sound device counts samples with its own oscillator. Its "48 kHz" differs from
48 000 samples per monotonic second by tens to hundreds of ppm (and CLOCK_MONOTONIC
itself is slewed by NTP). A file whose audio is stamped `origin + n / 48000` then
drifts against the video by that much: 100 ppm is 360 ms after an hour, eleven
frames. Players play audio sample by sample, so correcting timestamps alone does
not help them: the file must hold 48 000 samples per monotonic second.

`ClockMapper` measures where the device's samples fall on the monotonic clock and
resamples them so the output sample j is the sound at `origin + j / rate`:

* Every captured block arrives (driver callback) some time after its last sample
  was taken: `arrival = capture time + latency + scheduling delay`. The delay is
  never negative, so the smallest `arrival - position / rate` over a sliding
  window (5 s) is a steady reading of the device's offset against the monotonic
  clock; its slow change is the drift.
* The output is the input resampled by linear interpolation at a ratio that walks
  the accumulated slip towards the measured offset once they differ by more than
  `dead_band_ms` (5 ms: the measurement's own jitter is ~1 ms and must not make the
  pitch wobble), proportionally with a `time_constant_s` of 3 s and at most
  `max_ppm` (1000 ppm, 1.7 cents of pitch: inaudible) — the correction never jumps.
  A steady drift d then leaves at most dead band + d x time constant of skew
  (5 ms + 0.3 ms at 100 ppm, + 1.5 ms at 500 ppm): far inside one frame (33 ms).
* Samples the device lost (an overrun) show up as a step in the offset. A step
  larger than `step_ms` (20 ms) is recognised within ~1 s (every reading of the last
  second is above the window's low), filled with silence at once and counted
  (`gap_samples`), never stretched over minutes; an excess of samples is dropped and
  counted (`dropped_samples`).

Pure computation (no threads, no device): a test drives it with any clock error.
"""

from collections import deque

import numpy as np

NS = 1_000_000_000


class ClockMapper:
    def __init__(self, sample_rate: int, channels: int, window_s: float = 5.0,
                 max_ppm: float = 1000.0, step_ms: float = 20.0, dead_band_ms: float = 5.0,
                 time_constant_s: float = 3.0, latency_ns: int = 0):
        self.rate = sample_rate
        self.channels = channels
        self.window_ns = int(window_s * NS)
        self.max_ppm = max_ppm
        self.step_samples = sample_rate * step_ms / 1000
        self.step_ns = step_ms * 1_000_000
        self.recent_ns = NS  # the "last second" that tells a step from jitter
        self.dead_band = sample_rate * dead_band_ms / 1000
        self.time_constant_samples = time_constant_s * sample_rate
        self.latency_ns = latency_ns  # driver-reported input latency: capture precedes arrival by it
        self.samples_in = 0  # input samples observed
        self._lows: deque[tuple[int, float]] = deque()  # (arrival_ns, offset_ns), increasing offsets
        self.reference_ns: float | None = None  # the offset when sample 0 was placed
        # Resampler state: input position of the next output sample, the last input
        # sample (for interpolating across blocks), output samples produced.
        self._next_x = 0.0
        self._consumed = 0
        self._last = np.zeros((channels, 1), dtype=np.float32)
        self.samples_out = 0
        self.gap_samples = 0
        self.dropped_samples = 0
        self._drift_base: tuple[int, float] | None = None  # (samples_in, slip) 10 s in

    # --- measuring -------------------------------------------------------------
    def observe(self, frames: int, arrival_ns: int) -> None:
        """A block of `frames` samples arrived at arrival_ns (monotonic)."""
        self.samples_in += frames
        offset = arrival_ns - self.samples_in * NS / self.rate
        while self._lows and self._lows[-1][1] >= offset:
            self._lows.pop()
        self._lows.append((arrival_ns, offset))
        while self._lows[0][0] < arrival_ns - self.window_ns:
            self._lows.popleft()
        if self._drift_base is None and self.reference_ns is not None and self.samples_in >= 10 * self.rate:
            self._drift_base = (self.samples_in, self.slip_samples)
        # A step (samples lost in an overrun) lifts every recent reading at once; drift
        # cannot move the offset by step_ms within a few seconds. Once the last second's
        # low is a step above the window's, forget the older readings: the gap is then
        # filled within ~1 s instead of after the whole window.
        recent = arrival_ns - self.recent_ns
        if self._lows[0][0] < recent:
            recent_low = next((o for a, o in self._lows if a >= recent), None)
            if recent_low is not None and recent_low - self._lows[0][1] > self.step_ns:
                while self._lows[0][0] < recent:
                    self._lows.popleft()

    @property
    def offset_ns(self) -> float:
        """Monotonic time of input sample 0 as measured now (the windowed low)."""
        return self._lows[0][1] - self.latency_ns

    def place_origin(self) -> int:
        """Fix sample 0's monotonic time (ns) from what has been observed so far."""
        self.reference_ns = self.offset_ns
        return int(self.reference_ns)

    @property
    def slip_samples(self) -> float:
        """Output samples minus input samples that the measurement asks for so far:
        positive when the device runs slow against the monotonic clock."""
        return (self.offset_ns - self.reference_ns) * self.rate / NS

    @property
    def drift_ppm(self) -> float | None:
        """The device's rate error against the monotonic clock (negative: it runs fast),
        from the slip since 10 s in (when the window is full; the first 0.5 s placed
        sample 0 from few readings). None until a minute after that: the readings jitter
        by ~1 ms, which over a minute is still ~17 ppm."""
        if self._drift_base is None:
            return None
        base_in, base_slip = self._drift_base
        if self.samples_in - base_in < 60 * self.rate:
            return None
        return 1e6 * (self.slip_samples - base_slip) / (self.samples_in - base_in)

    # --- resampling ------------------------------------------------------------
    def resample(self, block: np.ndarray) -> np.ndarray:
        """Input block (channels, n) float32, the next n input samples -> output samples."""
        n = block.shape[1]
        start = self._consumed
        end = start + n  # input positions [start, end) are in this block
        # What the output count after this block should be, if the slip were applied now.
        wanted_slip = self.slip_samples
        current_slip = self.samples_out - self._next_x
        pieces = []
        error = wanted_slip - current_slip
        if error > self.step_samples:  # samples were lost: silence in their place
            gap = int(round(error))
            pieces.append(np.zeros((self.channels, gap), dtype=np.float32))
            self.gap_samples += gap
            self.samples_out += gap
            error -= gap
        elif error < -self.step_samples:  # more samples than time: skip them
            skip = int(round(-error))
            self._next_x += skip
            self.dropped_samples += skip
            error += skip
        # Walk the error beyond the dead band off, proportionally, at a bounded ratio.
        excess = max(0.0, abs(error) - self.dead_band) * (1 if error > 0 else -1)
        limit = self.max_ppm * 1e-6 * n
        correction = max(-limit, min(limit, excess * n / self.time_constant_samples))
        step = n / (n + correction)  # input positions per output sample
        positions = np.arange(self._next_x, end - 1 + 1e-9, step)
        if positions.size:
            known = np.concatenate([self._last, block], axis=1)  # positions start-1 .. end-1
            xp = np.arange(start - 1, end, dtype=np.float64)
            out = np.empty((self.channels, positions.size), dtype=np.float32)
            for ch in range(self.channels):
                out[ch] = np.interp(positions, xp, known[ch])
            pieces.append(out)
            self._next_x = float(positions[-1] + step)
            self.samples_out += positions.size
        self._last = block[:, -1:].astype(np.float32)
        self._consumed = end
        if not pieces:
            return np.zeros((self.channels, 0), dtype=np.float32)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)
