"""Voice: what the speech detector costs, and how long a prompt takes to reach the microphone.

1. VAD CPU: SpeechDetector fed 48 kHz audio in the microphone's 1024-sample blocks (espeak-ng
   speech over the synthetic noise, sirens, silence), CPU seconds per second of audio
   against real time (1 s per s); the resampling to 16 kHz alone; loading the model.
2. Prompt path: a private PulseAudio null sink (tests/support/pulse.py); a PortAudioPlayer on
   the default output plays prompts while a SoundDeviceMicrophone records the sink's monitor.
   Each prompt is found in the decoded recording by cross-correlation: the time from play()
   being called to its first sample on the monotonic clock (the latency), how far that is
   from the start play() returned (its accuracy), and how long play() took to return.
   Baseline: the same prompt files played into the sink with `paplay`, measured the same way.

    cd bench && ../.venv/bin/python voice.py [VAD-SECONDS] [PROMPTS]
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from recorder.capture.microphone import SoundDeviceMicrophone  # noqa: E402
from recorder.clock import SystemClock  # noqa: E402
from recorder.config import AudioConfig, VoiceConfig  # noqa: E402
from recorder.sim.doubles import CollectingOutput  # noqa: E402
from recorder.voice.output import open_player  # noqa: E402
from recorder.voice.prompts import catalogue, prompt_audio, prompt_resource  # noqa: E402
from recorder.voice.resample import Resampler, resample  # noqa: E402
from recorder.voice.vad import SpeechDetector  # noqa: E402
from support import voice_clips  # noqa: E402
from support.audio_match import decode_collected, locate_onset  # noqa: E402
from support.pulse import PulseServer  # noqa: E402

RATE = 48_000
BLOCK = 1024


def vad_audio(seconds: float) -> np.ndarray:
    """Speech (both languages) over the synthetic noise, a siren, silence: `seconds` of it."""
    pieces = [voice_clips.in_window(voice_clips.speech(text, language), snr_db=10)
              for language, sentences in voice_clips.SENTENCES.items() for text in sentences]
    pieces += [voice_clips.siren(5.0), np.zeros(5 * RATE, dtype=np.float32)]
    audio = np.concatenate(pieces)
    return np.tile(audio, int(np.ceil(seconds * RATE / len(audio))))[: int(seconds * RATE)]


def vad_cpu(seconds: float) -> dict:
    audio = vad_audio(seconds)
    started = time.process_time()
    detector = SpeechDetector()
    load_s = time.process_time() - started
    started = time.process_time()
    for first in range(0, len(audio), BLOCK):
        detector.feed(audio[first : first + BLOCK], RATE)
    cpu = time.process_time() - started
    resampler = Resampler(RATE, 16_000)
    started = time.process_time()
    for first in range(0, len(audio), BLOCK):
        resampler.feed(audio[first : first + BLOCK])
    resample_cpu = time.process_time() - started
    r = {"seconds": seconds, "cpu_per_s": cpu / seconds, "resample_per_s": resample_cpu / seconds,
         "load_s": load_s, "speech_s": detector.detected_seconds}
    print(f"\nvoice 1. VAD: {seconds:.0f} s of 48 kHz audio in {BLOCK}-sample blocks: "
          f"{r['cpu_per_s'] * 1000:.1f} ms CPU per second of audio ({r['cpu_per_s'] * 100:.1f} % of real time), "
          f"of which resampling to 16 kHz {r['resample_per_s'] * 1000:.1f} ms; model load {load_s * 1000:.0f} ms; "
          f"{r['speech_s']:.1f} s judged speech")
    return r


def prompt_path(count: int) -> dict:
    import sounddevice

    keys = [(key, language) for language in catalogue().languages for key in catalogue().keys][:count]
    with PulseServer() as pulse, tempfile.TemporaryDirectory() as scratch:
        for name in ("PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR", "PULSE_SERVER"):
            os.environ[name] = pulse.env[name]
        sounddevice._terminate()
        sounddevice._initialize()
        clock, out = SystemClock(), CollectingOutput()
        mic = SoundDeviceMicrophone(AudioConfig(), "")
        mic.start([out], clock)
        played, baseline = [], []
        with open_player(VoiceConfig(output="default"), clock) as player:
            time.sleep(1.0)
            for key, language in keys:
                prompt = prompt_audio(key, language)
                called = clock.monotonic_ns()
                started = player.play(prompt)
                played.append((prompt, called, started, clock.monotonic_ns()))
                time.sleep(prompt.duration + 0.5)
            for key, language in keys:  # the baseline: paplay of the same file
                prompt = prompt_audio(key, language)
                wav = Path(scratch) / f"{language}-{key}.wav"
                wav.write_bytes(prompt_resource(key, language).read_bytes())
                called = clock.monotonic_ns()
                pulse.play(wav)
                baseline.append((prompt, called))
                time.sleep(prompt.duration + 0.5)
            description = player.description
            underflows = player.underflows
        mic.stop()
    recorded, first_ns = decode_collected(out)

    def found(prompt, called_ns):
        return locate_onset(recorded, first_ns, RATE, resample(prompt.samples, prompt.rate, RATE), called_ns)

    latency, error, returned, paplay = [], [], [], []
    for prompt, called, started, back in played:
        at, score = found(prompt, called)
        if score <= 0.9:
            print(f"   {prompt.language}/{prompt.key}: not found (best correlation {score:.2f})")
        else:
            latency.append((at - called) / 1e6)
            error.append((at - started) / 1e6)
            returned.append((back - called) / 1e6)
    for prompt, called in baseline:
        at, score = found(prompt, called)
        if score > 0.9:
            paplay.append((at - called) / 1e6)
    r = {"prompts": len(played), "found": len(latency), "latency_ms": latency, "error_ms": error,
         "returned_ms": returned, "paplay_ms": paplay, "underflows": underflows, "microphone": mic.counters}
    print(f"\nvoice 2. prompt path: {description} -> PulseAudio null sink -> sounddevice microphone on "
          f"its monitor; {len(played)} prompts played, {len(latency)} found")
    print(f"   play() called -> first sample recorded, ms: {' '.join(f'{v:.1f}' for v in latency)}")
    print(f"   found minus the start play() returned, ms: {' '.join(f'{v:+.1f}' for v in error)}")
    print(f"   play() returned after, ms: {' '.join(f'{v:.1f}' for v in returned)}")
    print(f"   baseline, paplay started -> first sample recorded, ms: {' '.join(f'{v:.1f}' for v in paplay)}")
    print(f"   output underflows {underflows}; microphone {mic.counters}")
    return r


def rows(vad_seconds: float, prompts: int) -> list:
    """The rows bench/run.py prints: (name, ours, baseline, unit, target)."""
    out = []
    if vad_seconds > 0:
        v = vad_cpu(vad_seconds)
        out.append(("voice: VAD CPU per second of audio", v["cpu_per_s"] * 1000, 1000.0, "ms", None))
    if prompts > 0:
        p = prompt_path(prompts)
        if p["latency_ms"] and p["paplay_ms"]:
            out.append(("voice: play() -> prompt recorded, median", statistics.median(p["latency_ms"]),
                        statistics.median(p["paplay_ms"]), "ms", None))
            out.append(("voice: play() -> prompt recorded, max", max(p["latency_ms"]), max(p["paplay_ms"]), "ms",
                        "300 ms"))
            out.append(("voice: |recorded - play()'s start|, max", max(abs(e) for e in p["error_ms"]),
                        1000 / 30, "ms", 1.0))
    return out


if __name__ == "__main__":
    rows(float(sys.argv[1]) if len(sys.argv) > 1 else 60, int(sys.argv[2]) if len(sys.argv) > 2 else 14)
