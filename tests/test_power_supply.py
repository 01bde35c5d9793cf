"""Reading a battery through Linux's power_supply class (recorder/power/supply.py), from
directories shaped like the drivers of the gauges a Pi UPS HAT carries (docs/POWER.md):
the files each driver creates, in its units and with its sign conventions, and the
failures real drivers show (missing files, reads that fail with ENODATA/EINVAL/EIO on a
sysfs-like FUSE mount, nonsense values, a gauge that goes away)."""

import os

import pytest

from conftest import IN_CI
from recorder.config import PowerConfig
from recorder.clock import SimulatedClock
from recorder.power import BackgroundSupply, PowerSupply, SimulatedBattery, find_battery, open_power, resolve_supply

# bq27441-G1 (bq27421_props in drivers/power/supply/bq27xxx_battery.c): charge, no energy or
# power; current_now signed, negative while discharging (kernels since 2022).
BQ27441 = {
    "type": "Battery", "status": "Discharging", "present": "1", "voltage_now": "3712000",
    "current_now": "-812000", "capacity": "57", "capacity_level": "Normal", "temp": "268",
    "technology": "Li-ion", "charge_full": "2950000", "charge_now": "1681000",
    "charge_full_design": "3000000", "manufacturer": "Texas Instruments",
}
# bq27520-G3 (bq27520g3_props): energy_now and power_avg as well, time_to_empty_now.
BQ27520 = {
    "type": "Battery", "status": "Discharging", "present": "1", "voltage_now": "3801000",
    "current_now": "-790000", "capacity": "62", "capacity_level": "Normal", "temp": "301",
    "time_to_empty_now": "8880", "technology": "Li-ion", "charge_full": "3100000", "charge_now": "1922000",
    "charge_full_design": "3200000", "cycle_count": "41", "energy_now": "7400000", "power_avg": "-3002000",
    "health": "Good", "manufacturer": "Texas Instruments",
}
# An INA219 UPS HAT behind a driver that exposes power_supply: what the shunt monitor
# measures (bus voltage, current, power; 2 cells in series) and a capacity the driver
# computes from the voltage. No energy, no charge.
INA219_HAT = {
    "type": "Battery", "status": "Discharging", "present": "1", "voltage_now": "7420000",
    "current_now": "-405000", "power_now": "3005000", "capacity": "64",
}
# MAX17043/MAX17048 (max17040_battery.c): capacity and voltage only; `online` says a charger is there.
MAX17048 = {"type": "Battery", "status": "Charging", "online": "1", "voltage_now": "4012000",
            "capacity": "83", "capacity_alert_min": "4"}
# An ACPI battery (a laptop running the simulated body): energy, power positive while discharging.
ACPI = {"type": "Battery", "status": "Discharging", "present": "1", "technology": "Li-ion",
        "voltage_now": "11910000", "power_now": "8120000", "energy_full_design": "57000000",
        "energy_full": "50320000", "energy_now": "30150000", "capacity": "59", "capacity_level": "Normal",
        "model_name": "5B10W13975", "scope": "System"}


def make_supply(directory, files: dict):
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in files.items():
        (directory / name).write_text(value + "\n")
    return directory


def test_a_bq27441_gives_charge_over_current(tmp_path):
    r = PowerSupply(make_supply(tmp_path / "bq27441-0", BQ27441)).read()
    assert (r.type, r.status, r.present) == ("Battery", "Discharging", True)
    assert r.capacity == pytest.approx(0.57) and r.voltage_v == pytest.approx(3.712)
    assert r.current_a == pytest.approx(0.812), "a magnitude: the sign is the driver's convention"
    assert (r.charge_ah, r.charge_full_ah) == (pytest.approx(1.681), pytest.approx(2.95))
    assert r.energy_wh is None and r.power_w is None
    remaining, draw, unit = r.fuel()
    assert unit == "Ah" and remaining == pytest.approx(1.681) and draw == pytest.approx(0.812)
    assert remaining / draw * 60 == pytest.approx(124.2, abs=0.1), "minutes: charge over current"
    assert not r.external_power and r.unreadable == ()


def test_a_bq27520_gives_energy_over_its_average_power(tmp_path):
    r = PowerSupply(make_supply(tmp_path / "bq27520-0", BQ27520)).read()
    remaining, draw, unit = r.fuel()
    assert unit == "Wh" and remaining == pytest.approx(7.4) and draw == pytest.approx(3.002)
    assert r.time_to_empty_s == 8880.0  # read, for the record; the monitor makes its own estimate


def test_an_ina219_hat_gives_power_and_a_voltage_capacity(tmp_path):
    r = PowerSupply(make_supply(tmp_path / "ups", INA219_HAT)).read()
    assert r.draw_w == pytest.approx(3.005) and r.capacity == pytest.approx(0.64)
    assert r.fuel() == (pytest.approx(64.0), None, "%"), "a percentage only: its fall gives the draw"
    assert r.fuel(battery_wh=18.5) == (pytest.approx(0.64 * 18.5), pytest.approx(3.005), "Wh"), \
        "told the pack's energy ([power] battery_wh), the measured power is used"


def test_a_max17048_gives_capacity_and_voltage_only(tmp_path):
    r = PowerSupply(make_supply(tmp_path / "max17048", MAX17048)).read()
    assert r.online is True and r.external_power
    assert r.draw_w is None and r.fuel() == (pytest.approx(83.0), None, "%")


def test_an_acpi_battery_reports_power_positive_while_discharging(tmp_path):
    r = PowerSupply(make_supply(tmp_path / "BAT0", ACPI)).read()
    assert r.power_w == pytest.approx(8.12) and r.energy_full_wh == pytest.approx(50.32)
    assert r.fuel()[:2] == (pytest.approx(30.15), pytest.approx(8.12))


def test_missing_files_are_none_and_nonsense_is_dropped(tmp_path):
    files = dict(BQ27520, voltage_now="0", capacity="104", energy_now="-1", power_avg="n/a", charge_now="")
    del files["current_now"]
    r = PowerSupply(make_supply(tmp_path / "odd", files)).read()
    assert r.voltage_v is None, "0 µV: the driver does not know"
    assert r.capacity == 1.0, "a gauge calibrating past 100 % is clamped"
    assert r.energy_wh is None and r.charge_ah is None and r.current_a is None and r.power_w is None
    assert set(r.unreadable) == {"power_avg", "charge_now"}
    assert r.fuel() == (pytest.approx(1.0 * 3.1), None, "Ah"), "falls back to capacity × full charge"


def test_a_gauge_that_went_away(tmp_path):
    directory = make_supply(tmp_path / "gone", BQ27441)
    supply = PowerSupply(directory)
    assert supply.read().available
    os.rename(directory, tmp_path / "elsewhere")  # a HAT pulled off: the directory vanishes
    r = supply.read()
    assert not r.available and r.fuel() == (None, None, "")


def test_an_attribute_that_is_not_a_file_is_unreadable(tmp_path):
    directory = make_supply(tmp_path / "weird", BQ27441)
    os.remove(directory / "current_now")
    (directory / "current_now").mkdir()  # reads fail (EISDIR)
    r = PowerSupply(directory).read()
    assert r.current_a is None and r.unreadable == ("current_now",)


def test_reads_that_fail_in_the_driver(tmp_path):
    """On a sysfs-like FUSE mount: each attribute is read afresh, and the driver's errors
    (ENODATA, EINVAL, EIO, EAGAIN, ENODEV) come back from read(2) as they do from sysfs."""
    from support import sysfs_fs

    reason = sysfs_fs.missing_requirement()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason}: required in CI (make test installs it)")
        pytest.skip(reason)
    backing = make_supply(tmp_path / "backing", BQ27520)
    with sysfs_fs.mounted(backing, tmp_path / "sys"):
        supply = PowerSupply(tmp_path / "sys")
        assert supply.read().energy_wh == pytest.approx(7.4)
        for name, error in (("current_now", "ENODATA"), ("power_avg", "EINVAL"), ("energy_now", "EIO"),
                            ("capacity", "EAGAIN"), ("status", "ENODEV")):
            (backing / name).write_text(f"!{error}\n")
        r = supply.read()
        assert set(r.unreadable) == {"current_now", "power_avg", "energy_now", "capacity", "status"}
        assert r.current_a is None and r.power_w is None and r.energy_wh is None and r.capacity is None
        assert r.status is None and not r.external_power
        assert r.fuel() == (pytest.approx(1.922), None, "Ah"), "what is left still comes from the charge"
        (backing / "energy_now").write_text("7350000\n")  # the gauge answers again
        assert supply.read().energy_wh == pytest.approx(7.35)


def test_find_battery_takes_the_first_system_battery(tmp_path):
    root = tmp_path / "power_supply"
    make_supply(root / "AC", {"type": "Mains", "online": "1"})
    make_supply(root / "hid-mouse-battery", {"type": "Battery", "scope": "Device", "capacity": "40"})
    make_supply(root / "BAT9", dict(BQ27441, present="0"))
    assert find_battery(root) is None, "a mouse's battery, or one marked absent, is not the device's"
    make_supply(root / "bq27441-0", BQ27441)
    assert find_battery(root) == root / "bq27441-0"
    assert find_battery(tmp_path / "nothing") is None
    assert resolve_supply("auto", root) == root / "bq27441-0"
    assert resolve_supply("", root) is None, "no battery: mains powered"
    assert resolve_supply("BAT0", root) == root / "BAT0"
    assert resolve_supply("/dev/shm/x", root).as_posix() == "/dev/shm/x"


def test_open_power(tmp_path):
    clock = SimulatedClock()
    none = open_power(PowerConfig(supply=""), clock, root=tmp_path)
    assert none.supply is None and none.participants == [] and "mains" in none.description
    assert open_power(PowerConfig(), clock, root=tmp_path).supply is None, "auto, and no battery there"
    make_supply(tmp_path / "BAT0", ACPI)
    real = open_power(PowerConfig(), clock, root=tmp_path)
    assert isinstance(real.supply, BackgroundSupply) and real.supply.directory == tmp_path / "BAT0"
    real.close()
    real.close()
    assert real.supply.closed
    sim = open_power(PowerConfig(supply="simulated", simulated_wh=5, simulated_level=0.5), clock,
                     directory=tmp_path / "sim")
    assert isinstance(sim.participants[0], SimulatedBattery)
    r = sim.supply.read()
    assert r.energy_full_wh == pytest.approx(5.0, abs=0.001) and r.capacity == 0.5
    sim.close()
    assert sim.battery.closed
