"""The shift report at the dock (`recorder dock report`, issue 13 item 11): a real device
records a shift with a mark and an interruption (a camera that stalls: the run is restarted
and resumes), offloads to a real dock over TLS, and the report is checked against what is on
disk at the dock — the files in its copy of the store, the receipts' file lists, the release
entries in its copy of the ledger — and against the device's own ledger; then a tampered
segment (refused) and a session the dock withholds (kept on the device)."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import recorder, write_config
from support.dock_rig import Device, DockProcess, make_agency, make_device, make_dock, offload
from support.dock_rig import unlock_afterwards  # noqa: F401  (autouse: clears the immutable flag)
from recorder.clock import SystemClock
from recorder.dock.report import dock_report
from recorder.evidence import entries
from recorder.evidence.canonical import sha256_hex
from recorder.evidence.layout import StoreLayout
from recorder.seal.identity import open_identity
from recorder.seal.ledger import Ledger

RECOVERY = "\n[recovery]\nstall_seconds = 2.0\nrestart_attempts = 2\nrestart_backoff_seconds = 0.5\n"
# a mark, then the camera stalls: the run ends (fault), the supervisor restarts it, it resumes
SHIFT = "press record @1s; mark @2s; stall camera 2.5s @6s; end @30s"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dockreport")
    agency = make_agency(tmp / "agency")
    device = make_device(tmp / "device", agency, tmp)
    (tmp / "run").mkdir()
    config = write_config(tmp / "run", extra=RECOVERY)
    result = recorder("run", "--simulate", "--fast", "--config", config, "--store", device.store, "--script", SHIFT,
                      check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return agency, device


@pytest.fixture
def device(world, tmp_path) -> Device:
    return world[1].copy(tmp_path / "device")


@pytest.fixture
def dock_dir(world, tmp_path) -> Path:
    return make_dock(tmp_path / "dock", world[0])


def report_json(dock_dir: Path, *extra) -> dict:
    result = recorder("dock", "report", dock_dir, "--json", *extra)
    return json.loads(result.stdout)


def ledger_of(store: Path) -> list[dict]:
    return [json.loads(line) for line in (store / "ledger" / "ledger.jsonl").read_bytes().splitlines()]


def media_on_disk(store: Path) -> dict[str, int]:
    return {p.relative_to(store).as_posix(): p.stat().st_size for p in sorted(store.glob("media/*/*")) if p.is_file()}


def receipts_on_disk(dock_dir: Path, device: Device) -> dict[str, bytes]:
    receipts = dock_dir / "devices" / device.device_id / "receipts"
    return {p.name: p.read_bytes() for p in sorted(receipts.glob("*.json"))}


def test_the_report_says_what_the_dock_holds_received_receipted_and_what_the_device_released(device, dock_dir):
    with DockProcess(dock_dir) as dock:
        assert offload(device, dock.port)[0] == 0
        assert offload(device, dock.port)[0] == 0  # brings the device's release entry to the dock
    report = report_json(dock_dir)
    assert [d["device_id"] for d in report["devices"]] == [p.name for p in (dock_dir / "devices").iterdir()]
    (d,) = report["devices"]
    store = dock_dir / "devices" / device.device_id / "store"
    on_disk = media_on_disk(store)
    assert d["store"]["files"] == len(on_disk) and d["store"]["bytes"] == sum(on_disk.values())
    assert d["store"]["missing"] == []

    # the first offload received every file the dock's copy holds; the second nothing
    first, second = d["offloads"]
    assert first["outcome"] == second["outcome"] == "receipt"
    assert sorted(first["received"]["paths"]) == sorted(on_disk)
    assert first["received"]["bytes"] == sum(on_disk.values()) and second["received"]["files"] == 0
    assert first["refusals"] == [] and first["withheld"] == []
    dock_ledger = ledger_of(store)
    assert second["head"] == d["held"] and d["held"].startswith(f"{len(dock_ledger) - 1}:")

    # the receipts, as the files in receipts/ say
    issued = receipts_on_disk(dock_dir, device)
    assert [r["name"] for r in d["receipts"]] == list(issued)
    assert [o["receipt"]["name"] for o in d["offloads"]] == list(issued)
    for summary in d["receipts"]:
        document = json.loads(issued[summary["name"]])
        files = document["files"]
        assert summary["sha256"] == sha256_hex(issued[summary["name"]])
        assert summary["head"] == document["ledger"]["head"] and summary["files"] == len(files)
        assert summary["media_files"] == sum(1 for f in files if f["path"].startswith("media/"))
        assert summary["bytes"] == sum(f["size"] for f in files)
        assert summary["stored"]["local"] == sum(1 for f in files if f["stored"]["location"].startswith("file:"))
        assert summary["stored"]["s3"] == sum(1 for f in files if f["stored"]["location"].startswith("s3://"))
        assert summary["stored"]["locked"] == sum(1 for f in files if f["stored"]["locked"])
        assert summary["stored"]["unlocked"] == sum(1 for f in files if not f["stored"]["locked"])
    covered = {f["path"] for data in issued.values() for f in json.loads(data)["files"]}
    assert set(on_disk) <= covered

    # the release entries in the dock's copy of the device's ledger
    releases = [e for e in dock_ledger if e["type"] == "release"]
    assert releases and [r["entry"] for r in d["releases"]] == [e["index"] for e in releases]
    for mine, entry in zip(d["releases"], releases):
        assert mine["receipt_sha256"] == entry["body"]["receipt_sha256"] == sha256_hex(issued["000001.json"])
        assert sorted(mine["paths"]) == sorted(f["path"] for f in entry["body"]["files"])
    freed = {f["path"] for e in releases for f in e["body"]["files"]}

    # sessions: their files on disk, receipted, released; the mark and the interruption
    sessions = {s["session_id"]: s for s in d["sessions"]}
    assert set(sessions) == {p.parent.name for p in store.glob("media/*/*")}
    for sid, s in sessions.items():
        mine = [p for p in on_disk if p.split("/")[1] == sid]
        assert s["files"] == s["held"] == s["receipted"] == len(mine)
        assert s["released"] == len([p for p in mine if p in freed]) == len(mine)
        assert s["marks"] == sum(1 for e in dock_ledger if e["type"] == "mark" and e["body"]["session_id"] == sid)
        assert not s["overdue"] and not s["late"]
    (cut,) = [e for e in dock_ledger if e["type"] == "interruption"]
    assert [sid for sid, s in sessions.items() if s["interrupted"]] == [cut["body"]["session_id"]]

    # the shift, from the dock's copy: both sessions, the interruption and whether it was explained
    (shift,) = d["shifts"]
    assert shift["sessions"] == len(sessions) == 2
    (interruption,) = shift["interruptions"]
    assert interruption["cause"] == cut["body"]["cause"] == "fault"
    assert interruption["session_id"] == cut["body"]["session_id"]
    spoke = any(e["body"]["spoke"] for e in dock_ledger if e["type"] == "explanation")
    assert interruption["explained"] is spoke and shift["unexplained"] == (0 if spoke else 1)
    assert d["overdue"] is False and d["late_sessions"] == 0 and d["last_offload"] == second["ended"]

    # --device, --since
    assert report_json(dock_dir, "--device", device.device_id)["devices"] == report["devices"]
    later = report_json(dock_dir, "--since", "2099-01-01")["devices"][0]
    assert later["offloads"] == later["sessions"] == later["shifts"] == later["releases"] == []
    assert later["held"] == d["held"]

    # the text, in both languages
    zh = recorder("dock", "report", dock_dir).stdout
    en = recorder("dock", "report", dock_dir, "--language", "en").stdout
    for heading in (f"设备 {device.device_id}", "已见证账本", "回执 000001.json", "设备确认释放", "第 1 班", "中断（fault）",
                    "逾期"):
        assert heading in zh, heading
    for heading in (f"device {device.device_id}", "ledger witnessed", "receipt 000001.json", "released by the device",
                    "shift 1", "interruption (fault)", "overdue"):
        assert heading in en, heading


def test_a_refused_offload_shows_its_code_and_the_recording_becomes_overdue(device, dock_dir):
    segment = sorted(device.store.glob("media/*/*.mp4.age"))[-1]  # encrypted: the bundle names a recipient
    segment.chmod(0o644)
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port)
    assert code == 1 and outcome["refused"] == "hash-mismatch"
    path = segment.relative_to(device.store).as_posix()
    (d,) = report_json(dock_dir)["devices"]
    (attempt,) = d["offloads"]
    assert attempt["outcome"] == "refused" and attempt["receipt"] is None
    (refusal,) = attempt["refusals"]
    assert refusal["code"] == "hash-mismatch" and refusal["path"] == path and path in refusal["detail"]
    store = dock_dir / "devices" / device.device_id / "store"
    assert not (store / path).exists() and path in d["store"]["missing"]
    assert d["receipts"] == [] and d["last_offload"] is None and not receipts_on_disk(dock_dir, device)
    sessions = {s["session_id"]: s for s in d["sessions"]}
    assert sessions[segment.parent.name]["receipted"] == 0
    assert d["overdue"] is False  # recorded moments ago

    # a day and a half on, still nothing receipted: overdue (article 4), every session late
    later = dock_report(dock_dir, now=datetime.now(timezone.utc) + timedelta(hours=36))["devices"][0]
    assert later["overdue"] is True and later["late_sessions"] == len(sessions)
    assert dock_report(dock_dir, now=datetime.now(timezone.utc) + timedelta(hours=36),
                       overdue_hours=48)["devices"][0]["overdue"] is False
    for language, words in (("zh-CN", "拒绝 [hash-mismatch]"), ("en", "REFUSED [hash-mismatch]")):
        text = recorder("dock", "report", dock_dir, "--language", language).stdout
        assert words in text and path in text


def test_a_session_the_dock_withholds_is_reported_with_its_codes_and_stays_on_the_device(device, dock_dir):
    sessions = [e["body"]["session_id"] for e in ledger_of(device.store) if e["type"] == "session_start"]
    stopped = sessions[-1]
    layout = StoreLayout(device.store)  # a mark for a session that has stopped: its session does not verify
    Ledger(layout.ledger_path, open_identity(device.identity, layout, create=False)).append(
        "mark", entries.mark(stopped, 1, "button", None), SystemClock(discipline=lambda: ("none", None)).stamp())
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port)
    assert code == 1 and outcome["receipt"] is not None
    (d,) = report_json(dock_dir)["devices"]
    (attempt,) = d["offloads"]
    assert attempt["outcome"] == "receipt"
    (withheld,) = attempt["withheld"]
    assert withheld["session_id"] == stopped and "mark-outside-session" in withheld["codes"]
    (issued,) = receipts_on_disk(dock_dir, device).values()
    receipted = {f["path"] for f in json.loads(issued)["files"]}
    kept = [p for p in media_on_disk(device.store) if p.split("/")[1] == stopped]
    assert kept and not any(p in receipted for p in kept)  # still on the device, in no receipt
    s = {s["session_id"]: s for s in d["sessions"]}[stopped]
    assert s["receipted"] == 0 and s["held"] == s["files"] == len(kept) and s["receipted_at"] is None
    for language, words in (("zh-CN", "留在设备上待人工处理"), ("en", "kept on the device for manual handling")):
        text = recorder("dock", "report", dock_dir, "--language", language).stdout
        assert words in text and stopped in text and "mark-outside-session" in text


def test_what_cannot_be_reported_is_one_line(dock_dir, tmp_path):
    unknown = recorder("dock", "report", dock_dir, "--device", "rec-0000000000000000", "--json", check=False)
    assert unknown.returncode == 2 and json.loads(unknown.stdout)["ok"] is False
    assert "rec-0000000000000000" in unknown.stderr
    assert recorder("dock", "report", tmp_path / "nowhere", check=False).returncode == 2
    assert recorder("dock", "report", dock_dir, "--since", "yesterday", check=False).returncode == 2
    empty = report_json(dock_dir)
    assert empty["devices"] == []
    assert "尚未收到" in recorder("dock", "report", dock_dir).stdout
