"""Microphone on the real sound stack over a longer run: do the samples stay where the
monotonic clock says they are?

A private PulseAudio (tests/support/pulse.py) with a null sink; sounddevice captures its
monitor through PortAudio; a 10 ms click is played into the sink with paplay every 5 s,
the monotonic time noted just before each paplay starts. The encoded AAC is decoded and
each click is found (first sample above a threshold); its time on the monotonic clock is
the packets' timestamps + position. Reported: the delay click-found minus paplay-started
for every click (paplay's own start-up is in it), its drift from the first to the last
click, and the microphone's counters (overruns, gaps, clock slip, drift in ppm).

This null sink is timed by the system clock, so drift here is ~0 by construction; the
figure shows the mapping adds no drift of its own and how steady it is on a loaded machine.
Drift of a real device is covered by tests/test_audio_clock.py.
"""

import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from recorder.capture.microphone import SoundDeviceMicrophone  # noqa: E402
from recorder.clock import SystemClock  # noqa: E402
from recorder.config import AudioConfig  # noqa: E402
from recorder.sim.doubles import CollectingOutput  # noqa: E402
from support.pulse import PulseServer  # noqa: E402

RATE = 48_000
CLICK_EVERY_S = 5


def click_wav(path: Path) -> Path:
    t = np.arange(int(0.01 * RATE)) / RATE
    pcm = (0.8 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return path


def decode(out: CollectingOutput) -> tuple[np.ndarray, int]:
    """(samples, monotonic µs of the first one) from the packets' own timestamps."""
    [(stream, _, _)] = out.streams
    decoder = av.CodecContext.create(stream.codec_context.name, "r")
    decoder.extradata = stream.codec_context.extradata
    pieces, first_us = [], None
    for timestamp, _, _, data in out.packets:
        for frame in decoder.decode(av.Packet(data)):
            if first_us is None:
                first_us = timestamp
            pieces.append(frame.to_ndarray()[0])
    return np.concatenate(pieces), first_us


def run(seconds: float) -> dict:
    import os

    import sounddevice

    with PulseServer() as pulse, tempfile.TemporaryDirectory() as scratch:
        for key in ("PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR", "PULSE_SERVER"):
            os.environ[key] = pulse.env[key]
        sounddevice._terminate()
        sounddevice._initialize()
        click = click_wav(Path(scratch) / "click.wav")
        clock, out = SystemClock(), CollectingOutput()
        mic = SoundDeviceMicrophone(AudioConfig(), "")
        cpu0 = time.process_time()
        mic.start([out], clock)
        marks = []
        started = clock.monotonic_ns()
        next_click = started + 2_000_000_000
        while next_click < started + seconds * 1e9:
            clock.sleep_until(next_click)
            marks.append(clock.monotonic_ns())
            pulse.play(click)
            next_click += CLICK_EVERY_S * 1_000_000_000
        clock.sleep_until(next_click)
        mic.stop()
        cpu = time.process_time() - cpu0
        elapsed = (clock.monotonic_ns() - started) / 1e9
    samples, first_us = decode(out)
    delays = []
    for mark in marks:
        begin = int((mark / 1000 - first_us) * RATE / 1e6)
        window = np.abs(samples[begin : begin + RATE])
        loud = np.flatnonzero(window > 0.2)
        if loud.size:
            found_us = first_us + (begin + loud[0]) * 1e6 / RATE
            delays.append((found_us - mark / 1000) / 1000)
    counters = mic.counters
    print(f"\nmicrophone: sounddevice on PulseAudio null sink, {elapsed:.0f} s, a click every "
          f"{CLICK_EVERY_S} s ({len(marks)} played, {len(delays)} found)")
    print(f"   click found minus paplay start, ms: {' '.join(f'{d:.1f}' for d in delays)}")
    print(f"   counters: {counters}; agent CPU {cpu / elapsed * 100:.1f} % of one core")
    return {
        "clicks": len(marks),
        "found": len(delays),
        "delay_median_ms": statistics.median(delays) if delays else float("nan"),
        "delay_spread_ms": (max(delays) - min(delays)) if delays else float("nan"),
        "delay_drift_ms": (delays[-1] - delays[0]) if len(delays) > 1 else float("nan"),
        "counters": counters,
        "cpu_share": cpu / elapsed,
    }


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 60)
