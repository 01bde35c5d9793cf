"""The CLI end to end on a real recording: status, verify and its exit codes, and the command
line's conventions (version, log options, help text, store forms, one-line and JSON errors)."""

import hashlib
import json
import os
import shutil

import pytest

from conftest import recorder, write_config
from media import segments_of


def copy_store(store, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(store, target)
    for path in target.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return target


def test_verify_clean_recording_with_trusted_key(recorded_store):
    key = recorded_store / "device" / "device.pub"
    result = recorder("verify", recorded_store, "--key", key)
    assert result.returncode == 0
    assert result.stdout.strip().splitlines()[-1].startswith("VERIFIED")


def test_verify_json_reports_sessions_segments_and_causes(recorded_store):
    report = json.loads(recorder("verify", recorded_store, "--json").stdout)
    assert report["ok"] is True
    assert report["segments"] == len(segments_of(recorded_store))
    (session,) = report["sessions"]
    assert session["start_cause"] == "command" and session["stop_cause"] == "command"
    assert abs(report["total_duration_us"] - 13_000_000) < 100  # 3 s pre-record + 10 s


def test_verify_exit_1_names_the_tampered_segment(recorded_store, tmp_path):
    store = copy_store(recorded_store, tmp_path)
    victim = segments_of(store)[1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    result = recorder("verify", store, check=False)
    assert result.returncode == 1
    assert victim.name in result.stdout and "fragment" in result.stdout


def test_verify_exit_2_when_it_cannot_run(tmp_path):
    result = recorder("verify", tmp_path / "nothing-here", check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_status_summarises_the_store(recorded_store):
    status = json.loads(recorder("status", "--store", recorded_store, "--json").stdout)
    assert status["device_id"].startswith("rec-")
    assert status["segments"] == len(segments_of(recorded_store))
    assert status["sessions"] == 1 and status["unterminated"] == 0
    lines = (recorded_store / "ledger" / "ledger.jsonl").read_bytes().splitlines()
    assert status["ledger_entries"] == len(lines)


def test_second_run_appends_to_the_same_ledger(tmp_path):
    from conftest import record

    store = record(tmp_path, start_at=1, duration=2)
    before = (store / "ledger" / "ledger.jsonl").read_bytes()
    record(tmp_path, start_at=1, duration=2)
    after = (store / "ledger" / "ledger.jsonl").read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    report = json.loads(recorder("verify", store, "--json").stdout)
    assert report["ok"] and len(report["sessions"]) == 2


# -- command line conventions (issue item 9) --------------------------------------------------

def test_version_prints_the_package_version():
    from importlib.metadata import version

    import recorder as package

    result = recorder("--version")
    assert result.stdout.strip() == f"recorder {package.__version__}"
    assert package.__version__ == version("recorder"), "pyproject.toml and recorder.__version__ agree"


def test_every_option_has_help_text():
    """Walk the whole parser tree: every argument, option and subcommand says what it is for."""
    import argparse

    from recorder.cli import build_parser

    missing, parsers = [], [build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            name = "/".join(action.option_strings) or action.metavar or action.dest
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{parser.prog}: {name}")
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{parser.prog} {choice.dest}" for choice in action._choices_actions if not choice.help]
                parsers += action.choices.values()
    assert not missing, f"options without help text: {missing}"


LOGGED = "recording started"  # an INFO line of every run


@pytest.mark.parametrize("before, after, logs", [
    ([], [], False),
    (["-v"], [], True),
    ([], ["-v"], True),
    ([], ["--verbose"], True),
    ([], ["--log-level", "info"], True),
    (["--log-level", "INFO"], [], True),
    (["--log-level", "debug"], ["--log-level", "warning"], False),  # the last one given wins
    (["-v"], ["--log-level", "error"], False),
    (["--log-level", "error"], ["-v"], True),
])
def test_log_level_before_or_after_the_subcommand(before, after, logs, tmp_path):
    config = write_config(tmp_path)
    result = recorder(*before, "run", "--simulate", "--fast", "--config", config, "--store", tmp_path / "s",
                      "--duration", "1", *after)
    assert (LOGGED in result.stderr) is logs, result.stderr


@pytest.mark.parametrize("args", [["-v", "verify"], ["verify", "-v"], ["verify", "--log-level", "debug"]])
def test_verify_takes_log_options_on_either_side(args, recorded_store):
    result = recorder(*args, recorded_store)
    assert result.stdout.strip().splitlines()[-1].startswith("VERIFIED")


def test_verify_takes_the_store_either_way(recorded_store):
    outputs = {
        form: recorder("verify", *args, "--json").stdout
        for form, args in {
            "STORE": [recorded_store],
            "--store DIR": ["--store", recorded_store],
            "both, the same": [recorded_store, "--store", f"{recorded_store}/"],
        }.items()
    }
    reports = {form: json.loads(out) for form, out in outputs.items()}
    assert all(report["ok"] for report in reports.values())
    assert len({json.dumps(report, sort_keys=True) for report in reports.values()}) == 1


def test_status_takes_the_store_either_way(recorded_store):
    forms = [[recorded_store], ["--store", recorded_store], ["--store", recorded_store, recorded_store]]
    statuses = [json.loads(recorder("status", "--json", *args).stdout) for args in forms]
    assert statuses[0]["segments"] == len(segments_of(recorded_store))
    assert statuses[1] == statuses[0] and statuses[2] == statuses[0]


@pytest.mark.parametrize("command", ["status", "verify"])
def test_two_different_stores_are_refused_in_one_line(command, recorded_store, tmp_path):
    result = recorder(command, recorded_store, "--store", tmp_path, check=False)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("recorder: error: two different stores")
    assert str(recorded_store) in line and str(tmp_path) in line


def test_verify_without_a_store_is_one_line():
    result = recorder("verify", check=False)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "needs a store" in line


def last_complete_entry(ledger_bytes: bytes) -> str:
    """INDEX:SHA256 of the last complete line, computed here without the package."""
    last = ledger_bytes.rstrip(b"\n").split(b"\n")[-1]
    return f"{json.loads(last)['index']}:{hashlib.sha256(last).hexdigest()}"


def test_status_of_a_clean_store_shows_the_head_and_no_warning(recorded_store):
    """No warning but the one every simulated recording carries (SIMULATED)."""
    result = recorder("status", "--json", recorded_store)
    status = json.loads(result.stdout)
    assert status["ledger_head"] == last_complete_entry((recorded_store / "ledger" / "ledger.jsonl").read_bytes())
    assert [w.split(":")[0] for w in status["warnings"]] == ["SIMULATED"]
    assert status["ledger_torn_bytes"] == 0 and status["partial_files"] == 0
    assert result.stderr.startswith("recorder: warning: SIMULATED:") and len(result.stderr.splitlines()) == 1


def test_status_warns_of_a_torn_last_line_and_partial_files(recorded_store, tmp_path):
    """A store as a power cut leaves it: half an entry at the end of the ledger, a .partial segment."""
    store = copy_store(recorded_store, tmp_path)
    ledger_path = store / "ledger" / "ledger.jsonl"
    complete = ledger_path.read_bytes()
    half = complete.rstrip(b"\n").split(b"\n")[-1]
    half = half[: len(half) // 2]
    with open(ledger_path, "ab") as ledger:
        ledger.write(half)
    session_dir = segments_of(store)[-1].parent
    partial = session_dir / "00099.mp4.partial"
    partial.write_bytes(segments_of(store)[-1].read_bytes()[:5000])

    result = recorder("status", "--json", store)
    status = json.loads(result.stdout)
    assert status["ledger_head"] == last_complete_entry(complete), "the head is the last complete entry"
    assert status["ledger_entries"] == len(complete.splitlines())
    assert status["ledger_torn_bytes"] == len(half) and status["partial_files"] == 1
    simulated, torn, partials = status["warnings"]
    assert simulated.startswith("SIMULATED")
    assert "torn" in torn and status["ledger_head"].split(":")[0] in torn
    assert partial.name in partials
    warned = result.stderr.strip().splitlines()
    assert len(warned) == 3 and all(line.startswith("recorder: warning: ") for line in warned)
    assert "torn" in warned[1] and partial.name in warned[2]

    text = recorder("status", "--store", store)
    assert status["ledger_head"] in text.stdout and text.stderr == result.stderr


JSON_ERRORS = {
    "no such store (verify)": ["verify", "--json", "{missing}"],
    "no such store (status)": ["status", "--json", "--store", "{missing}"],
    "no store given": ["verify", "--json"],
    "two stores": ["status", "{store}", "--json", "--store", "{missing}"],
    "unknown option": ["verify", "--json", "--bogus", "{store}"],
    "bad log level": ["status", "--log-level", "loud", "--json", "{store}"],
    "abbreviated --json": ["verify", "--js", "{missing}"],
}


@pytest.mark.parametrize("name", JSON_ERRORS)
def test_a_json_command_that_cannot_run_says_so_in_json(name, recorded_store, tmp_path):
    args = [a.format(store=recorded_store, missing=tmp_path / "missing") for a in JSON_ERRORS[name]]
    result = recorder(*args, check=False)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("recorder: error: ")
    error = json.loads(result.stdout)
    assert error == {"ok": False, "error": line.removeprefix("recorder: error: ")}


def test_agent_stop_says_a_scripted_run_completed(tmp_path):
    config = write_config(tmp_path)
    store = tmp_path / "store"
    recorder("run", "--simulate", "--fast", "--config", config, "--store", store,
             "--script", "press record @1s; mark @2s; hold record 3.5s @3s")
    entries = [json.loads(line) for line in (store / "ledger" / "ledger.jsonl").read_bytes().splitlines()]
    assert entries[-1]["type"] == "agent_stop" and entries[-1]["body"] == {"reason": "run-complete"}
