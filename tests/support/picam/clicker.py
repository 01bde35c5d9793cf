"""A/V sync rig (inside the chroot): plays a click into the PulseAudio null sink at
the moment the virtual camera captures a given frame.

The virtual camera's frame k is captured when the pacer queues it, on a fixed
grid from the first frame (t0 + k * period, later by a period for every slot the
pacer had to skip; virtual.PacedCamera). So the click times are known in advance
and corrected at each skip; the report lets the test check each click against
its frame's actual capture time. A PortAudio output stream places each click at
the sample whose playback time (PortAudio's DAC time of the buffer, moved onto
CLOCK_MONOTONIC in the callback) is that frame's capture time. What the recorder
then records of it through its microphone source is its own business: the test
looks at the sealed file only.
"""

import threading
import time

import numpy as np

RATE = 48_000
CLICK = (0.8 * np.sin(2 * np.pi * 1000 * np.arange(480) / RATE)).astype(np.float32)  # 10 ms, 1 kHz


class ClickPlayer:
    def __init__(self, frames: list[int], fps: int = 30):
        self.frames = sorted(frames)
        self.period_ns = 1_000_000_000 // fps
        self._lock = threading.Lock()
        self._due: list[int] = []  # monotonic ns of clicks not yet started
        self._pending_frames = list(self.frames)  # their frames
        self._playing: list[np.ndarray] = []  # rest of a click that spans buffers
        self.placed: list[dict] = []  # what was played when (for the report)
        self.stream = None

    def chain(self, timeline):
        """The pacer's hook: frame k is due at t0 + k * period + (slots skipped so far)."""
        state = {"t0": None, "shift": None}

        def on_queue(index, tick_ns):
            timeline(index, tick_ns)
            if state["t0"] is None:
                state["t0"] = tick_ns - index * self.period_ns
            shift = tick_ns - (state["t0"] + index * self.period_ns)
            if shift != state["shift"]:  # first frame, or the pacer skipped a slot
                state["shift"] = shift
                with self._lock:
                    self._pending_frames = [k for k in self._pending_frames if k >= index]
                    self._due = [state["t0"] + k * self.period_ns + shift for k in self._pending_frames]

        return on_queue

    def start(self):
        import sounddevice

        self.stream = sounddevice.OutputStream(
            device="pulse", samplerate=RATE, channels=1, dtype="float32", blocksize=240,
            latency="low", callback=self._callback,
        )
        self.stream.start()

    def stop(self):
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()

    def report(self) -> dict:
        return {"frames": self.frames, "placed": self.placed}

    def _callback(self, outdata, frames, time_info, status):
        now_ns = time.monotonic_ns()
        dac_ns = now_ns + int((time_info.outputBufferDacTime - time_info.currentTime) * 1e9)
        out = outdata[:, 0]
        out[:] = 0
        with self._lock:
            pos = 0
            if self._playing:
                rest = self._playing.pop()
                n = min(len(rest), frames)
                out[:n] = rest[:n]
                if n < len(rest):
                    self._playing.append(rest[n:])
            while self._due:
                offset = round((self._due[0] - dac_ns) * RATE / 1e9)
                if offset >= frames:
                    break
                due = self._due.pop(0)
                frame = self._pending_frames.pop(0)
                start = max(offset, pos)
                n = min(len(CLICK), frames - start)
                out[start : start + n] = CLICK[:n]
                if n < len(CLICK):
                    self._playing.append(CLICK[n:])
                self.placed.append({"frame": frame, "due_ns": due, "dac_ns": dac_ns + round(start * 1e9 / RATE),
                                    "late_samples": max(0, -offset)})
                pos = start + n
