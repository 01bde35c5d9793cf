"""The battery monitor reading a simulated battery through its power_supply files, on a
simulated clock: an 8-hour discharge runs in seconds, and each level is reported once, at
the recording time the battery really had left (the simulated battery knows when it ran
out), critical at the end; a charger re-arms the levels; a fresh or glitching gauge does
not raise false alarms."""

import re
import tempfile
import threading
import time
from pathlib import Path

import pytest

from recorder.agent.loop import RunLoop
from recorder.clock import SimulatedClock
from recorder.config import PowerConfig
from recorder.monitors.base import BATTERY_CRITICAL, BATTERY_LOW
from recorder.monitors.battery import MIN_SAMPLES, REARM_MINUTES, BatteryMonitor
from recorder.power import BackgroundSupply, BatteryReading, PowerSupply, SimulatedBattery, open_power

NS = 1_000_000_000
MINUTE = 60 * NS
LEVELS = [(BATTERY_LOW, "warning", 15), (BATTERY_LOW, "second warning", 5), (BATTERY_CRITICAL, "critical", 2)]


@pytest.fixture
def battery_dir(tmp_path):
    """A directory on tmpfs where there is one: the simulated battery rewrites its files
    every few simulated seconds, which is slow on a journalled disk."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shm.stat().st_mode & 0o002:
        with tempfile.TemporaryDirectory(dir=shm, prefix="recorder-test-battery-") as directory:
            yield Path(directory) / "BAT0"
    else:
        yield tmp_path / "BAT0"


def play(clock, participants, until_ns, stop=None):
    """A run loop for participants alone: jump from deadline to deadline (no body, no 20 ms
    steps), so hours of simulated time take seconds."""
    now = clock.monotonic_ns()
    for p in participants:
        p.tick(now)
    while now < until_ns and not (stop and stop()):
        due = [d for p in participants if (d := p.next_deadline_ns()) is not None and d > now]
        now = min(due + [until_ns])
        clock.sleep_until(now)
        for p in participants:
            p.tick(now)


class Watch:
    """A monitor with its events collected."""

    def __init__(self, monitor):
        self.monitor, self.events = monitor, []
        monitor.on_event = self.events.append

    def levels(self):
        return [(e.kind, e.detail.split(":")[0]) for e in self.events]


def discharge(battery_dir, layout, noise=0.0, **battery):
    clock = SimulatedClock()
    bat = SimulatedBattery(battery_dir, clock, layout=layout, noise=noise, seed=7, **battery)
    watch = Watch(BatteryMonitor.from_config(PowerSupply(battery_dir), PowerConfig()))
    started = time.monotonic()
    play(clock, [bat, watch.monitor], clock.monotonic_ns() + 9 * 3600 * NS)
    return bat, watch, time.monotonic() - started


def minutes_left(bat, event) -> float:
    """What the battery really had left when the event was reported."""
    return (bat.emptied_at_ns - event.at_ns) / MINUTE


@pytest.mark.parametrize("layout, noise", [("energy", 0.1), ("charge", 0.1)])
def test_an_eight_hour_discharge_reports_each_level_once_at_its_time(battery_dir, layout, noise):
    """24 Wh at 3 W: empty after ~7.9 h. The gauge's power (or current) reading jitters by
    ±10 %; the estimate still lands each level within a minute."""
    bat, watch, wall_s = discharge(battery_dir, layout, noise)
    assert 7.8 * 3600 < (bat.emptied_at_ns - 1 * NS) / NS < 8.0 * 3600
    assert watch.levels() == [(kind, name) for kind, name, _ in LEVELS], "each level once, in order"
    for event, (_, name, minutes) in zip(watch.events, LEVELS):
        assert minutes - 1 <= minutes_left(bat, event) <= minutes + 1, (name, minutes_left(bat, event))
    assert watch.events[-1].at_ns < bat.emptied_at_ns, "critical comes before the battery is empty"
    unit = r"[\d.]+ Wh, [\d.]+ W" if layout == "energy" else r"[\d.]+ Ah, [\d.]+ A"
    assert re.fullmatch(rf"warning: 1[45] min of recording left \(\d+ %, {unit}\)", watch.events[0].detail)
    assert wall_s < 60, "an 8-hour discharge on a simulated clock takes seconds"


def test_a_capacity_only_gauge_is_coarser_but_in_order(battery_dir):
    """A max17040-like gauge (capacity in whole percent, no current): the draw comes from
    the slope of the capacity over 15 min; levels within 2 minutes, critical in time."""
    bat, watch, _ = discharge(battery_dir, "capacity")
    assert watch.levels() == [(kind, name) for kind, name, _ in LEVELS]
    for event, (_, name, minutes) in zip(watch.events, LEVELS):
        assert minutes - 2 <= minutes_left(bat, event) <= minutes + 2, (name, minutes_left(bat, event))
    assert re.search(r"\(\d+ %, falling [\d.]+ %/h\)$", watch.events[0].detail)


def test_a_charger_re_arms_the_levels_it_charges_past(battery_dir):
    clock = SimulatedClock()
    bat = SimulatedBattery(battery_dir, clock, capacity_wh=2.0, draw_w=3.0, level=0.5, charger_w=10.0,
                           charge_limit_w=4.0)
    watch = Watch(BatteryMonitor(PowerSupply(battery_dir)))
    parts = [bat, watch.monitor]
    play(clock, parts, 10 * 3600 * NS, stop=lambda: len(watch.events) == 1)
    assert watch.levels() == [(BATTERY_LOW, "warning")]
    # Plugged in for a minute: ~2 min of recording more, less than the re-arm margin.
    play(clock, parts, clock.monotonic_ns() + MINUTE)
    bat.plug()
    play(clock, parts, clock.monotonic_ns() + MINUTE)
    assert bat.status == "Charging" and watch.monitor.minutes < 15 + REARM_MINUTES
    bat.unplug()
    play(clock, parts, 10 * 3600 * NS, stop=lambda: len(watch.events) == 2)
    assert watch.levels() == [(BATTERY_LOW, "warning"), (BATTERY_LOW, "second warning")], \
        "a brief charge above the level does not repeat the warning"
    # Charged for 20 minutes: far above every level, each re-armed; nothing said while charging.
    bat.plug()
    play(clock, parts, clock.monotonic_ns() + 20 * MINUTE)
    assert len(watch.events) == 2 and watch.monitor.fired == set()
    assert watch.monitor.minutes > 15 + REARM_MINUTES
    bat.unplug()
    play(clock, parts, 10 * 3600 * NS)
    assert watch.levels()[2:] == [(kind, name) for kind, name, _ in LEVELS], "the levels again, once each"
    for event, (_, name, minutes) in zip(watch.events[2:], LEVELS):
        assert minutes - 1 <= minutes_left(bat, event) <= minutes + 1, (name, minutes_left(bat, event))


def test_a_fresh_battery_waits_for_a_measure_and_an_empty_one_is_critical_at_once(battery_dir, tmp_path):
    clock = SimulatedClock()
    start = clock.monotonic_ns()
    bat = SimulatedBattery(battery_dir, clock, capacity_wh=0.5, draw_w=3.0, level=1.0)  # 10 min of recording
    watch = Watch(BatteryMonitor(PowerSupply(battery_dir)))
    play(clock, [bat, watch.monitor], start + MINUTE)
    assert watch.levels() == [(BATTERY_LOW, "warning")]
    waited = (watch.events[0].at_ns - start) / NS
    assert waited == (MIN_SAMPLES - 1) * 5, "decided on the third reading of the draw, not the first"
    assert re.match(r"warning: 10 min of recording left", watch.events[0].detail)

    clock = SimulatedClock()
    empty = SimulatedBattery(tmp_path / "empty", clock, level=0.0)
    watch = Watch(BatteryMonitor(PowerSupply(tmp_path / "empty")))
    play(clock, [empty, watch.monitor], clock.monotonic_ns() + 20 * NS)
    assert watch.levels() == [(BATTERY_CRITICAL, "critical")], "the gauge's 0 %: critical on the first look"
    assert "the gauge reports 0 %" in watch.events[0].detail


class Readings:
    """A supply that returns prepared readings, one per look."""

    def __init__(self, readings):
        self.readings = list(readings)

    def read(self):
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


def reading(energy_wh, power_w=3.0, status="Discharging", capacity=None):
    if capacity is None:
        capacity = round(energy_wh / 24, 2)
    return BatteryReading("fake", type="Battery", status=status, present=True, capacity=capacity,
                          energy_wh=energy_wh, power_w=power_w, energy_full_wh=24.0)


def test_one_wild_reading_decides_nothing_a_real_step_does():
    """What is left is the median of the last three readings: a single glitch (0 Wh, 0 %)
    is ignored; a gauge that really steps down (recalibrating at the knee) counts from its
    second reading."""
    steady = [reading(5.0 - i * 0.004) for i in range(10)]  # ~100 min left, falling at 3 W
    glitch = [reading(0.0, capacity=0.0)]
    after = [reading(4.95 - i * 0.004) for i in range(5)]
    watch = Watch(BatteryMonitor(Readings(steady + glitch + after)))
    for i in range(len(steady) + 1 + len(after)):
        watch.monitor.tick(i * 5 * NS)
    assert watch.events == []
    step = [reading(0.5), reading(0.5)]  # a real step to 10 min left
    watch = Watch(BatteryMonitor(Readings(steady + step)))
    for i in range(len(steady) + 2):
        watch.monitor.tick(i * 5 * NS)
    assert watch.levels() == [(BATTERY_LOW, "warning")]
    assert watch.events[0].at_ns == (len(steady) + 1) * 5 * NS


def test_a_gauge_that_blocks_never_holds_the_loop():
    """A real gauge is read on a thread of its own (open_power does so): a read stuck on the
    I²C bus leaves the loop's ticks immediate, and the reading is picked up once it comes."""
    release = threading.Event()

    class Stuck:
        directory = "stuck"

        def read(self):
            release.wait(10)
            return reading(5.0)

    supply = BackgroundSupply(Stuck(), interval_s=0.01)
    watch = Watch(BatteryMonitor(supply))
    started = time.monotonic()
    for i in range(3):
        watch.monitor.tick(i * 5 * NS)
    assert time.monotonic() - started < 0.5 and watch.monitor.reading is None
    release.set()
    deadline = time.monotonic() + 5
    while supply.read() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    watch.monitor.tick(15 * NS)
    assert watch.monitor.reading is not None and watch.monitor.reading.energy_wh == 5.0
    supply.close()


def test_nothing_to_watch_on_mains_or_without_a_gauge(tmp_path):
    assert open_power(PowerConfig(supply=""), SimulatedClock()).supply is None
    watch = Watch(BatteryMonitor(PowerSupply(tmp_path / "absent")))
    for i in range(5):
        watch.monitor.tick(i * 5 * NS)
    assert watch.events == [] and watch.monitor.minutes is None


def test_monitor_and_battery_in_the_agents_run_loop(battery_dir):
    """The battery and the monitor are loop participants like any other: in RunLoop (20 ms
    steps) a battery with 16 minutes left gives the warning about a minute in."""

    class NoBody:
        def advance_to(self, t):
            pass

    clock = SimulatedClock()
    start = clock.monotonic_ns()
    bat = SimulatedBattery(battery_dir, clock, capacity_wh=0.8, draw_w=3.0, level=1.0)  # 16 min
    watch = Watch(BatteryMonitor(PowerSupply(battery_dir)))
    RunLoop(clock, NoBody(), [bat, watch.monitor]).run(start + 2 * MINUTE)
    assert watch.levels() == [(BATTERY_LOW, "warning")]
    assert 14 <= minutes_left_at(bat, watch.events[0]) <= 16


def minutes_left_at(bat, event):
    """Minutes left when the event came, for a battery that has not run out yet: its
    energy then over its constant draw."""
    return bat.energy_wh / 3.0 * 60 + (bat.clock.monotonic_ns() - event.at_ns) / MINUTE
