"""The CLI end to end on a real recording: status, verify and its exit codes."""

import json
import os
import shutil

from conftest import recorder
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
