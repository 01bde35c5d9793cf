"""The storage monitor on real small filesystems (a tmpfs and a loop-mounted ext4, each in a
private mount namespace): a writer fills the store at a known rate on a simulated clock;
the warning comes when a minute of recording is left, the floor with the reserve still
free, and recovery once the test (never the recorder) removes files.

Then the real recorder on the simulated body records into a small tmpfs with the monitor
in its run loop, acting on the floor as the agent does (stop, seal): the recording ends
cleanly, everything verifies, and what sealing took after the floor fits in the reserve."""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import SMALL_CONFIG, require_root_unshare, require_tool
from recorder.monitors.storage import FLOOR_LEAD_S

MIB = 1024 * 1024

FILL = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from pathlib import Path
    from recorder.clock import SimulatedClock
    from recorder.monitors.storage import StorageMonitor

    work, kind = Path(sys.argv[1]), sys.argv[2]
    store = work / "store"
    store.mkdir()
    if kind == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(store)], check=True)
    else:
        image = work / "disk.img"
        subprocess.run(["truncate", "-s", "56M", str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(store)], check=True)
    (store / "media").mkdir()
    (store / "ledger").mkdir()

    RATE, CONFIGURED, RESERVE, CHUNK_S = 500_000, 200_000, 8 * 2**20, 0.1
    NS = 1_000_000_000

    def free():
        st = os.statvfs(store)
        return st.f_bavail * st.f_frsize

    class Writer:
        # A recorder at RATE bytes/s: a chunk every CHUNK_S, a file per 4 MB, each chunk fsync'd.
        def __init__(self, clock):
            self.next, self.active, self.written, self.files, self.fd = clock.monotonic_ns(), True, 0, [], None
        def next_deadline_ns(self):
            return self.next if self.active else None
        def tick(self, now):
            while self.active and self.next <= now:
                if self.fd is None or self.written % 4_000_000 == 0:
                    if self.fd is not None:
                        os.close(self.fd)
                    self.files.append(store / "media" / f"{len(self.files):05d}.mp4.partial")
                    self.fd = os.open(self.files[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                os.write(self.fd, b"\\x5a" * int(RATE * CHUNK_S))
                os.fsync(self.fd)
                self.written += int(RATE * CHUNK_S)
                self.next += int(CHUNK_S * NS)
        def stop(self):
            self.active = False
            os.close(self.fd)

    clock = SimulatedClock()
    origin = clock.monotonic_ns()
    writer = Writer(clock)
    monitor = StorageMonitor(store, bytes_per_second=CONFIGURED, reserve_bytes=RESERVE, warn_minutes=1,
                             resume_minutes=1)
    events = []
    def on_event(event):
        events.append({"kind": event.kind, "t": (event.at_ns - origin) / NS, "free": free(),
                       "written": writer.written, "detail": event.detail})
        if event.kind == "storage-floor":
            writer.stop()  # the agent seals and stops
    monitor.on_event = on_event

    def play(until_s):
        parts = [writer, monitor]
        now = clock.monotonic_ns()
        for p in parts:
            p.tick(now)
        while now < origin + until_s * NS:
            due = [d for p in parts if (d := p.next_deadline_ns()) is not None and d > now]
            now = min(due + [origin + int(until_s * NS)])
            clock.sleep_until(now)
            for p in parts:
                p.tick(now)

    start_free = free()
    play(150)  # full well before: the floor stops the writer
    kept = [f.name for f in writer.files if f.exists()]
    before_removal = len(events)
    for path in writer.files[:5]:  # the test frees 20 MB (the dock would, after an offload)
        os.remove(path)
    play(170)
    print(json.dumps({"events": events, "start_free": start_free, "before_removal": before_removal,
                      "kept": kept, "files": len(writer.files), "rate": RATE, "reserve": RESERVE,
                      "configured": CONFIGURED}))
    """
)


@pytest.fixture(scope="module", params=["tmpfs", "ext4"])
def filled(request, tmp_path_factory):
    unshare = require_root_unshare()
    if request.param == "ext4":
        require_tool("mkfs.ext4")
    work = tmp_path_factory.mktemp(f"fill-{request.param}")
    result = subprocess.run([unshare, "-m", sys.executable, "-c", FILL, str(work), request.param],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_warning_comes_when_a_minute_of_recording_is_left(filled):
    low = filled["events"][0]
    assert low["kind"] == "storage-low"
    seconds_left = (low["free"] - filled["reserve"]) / filled["rate"]
    assert 60 - 5 - 1 <= seconds_left <= 60 + 1, "at the first look (every 5 s) after 1 min was left"
    assert low["detail"].startswith("1 min of recording left (")
    assert "Mbit/s measured" in low["detail"], "the writer's rate, measured, above the configured one"


def test_the_floor_comes_with_the_reserve_still_free(filled):
    kinds = [e["kind"] for e in filled["events"]]
    assert kinds[:2] == ["storage-low", "storage-floor"], kinds
    floor = filled["events"][1]
    assert floor["free"] >= filled["reserve"], "the reserve is whole when the agent seals"
    assert floor["free"] - filled["reserve"] <= filled["rate"] * (FLOOR_LEAD_S + 0.5), \
        "and recording stopped within the lead (2 s of recording) of it"
    assert floor["detail"].startswith("storage floor: ") and "MiB reserve" in floor["detail"]
    assert filled["before_removal"] == 2, "nothing more until space comes back"
    assert filled["kept"] == [f"{i:05d}.mp4.partial" for i in range(filled["files"])], "the monitor deleted nothing"


def test_space_freed_by_someone_else_recovers(filled):
    kinds = [e["kind"] for e in filled["events"]]
    assert kinds == ["storage-low", "storage-floor", "storage-recovered"], kinds
    recovered = filled["events"][2]
    assert 150 <= recovered["t"] <= 150 + 5, "at the next look after the files were removed"
    left = recovered["free"] - filled["reserve"]
    assert left >= 60 * filled["configured"], "a minute (resume_minutes) of recording above the reserve"
    assert recovered["detail"].endswith("Mbit/s configured, on " + recovered["detail"].rsplit("on ", 1)[1])


RUN = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys
    from pathlib import Path
    from recorder.clock import SimulatedClock
    from recorder.config import load_config, minimum_storage_reserve
    from recorder.sim.agent import SimulatedAgent
    from recorder.store.ballast import BALLAST_BYTES
    from recorder.sim.fingers import scripted
    from recorder.sim.script import parse_timeline

    work, out, config_path, size, above_kib, script = (Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3],
                                                       sys.argv[4], int(sys.argv[5]), sys.argv[6])
    disk = work / "disk"  # the device's data partition: the store, and maybe other data
    disk.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], check=True)
    store = disk / "store"

    def free():
        st = os.statvfs(disk)
        return st.f_bavail * st.f_frsize

    config = load_config(Path(config_path))
    if above_kib:  # other data on the partition: it starts with above_kib free above the reserve
        with open(disk / "other-data", "wb") as f:  # (and above the agent's sealing ballast)
            f.write(b"\\0" * (free() - config.storage.reserve_mb * 2**20 - BALLAST_BYTES - above_kib * 1024))
    agent = SimulatedAgent(config, store, SimulatedClock())
    events = []
    to_machine = agent.machine.on_monitor_event
    def on_event(event):  # what the agent's own monitors report, with the free space then
        origin = agent.body.origin_ns
        if event.source == "storage":
            events.append({"kind": event.kind, "t": (event.at_ns - origin) / 1e9, "free": free(),
                           "detail": event.detail})
        to_machine(event)
    agent.machine.on_monitor_event = on_event  # the agent hands its monitors this at run()
    error = None
    try:
        agent.run(scripted(parse_timeline(script), in_step=True))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    result = {"events": events, "error": error, "free_end": free(), "reserve": config.storage.reserve_mb * 2**20,
              "needed": minimum_storage_reserve(config), "stop_reason": agent.stop_reason,
              "sessions": agent.recorder.sessions}
    shutil.copytree(store, out, symlinks=True)
    print(json.dumps(result, default=str))
    """
)

E2E_CONFIG = """
[storage]
warn_minutes = 1
reserve_mb = 3
"""


def run_into_the_floor(tmp_path, size, above_kib, script, prerecord_s=3, reserve_mb=3):
    unshare = require_root_unshare()
    config = tmp_path / "recorder.toml"
    config.write_text(SMALL_CONFIG.format(prerecord_audio="true").replace("seconds = 3", f"seconds = {prerecord_s}")
                      + E2E_CONFIG.replace("reserve_mb = 3", f"reserve_mb = {reserve_mb}"))
    out = tmp_path / "after"
    result = subprocess.run([unshare, "-m", sys.executable, "-c", RUN, str(tmp_path / "work"), str(out),
                             str(config), size, str(above_kib), script],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), out


def check_clean_stop(outcome, store):
    """No fault, the floor once, every segment sealed and verified, and what was written
    into the reserve (from the floor, or from the press when the pre-record drained past
    it) within what the reserve is sized for."""
    from recorder.evidence.verifier import verify_store
    from shifts import ledger, of_type

    assert outcome["error"] is None, outcome["error"]
    kinds = [e["kind"] for e in outcome["events"]]
    assert kinds[-1] == "storage-floor" and kinds.count("storage-floor") == 1, kinds
    assert outcome["free_end"] > 0, "no ENOSPC"
    into_reserve = outcome["reserve"] - outcome["free_end"]
    assert into_reserve <= outcome["needed"], f"{into_reserve} bytes into the reserve: more than it is sized for"
    report = verify_store(store)
    assert report.ok, report.summary_text()
    assert not [p for p in report.problems if p.code == "partial-file"], "every segment sealed"
    [stop] = of_type(ledger(store), "session_stop")
    assert stop["body"]["cause"] == "storage"
    (interruption,) = of_type(ledger(store), "interruption")
    assert interruption["body"]["cause"] == "storage" and interruption["body"]["detail"].startswith("storage-floor: ")
    # The agent waits for space (nobody frees any here) until the script's end.
    assert [e["body"]["to"] for e in of_type(ledger(store), "transition")][-2:] == ["interrupted", "off"]
    assert ledger(store)[-1]["body"]["reason"] == "run-complete"
    return into_reserve


def test_recording_into_the_floor_stops_cleanly(tmp_path):
    """3 MiB reserve (the minimum for this configuration is ~2.7 MiB) on a 10 MiB tmpfs, 4 MiB
    of it the agent's sealing ballast: recording from 1 s fills the rest in about half a minute."""
    outcome, store = run_into_the_floor(tmp_path, "10m", 0, "press record @1s; end @120s")
    kinds = [e["kind"] for e in outcome["events"]]
    assert kinds == ["storage-low", "storage-floor"], kinds
    floor = outcome["events"][-1]
    assert floor["t"] < 60, "the floor ended the recording, not the script"
    assert floor["free"] >= outcome["reserve"], "the floor is seen before the reserve is touched"
    sealing = floor["free"] - outcome["free_end"]
    into_reserve = check_clean_stop(outcome, store)
    print(f"\nfloor at {floor['t']:.2f} s with {floor['free'] - outcome['reserve']} bytes above the reserve; "
          f"sealing after it took {sealing} bytes, {into_reserve} of them from the {outcome['reserve']} byte "
          f"reserve (sized {outcome['needed']})")


def test_a_press_just_above_the_floor_drains_the_ring_into_the_reserve(tmp_path):
    """The store is 300 KiB above the reserve (just above the floor) when the officer
    presses: the 10 s of pre-record (~1 MB) go to disk at once, past the floor; the
    reserve (4 MiB, the minimum for 10 s of pre-record is ~3.6 MiB) holds that and the seal."""
    outcome, store = run_into_the_floor(tmp_path, "16m", 300, "press record @12s; end @60s",
                                        prerecord_s=10, reserve_mb=4)
    floor = outcome["events"][-1]
    assert 12 <= floor["t"] < 13, "the floor comes with the press"
    assert floor["free"] < outcome["reserve"], "the pre-record went past it"
    into_reserve = check_clean_stop(outcome, store)
    print(f"\nfloor at {floor['t']:.2f} s, {outcome['reserve'] - floor['free']} bytes into the reserve; "
          f"{into_reserve} bytes into it at the end (sized {outcome['needed']})")
