"""`recorder report`: per shift, what was recorded and what cut it — on a real store of two
shifts on the simulated body: a battery that runs flat (warnings, interruption), a resume in
which the officer explains (espeak-ng speech into the microphone), a camera that never comes
back (the supervisor gives up: unrecoverable); five hours later a second shift whose
interruption is followed by a siren and no words. The report's figures are checked against the
ledger's own entries."""

import json
import shutil

import pytest

from conftest import recorder, require_tool
from recorder.agent.unrecoverable import record_unrecoverable
from recorder.seal.identity import identity_dir_for
from recorder.config import config_from_dict
from recorder.errors import PowerOffRequired
from recorder.sim.agent import SimulatedAgent, continued_clock
from recorder.sim.script import parse_timeline
from recorder.voice.wav import write_wav
from shifts import ledger, of_type
from support import voice_clips

SETTINGS = {
    "video": {"width": 64, "height": 48, "fps": 10, "bitrate": 100_000, "preset": "ultrafast"},
    "prerecord": {"seconds": 2, "audio": True},
    "segments": {"seconds": 30},
}
FLAT = {**SETTINGS, "power": {"supply": "simulated", "simulated_wh": 0.2, "simulated_draw_w": 3.0}}


def play(store, settings, script, after_s=1.0, flat=False):
    agent = SimulatedAgent(config_from_dict(settings), store, continued_clock(store, after_s))
    if flat:
        with pytest.raises(PowerOffRequired):
            agent.play(parse_timeline(script))
    else:
        agent.play(parse_timeline(script))


@pytest.fixture(scope="module")
def two_shifts(tmp_path_factory):
    require_tool("espeak-ng")
    tmp = tmp_path_factory.mktemp("report")
    store = tmp / "store"
    play(store, FLAT, "press record @1s; end @300s", flat=True)  # shift 1: flat after ~2 min
    play(store, SETTINGS, 'speak "电池没电了，我换了电池" @9s; hold record 3.5s @50s; end @55s')
    record_unrecoverable(store, continued_clock(store), "fault", "2 restart(s) in a row failed (camera)", 2,
                         identity_dir_for(store))
    siren = write_wav(tmp / "siren.wav", voice_clips.siren(20.0), 48_000)
    play(store, FLAT, "press record @1s; end @300s", after_s=5 * 3600, flat=True)  # shift 2
    play(store, SETTINGS, f"say {siren} @8s; hold record 3.5s @50s; end @55s")
    return store


@pytest.fixture(scope="module")
def report(two_shifts):
    result = recorder("report", two_shifts, "--json")
    return json.loads(result.stdout)


def test_shifts_are_told_apart_by_the_gap(report):
    assert [s["runs"] for s in report["shifts"]] == [2, 2]
    assert report["untrusted_entries"] == []


def test_hours_recorded_are_the_sessions_own(two_shifts, report):
    durations = [e["body"]["duration_us"] for e in of_type(ledger(two_shifts), "session_stop")]
    assert len(durations) == 4
    assert report["shifts"][0]["recorded_s"] == round(sum(durations[:2]) / 1e6, 1)
    assert report["shifts"][1]["recorded_s"] == round(sum(durations[2:]) / 1e6, 1)


def test_each_interruption_with_its_cause_times_and_explanation(two_shifts, report):
    first, second = (shift["interruptions"] for shift in report["shifts"])
    (flat1,), (flat2,) = first, second
    entries = ledger(two_shifts)
    starts = of_type(entries, "session_start")
    assert flat1["cause"] == flat2["cause"] == "battery"
    assert flat1["resumed_by"] == starts[1]["body"]["session_id"]
    assert flat1["resumed"] == starts[1]["at"]["wall"]
    stop = of_type(entries, "session_stop")[0]
    assert flat1["stopped"] == stop["body"]["end"]["wall"]
    assert flat1["length_s"] == round((starts[1]["at"]["wall_us"] - stop["body"]["end"]["wall_us"]) / 1e6, 1)
    assert flat1["explained"] is True and flat1["speech_s"] > 1.0
    assert flat2["explanation"] is True and flat2["explained"] is False and flat2["speech_s"] < 0.3
    assert report["shifts"][0]["unexplained"] == 0 and report["shifts"][1]["unexplained"] == 1


def test_warnings_and_the_unrecoverable_event_are_listed_in_their_shift(report):
    first, second = report["shifts"]
    assert first["warnings"] and {w["kind"] for w in first["warnings"]} == {"battery"}
    assert second["warnings"]
    (event,) = first["unrecoverable"]
    assert event["cause"] == "fault" and event["attempts"] == 2
    assert second["unrecoverable"] == []


def test_the_text_a_supervisor_reads(two_shifts):
    text = recorder("report", two_shifts, "--language", "en").stdout
    assert text.count("interruption (battery)") == 2
    assert "explained (" in text and "NOT EXPLAINED (no speech in the window)" in text
    assert "UNRECOVERABLE" in text and "tell the unit head" in text
    assert "1 interruption(s) without an explanation" in text


def test_entries_whose_signature_fails_are_left_out_and_said(two_shifts, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(two_shifts, copy)
    lines = (copy / "ledger" / "ledger.jsonl").read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"type":"explanation"' in line)
    lines[index] = lines[index].replace('"spoke":true', '"spoke":false')
    (copy / "ledger" / "ledger.jsonl").chmod(0o644)
    (copy / "ledger" / "ledger.jsonl").write_text("\n".join(lines) + "\n")
    report = json.loads(recorder("report", copy, "--json").stdout)
    assert report["untrusted_entries"] == [index]
    assert "WARNING: 1 entries whose signature does not verify" in recorder("report", copy, "--language", "en").stdout
    assert "1 条签名无法验证的记录未计入" in recorder("report", copy).stdout


def test_the_text_in_chinese_by_default_says_the_same(two_shifts):
    chinese, english = recorder("report", two_shifts).stdout, recorder("report", two_shifts, "--language", "en").stdout
    assert chinese.count("中断（battery）") == english.count("interruption (battery)") == 2
    assert "已说明（语音 " in chinese and "未说明（窗口内未检测到语音）" in chinese
    assert "无法继续" in chinese and "请立即报告单位负责人" in chinese
    assert "1 次中断未说明" in chinese
    assert [line.count(":") > 0 for line in chinese.splitlines()] and len(chinese.splitlines()) == len(english.splitlines())
