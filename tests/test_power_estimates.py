"""The estimates stay sane whatever the gauge and the filesystem report: noisy, stalled,
glitching, jumping readings (hypothesis generates them). Sane: finite, never negative,
the draw within the noise around the true draw once there are enough readings, each
level reported at most once and never a milder one after a graver one within a
discharge, the storage events in their only possible order."""

import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.monitors.base import (BATTERY_CRITICAL, BATTERY_LOW, STORAGE_FLOOR, STORAGE_LOW,
                                    STORAGE_RECOVERED)
from recorder.monitors.battery import MIN_SAMPLES, BatteryMonitor, trimmed_mean
from recorder.monitors.storage import StorageMonitor
from recorder.power import BatteryReading

NS = 1_000_000_000


@given(good=st.lists(st.floats(2.0, 4.0), min_size=3, max_size=40),
       outliers=st.lists(st.one_of(st.floats(0.0, 2.0), st.floats(4.0, 1e6)), max_size=14),
       data=st.data())
def test_the_trimmed_mean_ignores_a_quarter_of_wild_values(good, outliers, data):
    """Any wild values, on either side, as long as they are at most a quarter of all."""
    outliers = outliers[:len(good) // 3]
    values = data.draw(st.permutations(good + outliers))
    assert 2.0 <= trimmed_mean(values) <= 4.0


GLITCHES = ("none", "none", "none", "stall", "no-power", "zero-power", "spike", "no-energy", "unreadable")


@st.composite
def discharge_readings(draw):
    """(true draw W, readings): a battery falling at the true draw, read every 5 s by a gauge
    whose power jitters by up to ±30 %, with at most one glitch in any five readings
    (a stalled gauge repeating itself, a missing or zero or tenfold power, a missing energy)."""
    power = draw(st.floats(0.5, 10.0))
    energy = draw(st.floats(0.05, 50.0))
    count = draw(st.integers(MIN_SAMPLES, 80))
    readings, last, since_glitch = [], None, 5
    for i in range(count):
        e = max(energy - power * 5 * i / 3600, 0.0)
        glitch = draw(st.sampled_from(GLITCHES)) if since_glitch >= 4 and last is not None else "none"
        since_glitch = 0 if glitch != "none" else since_glitch + 1
        jitter = draw(st.floats(-0.3, 0.3))
        reading = dict(energy_wh=e, power_w=power * (1 + jitter), capacity=round(e / 50, 2), unreadable=())
        if glitch == "stall":
            reading = dict(last)
        elif glitch == "no-power":
            reading["power_w"] = None
        elif glitch == "zero-power":
            reading["power_w"] = 0.0
        elif glitch == "spike":
            reading["power_w"] = power * 10
        elif glitch == "no-energy":
            reading["energy_wh"] = None
        elif glitch == "unreadable":
            reading.update(energy_wh=None, power_w=None, capacity=None, unreadable=("energy_now", "power_now"))
        readings.append(reading)
        if glitch not in ("stall",):
            last = reading
    return power, readings


class Replay:
    def __init__(self, readings, status="Discharging"):
        self.readings, self.status = readings, status

    def read(self):
        values = self.readings.pop(0)
        return BatteryReading("replay", type="Battery", status=self.status, present=True,
                              energy_full_wh=50.0, **values)


@settings(max_examples=300, deadline=None)
@given(discharge_readings())
def test_battery_estimates_stay_sane(case):
    power, readings = case
    monitor = BatteryMonitor(Replay(list(readings)))
    events = []
    monitor.on_event = events.append
    with_power = 0
    for i, reading in enumerate(readings):
        monitor.tick(i * 5 * NS)
        if reading["power_w"]:
            with_power += 1
        if monitor.minutes is not None:
            assert math.isfinite(monitor.minutes) and monitor.minutes >= 0
        if with_power >= MIN_SAMPLES and monitor.draw_source == "gauge":
            assert 0.7 * power <= monitor.draw <= 1.3 * power, (monitor.draw, power)
    names = [e.detail.split(":")[0] for e in events]
    assert len(names) == len(set(names)), "each level at most once in a discharge"
    order = ["warning", "second warning", "critical"]
    assert [order.index(n) for n in names] == sorted(order.index(n) for n in names), "never milder after graver"
    assert all(e.kind == (BATTERY_CRITICAL if n == "critical" else BATTERY_LOW) for e, n in zip(events, names))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 5.0), st.sampled_from(["Charging", "Discharging", "Full", None])),
                min_size=1, max_size=80))
def test_a_level_is_reported_again_only_after_a_charge_re_armed_it(steps):
    """Energy jumping anywhere, the status coming and going: nothing is reported on external
    power, a level is re-armed only by a reading on external power, and reported again only
    after such a re-arm."""
    monitor = BatteryMonitor(Replay([]))
    events = []
    monitor.on_event = events.append
    rearmed = {"warning": 0, "second warning": 0, "critical": 0}
    for i, (energy, status) in enumerate(steps):
        monitor.supply = Replay([dict(energy_wh=energy, power_w=3.0, capacity=energy / 50, unreadable=())], status)
        fired, count = set(monitor.fired), len(events)
        monitor.tick(i * 5 * NS)
        if status in ("Charging", "Full"):
            assert len(events) == count, "nothing reported while a charger holds the battery up"
        else:
            assert fired <= monitor.fired, "only a charge re-arms"
        for name in fired - monitor.fired:
            rearmed[name] += 1
    names = [e.detail.split(":")[0] for e in events]
    for name, times in rearmed.items():
        assert names.count(name) <= 1 + times


class FakeVfs:
    def __init__(self):
        self.free = 0

    def __call__(self, path):
        return os.statvfs_result((4096, 4096, 0, 0, self.free // 4096, 0, 0, 0, 0, 255))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frees=st.lists(st.integers(0, 400 * 2**20), min_size=1, max_size=120),
       steps=st.lists(st.floats(0.05, 10.0), min_size=120, max_size=120))
def test_storage_estimates_stay_sane(tmp_path, frees, steps):
    """Free space jumping anywhere (written, freed, stalled) at any pace: the rate is never
    below the configured one, the estimate is finite, the events keep their order."""
    vfs = FakeVfs()
    rate_floor, reserve = 500_000, 64 * 2**20
    monitor = StorageMonitor(tmp_path, bytes_per_second=rate_floor, reserve_bytes=reserve, warn_minutes=10,
                             resume_minutes=5, statvfs=vfs)
    events = []
    monitor.on_event = lambda e: events.append((e.kind, vfs.free // 4096 * 4096, monitor.rate))
    t = 0.0
    for free, step in zip(frees, steps):
        vfs.free = free
        monitor.look(round(t * NS))
        t += step
        assert monitor.rate >= rate_floor and math.isfinite(monitor.minutes)
    floored = False
    low = False
    for kind, free, rate in events:
        if kind == STORAGE_FLOOR:
            assert not floored and free <= reserve + rate * monitor.lead_s
            floored = low = True
        elif kind == STORAGE_RECOVERED:
            assert floored and free >= reserve + rate * 5 * 60
            floored = False
        else:
            assert kind == STORAGE_LOW and not floored and not low
            assert free - reserve <= rate * 10 * 60
            low = True
        if not floored and (free - reserve) / rate > 15 * 60:
            low = False


def test_a_store_at_the_floor_at_boot_says_so_at_once(tmp_path):
    vfs = FakeVfs()
    vfs.free = 60 * 2**20
    monitor = StorageMonitor(tmp_path, bytes_per_second=500_000, reserve_bytes=64 * 2**20, statvfs=vfs)
    events = []
    monitor.on_event = events.append
    monitor.tick(0)
    assert [e.kind for e in events] == [STORAGE_FLOOR] and monitor.floored
    assert events[0].detail.startswith("storage floor: 60.0 MiB free, 64 MiB reserve, 4.00 Mbit/s configured")
    monitor.tick(5 * NS)
    assert len(events) == 1, "once"
