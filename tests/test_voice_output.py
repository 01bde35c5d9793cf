"""The prompt's speaker on the real sound stack: a PortAudio OutputStream (sounddevice) into a
private PulseAudio's null sink, while a Microphone records the sink's monitor. The prompt is
found in the recording by cross-correlation, where play() said it started; play() returns
long before the prompt ends; no speaker and a wrong device behave as documented."""

import time

import numpy as np
import pytest

from conftest import require_tool
from recorder.capture.microphone import SoundDeviceMicrophone
from recorder.clock import SystemClock
from recorder.config import AudioConfig, VoiceConfig
from recorder.errors import RecorderError
from recorder.sim.doubles import CollectingOutput
from recorder.voice.output import NoSpeaker, PortAudioPlayer, open_player
from recorder.voice.prompts import VoiceError, prompt_audio
from recorder.voice.resample import resample
from support.audio_match import decode_collected, locate_onset
from support.pulse import PulseServer, use_pulse_in_this_process

RATE = 48_000
FOUND_AFTER_PLAY_MS = 300  # budget: play() called -> the prompt's first sample in the recording
START_ERROR_MS = 30  # |where the prompt is found - what play() returned|


@pytest.fixture
def pulse(monkeypatch):
    for tool in ("pulseaudio", "pactl", "pacat"):
        require_tool(tool)
    server = PulseServer().start()
    use_pulse_in_this_process(server, monkeypatch)
    yield server
    server.stop()


class Underflowed(Exception):
    """The speaker's stream ran dry: a starved host (a loaded CI machine), after which the
    prompt's later samples sit late; the placement measured then is not the player's."""


def record_while(play, seconds_after: float, attempts: int = 3):
    """record_once, again when the host starved the speaker's stream (at most `attempts` times)."""
    for attempt in range(attempts):
        try:
            return record_once(play, seconds_after)
        except Underflowed:
            print(f"\nattempt {attempt + 1}: the speaker's stream underflowed (a starved host); again")
    pytest.fail(f"the speaker's stream underflowed in each of {attempts} attempts")


def record_once(play, seconds_after: float):
    """A microphone on the sink's monitor; play(player, clock) -> [(prompt, called_ns, started_ns, returned_ns)]."""
    clock, out = SystemClock(), CollectingOutput()
    mic = SoundDeviceMicrophone(AudioConfig(), "")
    heard = []
    mic.add_listener(lambda samples, first_ns, rate: heard.append((samples, first_ns, rate)))
    mic.start([out], clock)
    try:
        with open_player(VoiceConfig(output="default"), clock) as player:
            assert isinstance(player, PortAudioPlayer)
            time.sleep(0.8)  # the microphone places its first samples on the clock
            played = play(player, clock)
            time.sleep(seconds_after)
            if player.underflows:
                raise Underflowed()
    finally:
        mic.stop()
    assert mic.failure is None and mic.counters["gap_samples"] == 0
    return played, out, heard


def located(recorded, first_ns, prompt, near_ns):
    return locate_onset(recorded, first_ns, RATE, resample(prompt.samples, prompt.rate, RATE), near_ns)


def test_a_played_prompt_is_recorded_where_play_said(pulse):
    prompts = [prompt_audio("battery", "zh-CN"), prompt_audio("resumed", "en")]

    def play(player, clock):
        played = []
        for prompt in prompts:
            called = clock.monotonic_ns()
            started = player.play(prompt)
            played.append((prompt, called, started, clock.monotonic_ns()))
            time.sleep(prompt.duration + 0.5)
        return played

    played, out, heard = record_while(play, 0.5)
    recorded, first_ns = decode_collected(out)
    tapped = np.concatenate([samples for samples, _, _ in heard])
    for prompt, called, started, returned in played:
        found_ns, score = located(recorded, first_ns, prompt, called)
        latency_ms, error_ms = (found_ns - called) / 1e6, (found_ns - started) / 1e6
        print(f"\n{prompt.language}/{prompt.key}: correlation {score:.3f}; play() returned after "
              f"{(returned - called) / 1e6:.1f} ms; found {latency_ms:.1f} ms after play(), "
              f"{error_ms:+.1f} ms from the start play() returned")
        assert score > 0.9, f"{prompt.key} not found in the recording (best correlation {score:.2f})"
        assert 0 <= latency_ms < FOUND_AFTER_PLAY_MS
        assert abs(error_ms) < START_ERROR_MS
        assert (returned - called) / 1e9 < min(0.3, prompt.duration / 4), "play() must not wait for the prompt"
        # The listener hears it at the same place on the clock as the recording has it.
        tapped_ns, tapped_score = located(tapped, heard[0][1], prompt, called)
        assert tapped_score > 0.9 and abs(tapped_ns - found_ns) < 1_000_000


def test_a_prompt_asked_for_while_another_plays_follows_it(pulse):
    first, second = prompt_audio("resumed", "en"), prompt_audio("fault", "en")

    def play(player, clock):
        a = player.play(first)
        time.sleep(1.0)
        b = player.play(second)
        return [(first, a), (second, b)]

    played, out, _ = record_while(play, first.duration + second.duration)
    recorded, first_ns = decode_collected(out)
    (_, a), (_, b) = played
    assert abs((b - a) - first.duration_ns) < 2_000_000, "the second starts where the first ends"
    for prompt, started in played:
        found_ns, score = located(recorded, first_ns, prompt, started)
        assert score > 0.9 and abs(found_ns - started) < START_ERROR_MS * 1_000_000


def test_no_speaker_plays_nothing():
    player = open_player(VoiceConfig(output=""), SystemClock())
    assert isinstance(player, NoSpeaker) and "cues only" in player.description
    assert player.play(prompt_audio("battery")) is None
    player.close()


@pytest.mark.parametrize("output", ["no-such-speaker", "97"])
def test_an_output_that_cannot_be_opened_names_the_setting_at_start_up(pulse, output):
    with pytest.raises(VoiceError) as caught:
        open_player(VoiceConfig(output=output), SystemClock())
    assert f"voice.output = {output!r}: cannot open the output device" in str(caught.value)
    assert isinstance(caught.value, RecorderError)
