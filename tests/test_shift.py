"""A scripted shift through the CLI: the ledger matches the script, the recording is
contiguous from the pre-record to the stop, and verify --json reports causes and marks."""

import json

import pytest

from conftest import recorder, write_config
from media import frame_indices, segments_of
from shifts import ledger, origin_us, pin_writes, run_device, since_launch_s

FPS = 30
SCRIPT = "press record @4s; mark @6s; hold record 1s @8s; mark @10s; hold record 3.5s @12s"
PRESS_S, STOP_S, PRERECORD_S = 4, 15, 3  # the long hold stops at 12 s + 3 s


@pytest.fixture(scope="module")
def shift(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shift")
    store = tmp / "store"
    result = recorder("run", "--simulate", "--fast", "--config", write_config(tmp), "--store", store,
                      "--script", SCRIPT)
    return store, result


def test_run_reports_the_session(shift):
    _, result = shift
    assert "2 mark(s), stop: button:record-hold" in result.stdout


def test_ledger_entries_match_the_script(shift):
    store, _ = shift
    origin = origin_us(store)
    entries = [e for e in ledger(store) if e["type"] in ("transition", "session_start", "mark", "session_stop")]
    observed = [(e["type"], e["body"].get("cause"), round(since_launch_s(e, origin), 3)) for e in entries]
    assert observed == [
        ("transition", "boot", 0.0),
        ("transition", "button:record", 4.0),
        ("session_start", "button:record", 4.0),
        ("mark", "button:mark", 6.0),
        ("mark", "button:mark", 10.0),  # the 1 s hold at 8 s left no trace: it stopped nothing
        ("transition", "button:record-hold", 15.0),
        ("session_stop", "button:record-hold", 15.0),
        ("transition", "session-closed", pytest.approx(15.0, abs=0.5)),
        ("transition", "shutdown", pytest.approx(17.5, abs=0.1)),
    ]


def test_frames_contiguous_from_prerecord_to_stop(shift):
    store, _ = shift
    indices = [i for segment in segments_of(store) for i in frame_indices(segment)]
    assert None not in indices
    assert indices == list(range(indices[0], indices[-1] + 1)), "lost or repeated frame"
    assert indices[0] == (PRESS_S - PRERECORD_S) * FPS, "pre-record starts 3 s before the press"
    assert indices[-1] == STOP_S * FPS - 1, "the last frame before the hold threshold is recorded"


def test_verify_json_reports_causes_and_marks(shift):
    store, _ = shift
    report = json.loads(recorder("verify", "--json", store).stdout)
    assert report["ok"]
    [session] = report["sessions"]
    assert (session["start_cause"], session["stop_cause"]) == ("button:record", "button:record-hold")
    assert [(m["number"], m["cause"]) for m in session["marks"]] == [(1, "button:mark"), (2, "button:mark")]
    start_us = session["start"]["mono_us"]
    assert [(m["at"]["mono_us"] - start_us) / 1e6 for m in session["marks"]] == [2.0, 6.0]


def test_script_from_a_file(tmp_path):
    script = tmp_path / "shift.txt"
    script.write_text("# arrival\npress record @1s\nstop @2s   # by command\n")
    store = tmp_path / "store"
    result = recorder("run", "--simulate", "--fast", "--config", write_config(tmp_path), "--store", store,
                      "--script", script)
    assert "stop: command" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--script", "press recrod @1s"], "script step 1 'press recrod @1s': unknown input 'recrod'"),
        (["--script", "no-such-file.txt"], "neither a file nor a timeline"),
        (["--script", "press record @1s", "--duration", "5"], "--script replaces --start-at/--duration"),
        (["--script", "press record @1s; end @0.5s"], "before its last step"),
    ],
)
def test_bad_script_is_a_clear_error_and_records_nothing(tmp_path, args, message):
    store = tmp_path / "store"
    result = recorder("run", "--simulate", "--fast", "--store", store, *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert not store.exists()


@pytest.mark.parametrize(
    "setting, message",
    [
        ("[buttons]\nmark = 'GPIO17'\n", "buttons.record and buttons.mark both use GPIO17"),
        ("[cues]\nred = 'BOARD11'\n", "both use GPIO17"),
        ("[buttons]\nrecord = 'GPIO99'\n", "buttons.record = 'GPIO99' is not a pin"),
        ("[buttons]\nrecrod = 17\n", "unknown setting buttons.recrod"),
        ("[cues]\namber = 'BOARD9'\n", "cues.amber = 'BOARD9' is the GND pin"),
        ("[buttons]\nrecord = ''\n", "buttons.record must name a pin"),
    ],
)
def test_misconfigured_pin_names_the_setting(tmp_path, setting, message):
    config = tmp_path / "recorder.toml"
    config.write_text(setting)
    result = recorder("run", "--simulate", "--fast", "--config", config, "--store", tmp_path / "s",
                      "--duration", "1", check=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_still_recording_reminder_every_two_minutes_on_the_injected_clock(tmp_path):
    device = run_device(tmp_path, "press record @10s; end @300s")
    after_start = [round(t - 10, 2) for t, on in pin_writes(device, "vibration") if on]
    # start cue once the press is debounced (30 ms), a double pulse at 120 s and at 240 s,
    # nothing else in between, then the stop cue when the run ends at 300 s
    assert after_start == [0.03, 120.0, 120.25, 240.0, 240.25, 290.0]
