"""Voice on the simulated body: the speaker heard by the microphone (a prompt mixed in at an
exact sample, found there in the sealed audio), sounds a script says (`say`, `speak`), the
tap on the microphone's samples, and explanation windows that tell speech from silence and a
siren."""

import numpy as np
import pytest

from conftest import require_tool
from media import decoded_audio, manifest_of, segments_of
from recorder.capture.synthetic import reference_samples
from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.evidence.verifier import verify_store
from recorder.sim.agent import SimulatedAgent
from recorder.sim.body import SPEAKER_GAIN, SimulatedBody, SimulatedSpeaker
from recorder.sim.doubles import CollectingOutput
from recorder.sim.fingers import ScriptedSounds, scripted
from recorder.sim.script import ScriptError, parse_timeline
from recorder.voice.prompts import prompt_audio
from recorder.voice.resample import resample
from recorder.voice.wav import write_wav
from recorder.voice.window import ExplanationWindow
from support import voice_clips
from support.audio_match import find

RATE = 48_000
S = 1_000_000_000
SETTINGS = {
    "video": {"width": 160, "height": 120, "fps": 10, "bitrate": 200_000, "preset": "ultrafast"},
    "prerecord": {"seconds": 1, "audio": True},
    "segments": {"seconds": 60},
}


class At:
    """A loop participant that calls action(agent) once, at origin + at_s."""

    def __init__(self, agent, at_s: float, action):
        self.agent, self.at_ns, self.action, self.result = agent, agent.body.origin_ns + int(at_s * S), action, None
        self.done = False

    def next_deadline_ns(self):
        return None if self.done else self.at_ns

    def tick(self, now_ns):
        if not self.done and now_ns >= self.at_ns:
            self.done, self.result = True, self.action(self.agent)


def run_shift(store, script: str, extra=lambda agent: [], settings=SETTINGS):
    """A fast simulated shift from a script, with extra participants made from the agent."""
    agent = SimulatedAgent(config_from_dict(settings), store, SimulatedClock())
    made = {}

    def drive(agent):
        players, end_ns = scripted(parse_timeline(script), in_step=True)(agent)
        made["extra"] = extra(agent)
        return players + made["extra"], end_ns

    agent.run(drive)
    return agent, made["extra"]


def sealed_audio(store):
    """(samples, monotonic ns of the first) of the one sealed segment."""
    [segment] = segments_of(store)
    samples, first = decoded_audio(segment)
    return samples, manifest_of(segment)["start"]["mono_us"] * 1000 + first * S // RATE


def test_a_prompt_from_the_simulated_speaker_is_in_the_sealed_audio_at_its_sample(tmp_path):
    prompt = prompt_audio("battery", "zh-CN")
    store = tmp_path / "store"
    agent, [speaker_at] = run_shift(store, "start @1s; stop @12s",
                                    lambda agent: [At(agent, 3.0103, lambda a: a.body.speaker().play(prompt))])
    started_ns = speaker_at.result
    origin = agent.body.origin_ns
    assert started_ns == origin + -(-3_010_300_000 * RATE // S) * S // RATE, "the first sample at or after the call"
    assert verify_store(store).ok

    samples, first_ns = sealed_audio(store)
    reference = resample(prompt.samples, prompt.rate, RATE)
    position, score = find(samples, reference)
    found_ns = first_ns + position * S // RATE
    error_samples = (found_ns - started_ns) * RATE / S
    print(f"\nprompt found in the sealed audio: correlation {score:.2f} (noise 0.1 RMS, prompt at {SPEAKER_GAIN}), "
          f"{error_samples:+.2f} samples from where play() said")
    assert score > 0.3, f"prompt not found (best correlation {score:.2f})"
    assert abs(error_samples) <= 2
    # The microphone's own noise is still there under it: the prompt was added, not substituted.
    under = samples[position : position + RATE] - SPEAKER_GAIN * reference[:RATE]
    noise_position = int(round((found_ns - origin) * RATE / S))
    noise = reference_samples(noise_position, RATE)
    elsewhere = samples[position - 2 * RATE : position - RATE]
    baseline = np.corrcoef(elsewhere, reference_samples(noise_position - 2 * RATE, RATE))[0, 1]
    print(f"noise under the prompt: correlation {np.corrcoef(under, noise)[0, 1]:.2f} "
          f"(AAC-coded noise alone: {baseline:.2f})")
    assert np.corrcoef(under, noise)[0, 1] > baseline - 0.1


def test_the_listener_hears_what_is_recorded_and_sounds_land_on_their_sample():
    config = config_from_dict({"audio": {"channels": 2}})
    clock = SimulatedClock()
    body = SimulatedBody(config, clock, [CollectingOutput()])
    heard = []
    assert body.add_listener(lambda samples, first_ns, rate: heard.append((samples, first_ns, rate)))
    click = np.zeros(2205, dtype=np.float32)
    click[0] = 1.0  # at 22.05 kHz: sample 0 of the click is at its start
    at_ns = body.origin_ns + 1_234_567_890
    started = body.play_into_microphone(click, 22_050, at_ns, gain=0.5)
    body.advance_to(body.origin_ns + 3 * S)
    body.close()
    assert heard[0][1] == body.origin_ns and {rate for _, _, rate in heard} == {RATE}
    position = 0
    for samples, first_ns, _ in heard:  # contiguous, each block placed at its first sample
        assert samples.ndim == 1 and samples.dtype == np.float32 and first_ns == body.sample_time_ns(position)
        position += len(samples)
    tapped = np.concatenate([samples for samples, _, _ in heard])
    extra = tapped - reference_samples(0, len(tapped))  # the noise is known: what is left was played
    peak = int(np.argmax(extra))
    assert started == body.sample_time_ns(peak) and started >= at_ns and started - at_ns < S // RATE
    expected = 0.5 * resample(click, 22_050, RATE)
    assert np.allclose(extra[peak : peak + len(expected)], expected, atol=1e-6)
    assert np.all(np.abs(extra[:peak]) < 1e-6) and np.all(np.abs(extra[peak + len(expected):]) < 1e-6)


def test_a_sound_asked_for_in_the_past_starts_at_the_next_sample_not_captured():
    body = SimulatedBody(config_from_dict({}), SimulatedClock(), [CollectingOutput()])
    body.advance_to(body.origin_ns + S)
    started = body.play_into_microphone(np.ones(100, dtype=np.float32), RATE, body.origin_ns)
    assert started == body.sample_time_ns(body.samples) > body.origin_ns
    body.close()


def test_without_audio_nothing_hears_and_nothing_is_tapped():
    body = SimulatedBody(config_from_dict({"audio": {"enabled": False}}), SimulatedClock(), [CollectingOutput()])
    assert body.add_listener(lambda *a: None) is False
    assert SimulatedSpeaker(body).play(prompt_audio("resumed")) == body.clock.monotonic_ns()
    body.close()


def test_script_steps_say_and_speak(tmp_path):
    require_tool("espeak-ng")
    wav = write_wav(tmp_path / "reply.wav", voice_clips.beeps(1.0), RATE)
    timeline = parse_timeline(f'start @1s; speak "我在换电池" @3s; speak en "battery" @4s; say {wav} @5s')
    assert [s.step for s in timeline.sounds] == ['speak "我在换电池" @3s', 'speak en "battery" @4s', f"say {wav} @5s"]
    assert timeline.end_ns == 5 * S + S + 2 * S, "the run lasts until the last sound has played (+2 s)"
    zh, en = timeline.sounds[0], timeline.sounds[1]
    assert zh.rate == en.rate == 22_050 and zh.duration_ns > en.duration_ns
    for bad, says in [('speak fr "bonjour" @1s', "unknown language 'fr'"), ("speak hello @1s", "double quotes"),
                      ("say /nonexistent.wav @1s", "cannot read"), (f"say {tmp_path} @1s", "cannot read"),
                      ("say @1s", "needs a WAV file")]:
        with pytest.raises(ScriptError, match=says):
            parse_timeline(bad)
    with pytest.raises(ScriptError, match="simulated body"):
        ScriptedSounds(timeline.sounds, object(), 0)


def explanation(tmp_path, name: str, script_steps: str, window_s=(4.0, 10.0), mark_at_s=None):
    """A shift with an explanation window on the simulated body's microphone; its result."""
    def open_window(agent):
        origin = agent.body.origin_ns
        window = ExplanationWindow(origin + int(window_s[0] * S), origin + int(window_s[1] * S))
        assert agent.body.add_listener(window)
        extra = [window_participant(window)]
        if mark_at_s is not None:
            extra.append(At(agent, mark_at_s, lambda a: window.end_at(origin + int(mark_at_s * S))))
        return extra

    agent, extra = run_shift(tmp_path / name, f"start @1s; {script_steps}; stop @11s", open_window)
    window = extra[0].window
    assert window.complete
    result = window.result()
    window.close()
    return result


def window_participant(window):
    holder = type("Holder", (), {"window": window, "next_deadline_ns": lambda self: None,
                                 "tick": lambda self, now: None})()
    return holder


def test_explanation_windows_with_and_without_speech_are_told_apart(tmp_path):
    require_tool("espeak-ng")
    siren = write_wav(tmp_path / "siren.wav", voice_clips.siren(5.0), RATE)
    beeps = write_wav(tmp_path / "beeps.wav", voice_clips.beeps(5.0), RATE)
    cases = {
        "mandarin": ('speak "刚才电池没电了，我换了电池。" @5s', True),
        "english": ('speak en "The battery ran out, I replaced it." @5s', True),
        "silence (noise only)": ("mark @6s", False),
        "siren": (f"say {siren} @4.5s", False),
        "beeps": (f"say {beeps} @4.5s", False),
        "speech after the window": ('speak "我换了电池" @10.5s', False),
    }
    rows = []
    for i, (name, (steps, expected)) in enumerate(cases.items()):
        result = explanation(tmp_path, f"s{i}", steps)
        rows.append(f"  {name:<26} heard {result.heard_seconds:4.1f} s, speech {result.speech_seconds:4.2f} s, "
                    f"spoke {result.spoke}")
        assert result.spoke == expected, f"{name}: {result}"
        assert 5.8 <= result.heard_seconds <= 6.0
    print("\nexplanation windows, 4-10 s, on the simulated body:\n" + "\n".join(rows))


def test_a_mark_ends_the_window_before_a_late_explanation(tmp_path):
    require_tool("espeak-ng")
    early = explanation(tmp_path, "early", 'speak "电池没电了" @8s', mark_at_s=6.0)
    assert not early.spoke and early.end_ns - early.start_ns == 2 * S and early.heard_seconds <= 2.0
    full = explanation(tmp_path, "full", 'speak "电池没电了" @8s')
    assert full.spoke
