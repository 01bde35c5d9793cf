"""The voice side of a resume, end to end on the simulated body (regulation art. 8).

A shift on a simulated battery that runs flat: the warnings are spoken, the critical level
seals the session with cause `battery` and powers off. The next start (on mains) resumes
the cut session: the prompt naming the cause plays while recording (it is in the sealed
audio, found there by cross-correlation at the sample the speaker started at), and the
explanation window after it is tagged in the ledger with what the speech detector heard in
the recording's own microphone samples — speech, a siren, nothing, or a MARK that ends it."""


import numpy as np
import pytest

from conftest import copy_device
from media import decoded_audio, manifest_of, segments_of
from recorder.config import config_from_dict
from recorder.errors import PowerOffRequired
from recorder.evidence.verifier import verify_store
from recorder.sim.agent import SimulatedAgent, continued_clock
from recorder.sim.script import parse_timeline
from recorder.voice.prompts import prompt_audio
from recorder.voice.resample import resample
from recorder.voice.wav import write_wav
from shifts import ledger, of_type, transitions
from support import voice_clips
from support.audio_match import find

RATE = 48_000
S = 1_000_000_000
SETTINGS = {
    "video": {"width": 64, "height": 48, "fps": 10, "bitrate": 100_000, "preset": "ultrafast"},
    "prerecord": {"seconds": 2, "audio": True},
    "segments": {"seconds": 30},
}
FLAT = {"power": {"supply": "simulated", "simulated_wh": 0.2, "simulated_draw_w": 3.0}}  # critical after ~2 min


def settings(**sections) -> dict:
    merged = {k: dict(v) for k, v in SETTINGS.items()}
    for section, values in sections.items():
        merged.setdefault(section, {}).update(values)
    return merged


@pytest.fixture(scope="module")
def flat_battery(tmp_path_factory):
    """The store after the shift the battery ended (exit: power off)."""
    store = tmp_path_factory.mktemp("flat") / "store"
    with pytest.raises(PowerOffRequired):
        SimulatedAgent(config_from_dict(settings(**FLAT)), store, continued_clock(store)).play(
            parse_timeline("press record @1s; end @300s"))
    return store


def resume(flat_battery, tmp_path, script: str, **sections):
    store = tmp_path / "store"
    copy_device(flat_battery, store)
    agent = SimulatedAgent(config_from_dict(settings(**sections)), store, continued_clock(store))
    agent.play(parse_timeline(script))
    return agent, store


def resumed_session(store) -> tuple[dict, dict]:
    start = of_type(ledger(store), "session_start")[-1]
    (explanation,) = of_type(ledger(store), "explanation")
    return start, explanation


def session_audio(store, session_id: str) -> tuple[np.ndarray, int]:
    """(samples, monotonic ns of the first) of a session's first sealed segment."""
    segment = next(s for s in segments_of(store) if s.parent.name == session_id and s.name == "00001.mp4")
    samples, first = decoded_audio(segment)
    return samples, manifest_of(segment)["start"]["mono_us"] * 1000 + first * S // RATE


def test_the_warnings_are_spoken_and_the_battery_ends_the_run(flat_battery):
    entries = ledger(flat_battery)
    warnings = of_type(entries, "warning")
    assert warnings and warnings[0]["body"]["kind"] == "battery"
    (stop,) = of_type(entries, "session_stop")
    assert stop["body"]["cause"] == "battery"
    assert transitions(flat_battery)[-2:] == [("recording", "interrupted", "battery"), ("interrupted", "off", "shutdown")]
    assert entries[-1]["body"]["reason"] == "shutdown:battery-critical"
    # The warning's prompt is in the recording, where the warning was given.
    session_id = of_type(entries, "session_start")[0]["body"]["session_id"]
    samples, first_ns = session_audio(flat_battery, session_id)
    prompt = prompt_audio("battery_low", "zh-CN")
    position, score = find(samples, resample(prompt.samples, prompt.rate, RATE))
    found_ns = first_ns + position * S // RATE
    warned_ns = warnings[0]["at"]["mono_us"] * 1000
    print(f"\nwarning prompt: correlation {score:.2f}, {(found_ns - warned_ns) / 1e6:+.1f} ms from the warning")
    assert score > 0.3
    assert 0 <= found_ns - warned_ns < 50_000_000  # the next microphone block after the loop step


def test_the_prompt_plays_at_the_resume_and_an_explanation_is_heard(flat_battery, tmp_path):
    agent, store = resume(flat_battery, tmp_path, 'speak "刚才电池没电了，我换了一块电池" @9s; end @50s')
    report = verify_store(store)
    assert report.ok, report.summary_text()
    assert "unexplained-interruption" not in [p.code for p in report.problems]
    start, explanation = resumed_session(store)
    (interruption,) = of_type(ledger(store), "interruption")
    assert start["body"]["resumes"]["interruption"].split(":")[0] == str(interruption["index"])
    assert transitions(store)[len(transitions(flat_battery)):][:2] == [
        ("booting", "resuming", "resume"), ("resuming", "recording", "window-ended")]
    # The prompt naming the cause is in the sealed audio, at the resume.
    prompt = prompt_audio("battery", "zh-CN")
    samples, first_ns = session_audio(store, start["body"]["session_id"])
    position, score = find(samples, resample(prompt.samples, prompt.rate, RATE))
    prompt_ns = first_ns + position * S // RATE
    resumed_ns = start["at"]["mono_us"] * 1000
    print(f"\nprompt: correlation {score:.2f}, {(prompt_ns - resumed_ns) / 1e6:+.2f} ms after the resume")
    assert score > 0.3 and 0 <= prompt_ns - resumed_ns < 25_000_000
    # The window opens when the prompt has played and lasts explanation_seconds (30).
    body = explanation["body"]
    window_start_ns, window_end_ns = body["start"]["mono_us"] * 1000, body["end"]["mono_us"] * 1000
    assert abs(window_start_ns - (prompt_ns + prompt.duration_ns)) < 1_000_000
    assert window_end_ns - window_start_ns == 30 * S
    assert body["ended_by"] == "window-ended" and body["spoke"] is True
    print(f"speech heard in the window: {body['speech_ms']} ms")
    assert body["speech_ms"] > 1000


def test_a_siren_in_the_window_is_not_an_explanation(flat_battery, tmp_path):
    siren = write_wav(tmp_path / "siren.wav", voice_clips.siren(20.0), RATE)
    _, store = resume(flat_battery, tmp_path, f"say {siren} @8s; end @50s")
    _, explanation = resumed_session(store)
    assert explanation["body"]["spoke"] is False and explanation["body"]["speech_ms"] < 300
    report = verify_store(store)
    assert report.ok
    (flag,) = [p for p in report.problems if p.code == "unexplained-interruption"]
    assert flag.severity == "warning" and "no speech was detected" in flag.message


def test_a_mark_ends_the_window_and_speech_after_it_does_not_count(flat_battery, tmp_path):
    _, store = resume(flat_battery, tmp_path, 'mark @7s; speak "我换了电池" @12s; end @50s')
    _, explanation = resumed_session(store)
    body = explanation["body"]
    assert body["ended_by"] == "button:mark" and body["spoke"] is False
    mark = of_type(ledger(store), "mark")[0]
    assert body["end"]["mono_us"] == mark["at"]["mono_us"]
    assert ("resuming", "recording", "button:mark") in transitions(store)


def test_the_prompt_speaks_the_configured_language(flat_battery, tmp_path):
    _, store = resume(flat_battery, tmp_path, "end @20s", voice={"language": "en"})
    start, _ = resumed_session(store)
    samples, first_ns = session_audio(store, start["body"]["session_id"])
    scores = {}
    for language in ("en", "zh-CN"):
        prompt = prompt_audio("battery", language)
        scores[language] = find(samples, resample(prompt.samples, prompt.rate, RATE))[1]
    assert scores["en"] > 0.3 > scores["zh-CN"], scores


def test_without_a_microphone_the_window_is_recorded_as_unheard(flat_battery, tmp_path):
    _, store = resume(flat_battery, tmp_path, "end @45s", audio={"enabled": False})
    _, explanation = resumed_session(store)
    body = explanation["body"]
    assert body["spoke"] is False and body["speech_ms"] == 0
    assert body["ended_by"] == "window-ended", "the window still runs its time, with nothing to hear"
    assert verify_store(store).ok


def test_in_stealth_the_prompt_is_not_played_but_the_window_opens(flat_battery, tmp_path):
    _, store = resume(flat_battery, tmp_path, "end @45s", cues={"stealth": True})
    start, explanation = resumed_session(store)
    samples, _ = session_audio(store, start["body"]["session_id"])
    prompt = prompt_audio("battery", "zh-CN")
    _, score = find(samples, resample(prompt.samples, prompt.rate, RATE))
    assert score < 0.2, f"a prompt was heard in stealth (correlation {score:.2f})"
    assert explanation["body"]["start"]["mono_us"] == start["at"]["mono_us"], "the window opens at the resume"


def test_each_cause_has_its_prompt_and_any_other_the_general_one():
    from recorder.agent.explaining import prompt_key

    assert [prompt_key(c) for c in ("battery", "storage", "fault", "power_loss", "crash")] == \
        ["battery", "storage", "fault", "power_loss", "crash"]
    assert prompt_key("fault", "capture-stalled: no video frame for 2.0 s") == "capture"
    assert prompt_key("fault", "write-failed: OSError") == "fault"
    assert prompt_key("something-new") == "resumed"
