"""The speech detector: espeak-ng speech, clean and at 10 dB SNR over the microphone's noise,
is heard (>= 0.3 s); silence, the noise alone, sirens and beeps are not. Block by block the
detector says what it says at once. The table is printed (pytest -s) and in docs/VOICE.md."""

import time

import numpy as np
import pytest

from conftest import require_tool
from recorder.voice.vad import CHUNK_SECONDS, SPOKE_SECONDS, SpeechDetector, spoke
from support import voice_clips
from support.voice_clips import RATE


@pytest.fixture(scope="module")
def detector():
    return SpeechDetector()


@pytest.fixture(scope="module")
def speech_clips():
    require_tool("espeak-ng")
    return voice_clips.speech_clips()


def report(title, rows):
    print(f"\n{title}")
    for name, seconds, length, top in rows:
        print(f"  {name:<28} {length:5.1f} s  speech {seconds:5.2f} s  max p {top:.2f}")


def test_speech_is_heard(detector, speech_clips):
    rows, missed = [], []
    for name, clip in speech_clips.items():
        seconds = detector.speech_seconds(clip, RATE)
        rows.append((name, seconds, len(clip) / RATE, max(detector.probabilities)))
        if not spoke(seconds):
            missed.append(name)
    report("speech clips (espeak-ng)", rows)
    assert not missed, f"speech not detected in {missed}"


def test_sirens_beeps_noise_and_silence_are_not_speech(detector):
    rows, false_alarms = [], []
    for name, clip in voice_clips.other_clips().items():
        seconds = detector.speech_seconds(clip, RATE)
        rows.append((name, seconds, len(clip) / RATE, max(detector.probabilities)))
        if spoke(seconds):
            false_alarms.append(name)
    report("not speech", rows)
    assert not false_alarms, f"speech 'detected' in {false_alarms}"


def test_the_detector_can_tell(detector, speech_clips):
    """The same detector with its threshold at 0 calls everything speech: the tests above can fail."""
    careless = SpeechDetector(threshold=0.0)
    assert spoke(careless.speech_seconds(voice_clips.other_clips()["silence"], RATE))
    assert careless.speech_seconds(speech_clips["en #1 clean"], RATE) == pytest.approx(
        careless.heard_seconds, abs=CHUNK_SECONDS)


def test_block_by_block_is_the_same_as_at_once(detector, speech_clips):
    clip = speech_clips["zh-CN #1 10 dB SNR"]
    at_once = detector.speech_seconds(clip, RATE)
    at_once_p = list(detector.probabilities)
    detector.reset()
    for start in range(0, len(clip), 1024):  # as the microphone delivers
        detector.feed(clip[start : start + 1024], RATE)
    assert detector.detected_seconds == at_once and detector.probabilities == at_once_p
    assert detector.spoke and at_once >= SPOKE_SECONDS
    two_channels = np.stack([clip, clip])
    assert detector.speech_seconds(two_channels, RATE) == at_once
    with pytest.raises(ValueError, match="rate changed"):
        detector.feed(clip[:1024], 16_000)


def test_cpu_per_second_of_audio(detector):
    """Far less than real time on this machine (the figure: docs/VOICE.md, bench/voice.py)."""
    clip = voice_clips.noise(20.0)
    started = time.process_time()
    detector.reset()
    for start in range(0, len(clip), 1024):
        detector.feed(clip[start : start + 1024], RATE)
    cpu_per_s = (time.process_time() - started) / 20.0
    print(f"\nVAD CPU: {cpu_per_s * 1000:.1f} ms per second of 48 kHz audio (resampling included)")
    assert cpu_per_s < 0.5
