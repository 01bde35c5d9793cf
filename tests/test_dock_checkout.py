"""Checkout at the dock (issue 13, item 9): the device's clock offset against the dock,
measured over the link and sealed in its ledger; the officer for the next shift, handed over
as a record the dock signs, recorded in the ledger and carried by the next sessions.

The device's wall clock is set off by a known amount with libfaketime (its monotonic clock
left alone): the offset measured must find it within the error it states."""

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import recorder, require_tool
from support.dock_rig import DockProcess, DockThread, make_agency, make_device, make_dock, offload
from support.dock_rig import unlock_afterwards  # noqa: F401  (autouse: clears the immutable flag)
from recorder.evidence.verifier import verify_store

SKEW_S = 37


@pytest.fixture
def world(tmp_path):
    agency = make_agency(tmp_path / "agency")
    device = make_device(tmp_path / "device", agency, tmp_path)
    device.record("start @0.5s; stop @3s")
    return agency, device, make_dock(tmp_path / "dock", agency)


def entries_of(store, kind: str) -> list[dict]:
    lines = (store / "ledger" / "ledger.jsonl").read_bytes().splitlines()
    return [e for e in map(json.loads, lines) if e["type"] == kind]


def test_the_offset_against_the_dock_is_measured_and_sealed(world):
    require_tool("faketime")
    _, device, dock_dir = world
    with DockProcess(dock_dir) as dock:
        skewed = subprocess.run(
            ["faketime", "-f", f"-{SKEW_S}s", shutil.which("python3") and os.sys.executable, "-m", "recorder",
             "offload", "--dock", f"127.0.0.1:{dock.port}", "--store", device.store, "--identity", device.identity,
             "--config", device.config, "--json"],
            capture_output=True, text=True, env={**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    assert skewed.returncode == 0, skewed.stderr
    [entry] = entries_of(device.store, "clock_offset")
    body = entry["body"]
    assert body["samples"] >= 4 and 0 < body["rtt_us"] < 2_000_000
    assert abs(body["offset_us"] - SKEW_S * 1_000_000) <= body["error_us"] + 20_000  # + the stamp's µs rounding
    assert body["error_us"] >= (body["rtt_us"] + 1) // 2
    # sealed before the witness: the dock holds it, and both copies verify
    dock_store = dock_dir / "devices" / device.device_id / "store"
    assert entries_of(dock_store, "clock_offset") == [entry]
    assert verify_store(device.store).problems == [] and verify_store(dock_store).problems == []
    # the recording ran on the simulated body's fast clock, the checkout on the system's:
    # two monotonic clocks, so the offset places none of its stamps
    [run] = entries_of(dock_store, "agent_start")
    assert run["body"]["monotonic"].startswith("simulated:") and body["monotonic"].startswith("boot:")
    assert [s["by_dock"] for s in verify_store(dock_store).sessions] == [None]


def test_a_device_on_the_system_clock_is_placed_on_the_docks_clock(tmp_path):
    """Recorded in real time on the system's clock, checked out by the dock (whose clock is
    37 s ahead of the device's) from a later process of the same boot: the one CLOCK_MONOTONIC
    carries the offset back, and the session lands on the dock's clock within the error stated.
    (The skew is the dock's, given to its service: libfaketime 0.9.10 cannot skew the
    device's wall clock alone here — Python's sleep fails with EINVAL when it leaves the
    monotonic clock alone, and fakes it as wall time otherwise.)"""
    agency = make_agency(tmp_path / "agency")
    device = make_device(tmp_path / "device", agency, tmp_path)
    dock_dir = make_dock(tmp_path / "dock", agency)
    recorder("run", "--simulate", "--config", device.config, "--store", device.store,
             "--script", "start @0.5s; mark @1.5s; stop @3s")
    with DockThread(dock_dir, wall_ns=lambda: time.time_ns() + SKEW_S * 10**9,
                    clock_quality=lambda: ("gnss+pps", 20_000)) as dock:
        code, _ = offload(device, dock.port)
    assert code == 0
    dock_store = dock_dir / "devices" / device.device_id / "store"
    [session] = verify_store(dock_store).sessions
    [offset] = entries_of(dock_store, "clock_offset")
    [run] = entries_of(dock_store, "agent_start")
    assert run["body"]["monotonic"] == offset["body"]["monotonic"] and run["body"]["monotonic"].startswith("boot:")
    if session["start"]["clock"] not in ("rtc", "none"):
        # this machine's clock is disciplined (NTP): chrony's slewing moves the monotonic clock
        # too, so the offset is not carried back, and the stamps keep their own bound
        assert session["by_dock"] is None
        return
    placed = session["by_dock"]
    assert placed is not None and placed["start"]["clock_offset"] == offset["index"]
    for moment, stamp in [(placed["start"], session["start"]), (placed["stop"], session["stop"]),
                          (placed["marks"][0], session["marks"][0]["at"])]:
        truth_us = stamp["wall_us"] + SKEW_S * 1_000_000  # the dock's clock at that moment
        assert abs(moment["wall_us"] - truth_us) <= moment["error_us"], (moment, stamp)
        assert moment["error_us"] <= offset["body"]["error_us"] + 1_000  # seconds away at 50 ppm: < 1 ms
    said = recorder("verify", dock_store).stdout
    assert f"on the dock's clock (its offset +{SKEW_S}.0" in said and placed["start"]["wall"] in said, said


def test_the_assigned_officer_is_recorded_and_carried_by_the_next_session(world):
    _, device, dock_dir = world
    recorder("dock", "assign", dock_dir, "--device", device.device_id, "--officer", "B-42", "--hours", "8")
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port)
        assert code == 0 and outcome["officer"] == "B-42"
        assert offload(device, dock.port)[0] == 0  # a second offload: the same record, not recorded twice
    [entry] = entries_of(device.store, "assignment")
    assert entry["body"]["officer_id"] == "B-42"
    kept = device.identity / "assignments" / f"{entry['body']['assignment_sha256']}.json"
    assert kept.exists()
    device.record("start @0.5s; stop @3s")
    officers = [e["body"]["officer_id"] for e in entries_of(device.store, "session_start")]
    assert officers == ["A-17", "B-42"]  # the bundle's officer before, the assignment's after
    assert verify_store(device.store).problems == []


def test_an_assignment_the_pinned_dock_did_not_sign_is_refused(world, tmp_path):
    from datetime import datetime, timedelta, timezone

    from recorder.agency.assignment import build_assignment
    from recorder.agency.certs import new_key

    _, device, dock_dir = world
    now = datetime.now(timezone.utc)
    forged = build_assignment(new_key(), device.device_id, "X-1", now, now + timedelta(hours=8), now)
    directory = dock_dir / "devices" / device.device_id / "assignments"
    directory.mkdir(parents=True)
    (directory / "000001.json").write_text(json.dumps(forged))
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port)
    assert code == 0 and outcome["officer"] is None
    assert entries_of(device.store, "assignment") == []
    assert not (device.identity / "assignments").exists()
    device.record("start @0.5s; stop @3s")
    assert [e["body"]["officer_id"] for e in entries_of(device.store, "session_start")] == ["A-17", "A-17"]
