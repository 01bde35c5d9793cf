"""Test clips for the speech detector: espeak-ng speech (Mandarin and English), clean and over
the synthetic microphone's noise at a given SNR, and sounds that are not speech (silence, the
noise alone, a siren's sweep, beeps). All mono float32 at 48 kHz, the microphone's rate."""

import io

import numpy as np

from recorder.capture.synthetic import reference_samples
from recorder.voice.prompts import catalogue
from recorder.voice.render import render
from recorder.voice.resample import resample
from recorder.voice.wav import read_wav

RATE = 48_000
SENTENCES = {
    "zh-CN": ["我刚才在换电池，所以录像中断了。", "存储卡满了，我换了一张新卡。", "设备突然关机，现在重新开始录像。", "换电池。"],
    "en": ["I was changing the battery, so the recording stopped.", "The memory card was full and I replaced it.",
           "The camera switched off by itself. Recording again now.", "Battery."],
}


def speech(text: str, language: str) -> np.ndarray:
    spec = catalogue().languages[language]
    samples, rate = read_wav(io.BytesIO(render(text, spec.espeak_voice, spec.espeak_speed, spec.espeak_amplitude)))
    return resample(samples, rate, RATE)


def noise(seconds: float, first_sample: int = 0) -> np.ndarray:
    """The simulated body's microphone noise (white, 0.1 RMS)."""
    return reference_samples(first_sample, int(seconds * RATE))


def active_rms(samples: np.ndarray) -> float:
    """RMS between the first and the last sample above 1 % of full scale (the utterance)."""
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return float(np.sqrt(np.mean(samples[loud[0] : loud[-1] + 1] ** 2)))


def in_window(sound: np.ndarray, seconds: float = 0.0, snr_db: float | None = None, lead_s: float = 0.5) -> np.ndarray:
    """The sound lead_s into a window of max(seconds, its length + 1 s): over silence, or over
    the synthetic noise with the sound scaled to snr_db above it."""
    length = max(int(seconds * RATE), len(sound) + RATE)
    if snr_db is None:
        window = np.zeros(length, dtype=np.float32)
        gain = 1.0
    else:
        window = noise(length / RATE, first_sample=12_345).copy()
        gain = float(np.sqrt(np.mean(window**2))) * 10 ** (snr_db / 20) / active_rms(sound)
    start = int(lead_s * RATE)
    window[start : start + len(sound)] += sound * np.float32(gain)
    return window


def siren(seconds: float = 10.0, level: float = 0.5) -> np.ndarray:
    """A wailing siren: a tone sweeping 600-1400 Hz and back every 2 s (with two harmonics)."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(1000 + 400 * np.sin(2 * np.pi * t / 2)) / RATE
    tone = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    return (level * tone / 1.4).astype(np.float32)


def yelp(seconds: float = 10.0, level: float = 0.5) -> np.ndarray:
    """A yelp siren: fast sweeps 700-1600 Hz, 4 per second."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(700 + 900 * ((t * 4) % 1.0)) / RATE
    return (level * np.sin(phase)).astype(np.float32)


def beeps(seconds: float = 10.0, level: float = 0.5, every_s: float = 1.0, beep_s: float = 0.2,
          freq: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    on = (t % every_s) < beep_s
    return (level * on * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech_clips() -> dict[str, np.ndarray]:
    clips = {}
    for language, sentences in SENTENCES.items():
        for i, text in enumerate(sentences):
            spoken = speech(text, language)
            clips[f"{language} #{i + 1} clean"] = in_window(spoken)
            clips[f"{language} #{i + 1} 10 dB SNR"] = in_window(spoken, snr_db=10)
    return clips


def other_clips() -> dict[str, np.ndarray]:
    n = noise(10.0)
    return {
        "silence": np.zeros(10 * RATE, dtype=np.float32),
        "microphone noise": n,
        "siren (wail)": siren(),
        "siren (wail) + noise": siren() + n,
        "siren (yelp)": yelp(),
        "siren (yelp) + noise": yelp() + n,
        "beeps 1 kHz": beeps(),
        "beeps 1 kHz + noise": beeps() + n,
        "beeps 2.5 kHz, fast": beeps(every_s=0.3, beep_s=0.1, freq=2500),
    }
