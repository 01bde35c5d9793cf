"""Wall-clock steps and stated error bounds, on the injected clock (the machine's clock is
never set): the step is in the ledger with its size, media time stays continuous, and two
devices whose clocks start off by known amounts line up within their stated bounds — one by
GNSS, the other by the offset a dock measured at its checkout."""

import subprocess
import threading
import time

import pytest

from recorder.clock import STEP_NS, SimulatedClock, SystemClock, TimeMapping
from recorder.config import config_from_dict
from recorder.evidence.verifier import verify_store
from recorder.sim.agent import SimulatedAgent
from recorder.sim.fingers import scripted
from recorder.sim.script import parse_timeline
from recorder.systime import SystemDiscipline

from conftest import require_tool
from media import frame_indices, ledger_entries, manifest_of, segments_of
from support.dock_rig import DockThread, make_agency, make_device, make_dock

TINY = {
    "video": {"width": 160, "height": 120, "fps": 10, "bitrate": 200_000, "preset": "ultrafast"},
    "audio": {"enabled": False},
    "prerecord": {"seconds": 2},
    "segments": {"seconds": 5},
}
S = 1_000_000_000


# --- the clock itself ----------------------------------------------------------------------

def test_a_moment_keeps_the_mapping_that_held_then():
    clock = SimulatedClock(start_wall_ns=1_800_000_000 * S, start_monotonic_ns=S)
    clock.advance(10 * S)
    before = clock.stamp(5 * S)
    steps = []
    clock.on_step(steps.append)
    assert clock.adopt(clock.mapping.offset_ns + 3 * S, "gnss", 250_000_000) is not None
    assert clock.stamp(5 * S) == before  # the past is not rewritten
    after = clock.stamp(12 * S)
    assert after["wall_us"] - after["mono_us"] == before["wall_us"] - before["mono_us"] + 3_000_000
    assert after["clock"] == "gnss" and after["error_us"] == 250_000 + 50  # 1 s at 50 ppm
    assert [(s.step_ns, s.before.source, s.after.source) for s in steps] == [(3 * S, "rtc", "gnss")]
    assert [m.source for m in clock.mappings_between(4 * S, 12 * S)] == ["rtc", "gnss"]


def test_slewing_is_no_step_and_an_unbounded_clock_says_so():
    clock = SimulatedClock(source="none", error_ns=None)
    assert clock.stamp()["error_us"] is None and clock.stamp()["clock"] == "none"
    assert clock.adopt(clock.mapping.offset_ns + STEP_NS - 1000, "ntp", 5_000_000) is None
    assert clock.adopt(clock.mapping.offset_ns - STEP_NS, "ntp", 5_000_000).step_ns == -STEP_NS


def test_error_bounds_round_up_and_grow_with_drift():
    mapping = TimeMapping(0, 0, "gnss", 1_001, drift_ppb=50_000)
    assert mapping.record()["error_us"] == 2  # 1.001 µs is stated as 2, never 1
    assert mapping.error_at(3600 * S) == 1_001 + 180_000_000  # 50 ppm of an hour


def test_the_system_clock_reports_a_step_of_the_machine_clock(monkeypatch):
    """CLOCK_REALTIME jumping under the agent (chrony's step, an RTC reset): seen at the next
    refresh. The jump is faked in time.time_ns for this process only."""
    import recorder.clock as clock_module

    clock = SystemClock(lambda: ("rtc", 2_000_000_000))
    real = clock_module.time.time_ns
    monkeypatch.setattr(clock_module.time, "time_ns", lambda: real() - 3600 * S)
    clock._discipline = lambda: ("gnss", 200_000_000)
    step = clock.refresh()
    assert step is not None and abs(step.step_ns + 3600 * S) < S // 10
    assert step.after.source == "gnss" and clock.stamp()["error_us"] >= 200_000
    assert clock.refresh() is None  # nothing moved since


def test_the_system_discipline_is_asked_seldom_and_its_bound_grows_meanwhile():
    now = [0]
    asked = []

    def read():
        asked.append(now[0])
        return "gnss+pps", 20

    discipline = SystemDiscipline(50_000, read, lambda: now[0], ask_in_background=lambda ask: ask())
    assert discipline() == ("gnss+pps", 20_000)
    now[0] = 10 * S
    assert discipline() == ("gnss+pps", 20_000 + 500_000)  # 10 s at 50 ppm
    now[0] = 16 * S
    discipline()
    assert asked == [0, 16 * S]


def test_a_slow_chronyc_never_holds_the_caller():
    """The run loop asks once a second; chronyc taking its whole timeout must not hold it:
    the old answer, still growing, until the new one comes."""
    now, release = [0], threading.Event()
    answers = iter([("rtc", 1000), ("gnss", 50)])

    def read():
        source, bound = next(answers)
        if source == "gnss":
            release.wait(5)
        return source, bound

    discipline = SystemDiscipline(50_000, read, lambda: now[0])
    now[0] = 16 * S
    began = time.monotonic()
    assert discipline() == ("rtc", 1_000_000 + 800_000)  # 16 s at 50 ppm on top of 1 ms
    assert time.monotonic() - began < 0.5
    release.set()
    deadline = time.monotonic() + 5
    while discipline()[0] != "gnss" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert discipline() == ("gnss", 50_000)


# --- steps in a recording --------------------------------------------------------------------

class StepWallClock:
    """A loop participant: at script time at_s the device's RTC resets (the wall clock jumps)."""

    def __init__(self, clock, origin_ns, at_s, step_ns):
        self.clock, self.at_ns, self.step_ns, self.done = clock, origin_ns + round(at_s * S), step_ns, False

    def next_deadline_ns(self):
        return None if self.done else self.at_ns

    def tick(self, now_ns):
        if not self.done and now_ns >= self.at_ns:
            self.done = True
            self.clock.step_wall(self.step_ns, source="rtc", error_ns=2 * S)


def run_with_step(store, script, clock, at_s, step_ns, gnss=None, identity_dir=None):
    settings = {**TINY, "gnss": gnss or {"receiver": "none"}}
    agent = SimulatedAgent(config_from_dict(settings), store, clock, identity_dir=identity_dir)
    play = scripted(parse_timeline(script), in_step=True)

    def drive(agent):
        players, end_ns = play(agent)
        return [StepWallClock(clock, agent.body.origin_ns, at_s, step_ns), *players], end_ns

    agent.run(drive)
    return agent


def test_an_rtc_reset_while_recording_is_in_the_ledger_and_media_time_goes_on(tmp_path):
    store = tmp_path / "store"
    clock = SimulatedClock(start_wall_ns=1_800_000_000 * S)
    run_with_step(store, "start @1s; stop @19s", clock, at_s=8.3, step_ns=-86_400 * S)
    steps = [e for e in ledger_entries(store) if e["type"] == "clock_step"]
    assert len(steps) == 1 and steps[0]["body"]["step_us"] == -86_400_000_000
    assert steps[0]["body"]["before"]["offset_us"] - steps[0]["body"]["after"]["offset_us"] == 86_400_000_000
    segments = segments_of(store)
    manifests = [manifest_of(s) for s in segments]
    # media time: contiguous segments, every frame
    assert all(a["end"]["mono_us"] == b["start"]["mono_us"] for a, b in zip(manifests, manifests[1:]))
    frames = [i for s in segments for i in frame_indices(s)]
    assert frames == list(range(frames[0], frames[0] + len(frames)))
    # wall time: the segment that straddles the step lists both mappings; later ones a day back
    step_mono = steps[0]["at"]["mono_us"]
    straddling = next(m for m in manifests if m["start"]["mono_us"] < step_mono < m["end"]["mono_us"])
    assert len(straddling["clock"]) == 2
    assert straddling["end"]["wall_us"] - straddling["start"]["wall_us"] == \
        straddling["duration_us"] - 86_400_000_000
    report = verify_store(store)
    assert report.ok, report.summary_text()
    assert report.sessions[0]["where_and_when"]["clock_steps"] == 1


DOCKED_AFTER_S = 600  # B is docked ten minutes after the scene
DOCK_ERROR_NS = 20_000  # what the dock states of its own clock (a GNSS-disciplined workstation)
B_CRYSTAL_PPB = 40_000  # B's crystal runs 40 ppm fast: 25 ms gained by the checkout


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    """One scene, two devices: A's RTC lost its time with a flat battery (7.3 s off, and it
    says `none`: no bound) and GNSS corrects it; B's RTC is 0.8 s slow within its stated 2 s,
    its crystal runs fast and it has no receiver. B is a provisioned device, docked after the
    scene at a dock on the world's time, whose checkout measures B's offset; B is read from
    the dock's copy, as an evidence clerk reads it."""
    require_tool("gpsd")
    root = tmp_path_factory.mktemp("two")
    world = 1_800_000_000 * S
    a = SimulatedClock(start_wall_ns=world, wall_error_ns=7_300_000_000, source="none", error_ns=None)
    b = SimulatedClock(start_wall_ns=world, wall_error_ns=-800_000_000, rate_error_ppb=B_CRYSTAL_PPB)
    script = "start @2s; mark @15s; stop @25s"
    run_with_step(root / "a", script, a, at_s=999, step_ns=0, gnss={"receiver": "gpsd"})
    agency = make_agency(root / "agency")
    device = make_device(root / "b", agency, root)
    run_with_step(device.store, script, b, at_s=999, step_ns=0, identity_dir=device.identity)
    b.advance(DOCKED_AFTER_S * S)
    dock = make_dock(root / "dock", agency)
    try:
        with DockThread(dock, wall_ns=lambda: b.true_wall_ns_at(b.monotonic_ns()),
                        clock_quality=lambda: ("gnss+pps", DOCK_ERROR_NS)) as served:
            outcome = offload_on(device, served.port, b)
        assert outcome.refused is None and outcome.receipt, outcome.record()
        yield (root / "a", a), (dock / "devices" / device.device_id / "store", b)
    finally:
        subprocess.run(["chattr", "-R", "-f", "-i", str(root)], capture_output=True)


def offload_on(device, port, clock):
    """`recorder offload`, on the device's own (simulated) clock."""
    from recorder.offload.run import device_offload

    offload = device_offload(device.store, device.identity, "127.0.0.1", port, clock)
    try:
        return offload.run()
    finally:
        offload.dock.close()


def stamps(store):
    for entry in ledger_entries(store):
        yield entry["at"]
    for segment in segments_of(store):
        manifest = manifest_of(segment)
        yield manifest["start"]
        yield manifest["end"]


def test_every_stamp_of_both_devices_is_within_its_bound_of_the_world(two_devices):
    for store, clock in two_devices:
        bounded = 0
        for stamp in stamps(store):
            if stamp["error_us"] is None:  # A before its first fix: no bound claimed, honestly
                assert stamp["clock"] == "none"
                continue
            truth_us = clock.true_wall_ns_at(stamp["mono_us"] * 1000) // 1000
            assert abs(stamp["wall_us"] - truth_us) <= stamp["error_us"], stamp
            bounded += 1
        assert bounded >= 4
        report = verify_store(store)
        assert report.ok, report.summary_text()


def test_the_gnss_device_stepped_once_and_the_same_moment_lines_up(two_devices):
    (store_a, _), (store_b, _) = two_devices
    steps = [e["body"] for e in ledger_entries(store_a) if e["type"] == "clock_step"]
    assert [(s["cause"], s["step_us"]) for s in steps] == [("gnss-first-sync", -7_300_000)]
    assert not [e for e in ledger_entries(store_b) if e["type"] == "clock_step"]
    mark_a, mark_b = ([e["at"] for e in ledger_entries(store)
                       if e["type"] == "mark"][0] for store in (store_a, store_b))
    assert mark_a["clock"] == "gnss" and mark_b["clock"] == "rtc"
    # the mark was pressed at one moment of the world: its two wall times agree within the bounds
    assert abs(mark_a["wall_us"] - mark_b["wall_us"]) <= mark_a["error_us"] + mark_b["error_us"]
    assert abs(mark_a["wall_us"] - mark_b["wall_us"]) > 700_000  # B's 0.8 s is still there


def test_the_dock_measured_offset_places_the_other_device_on_the_same_timeline(two_devices):
    """B's stamps say `rtc ±2 s`; the dock's checkout, ten minutes later on the same monotonic
    clock, places them on its own clock within its stated error plus the drift since: the
    mark lines up with A's GNSS time within milliseconds, not seconds."""
    (store_a, _), (store_b, clock_b) = two_devices
    [offset] = [e for e in ledger_entries(store_b) if e["type"] == "clock_offset"]
    at = offset["at"]
    truly_us = clock_b.true_wall_ns_at(at["mono_us"] * 1000) // 1000 - at["wall_us"]  # 0.8 s − 25 ms gained
    assert abs(offset["body"]["offset_us"] - truly_us) <= offset["body"]["error_us"] + 2
    assert offset["body"]["monotonic"] == clock_b.monotonic_id
    [session_b] = verify_store(store_b).sessions
    placed = session_b["by_dock"]
    assert placed is not None and placed["start"]["clock_offset"] == offset["index"]
    # every placed moment is within its stated error of the world's time, and the error is the
    # dock's plus 50 ppm of the time to the checkout (~600 s: 30 ms), far below the RTC's 2 s
    for name, stamp in [("start", session_b["start"]), ("stop", session_b["stop"]),
                        *[("mark", m["at"]) for m in session_b["marks"]]]:
        moment = placed[name] if name != "mark" else placed["marks"][0]
        truth_us = clock_b.true_wall_ns_at(stamp["mono_us"] * 1000) // 1000
        assert abs(moment["wall_us"] - truth_us) <= moment["error_us"], (name, moment, truth_us)
        assert moment["error_us"] < 40_000 and stamp["error_us"] >= 2_000_000
        assert moment["wall_us"] - stamp["wall_us"] == offset["body"]["offset_us"]  # no step between
        # the crystal's drift since is real: the measurement's error alone would not cover it
        assert abs(moment["wall_us"] - truth_us) > offset["body"]["error_us"] + 15_000
    mark_a = [e["at"] for e in ledger_entries(store_a) if e["type"] == "mark"][0]
    mark_b = placed["marks"][0]
    assert abs(mark_a["wall_us"] - mark_b["wall_us"]) <= mark_a["error_us"] + mark_b["error_us"]
    assert abs(mark_a["wall_us"] - mark_b["wall_us"]) < 300_000  # B's 0.8 s is gone
    [session_a] = verify_store(store_a).sessions
    assert session_a["by_dock"] is None  # A was never docked


def test_the_system_clock_never_states_a_bound_smaller_than_told():
    told = [("ntp", 100_000_000)]
    clock = SystemClock(lambda: told[-1])
    assert clock.refresh() is None  # nothing changed
    told.append(("ntp", 100_500_000))  # the kernel's maxerror grew faster than our drift
    clock.refresh()
    assert clock.stamp()["error_us"] >= 100_500
    told.append(("ntp", 20_000_000))  # a fresh sync: much better
    clock.refresh()
    assert 20_000 <= clock.stamp()["error_us"] < 21_000
    assert clock.refresh() is None
