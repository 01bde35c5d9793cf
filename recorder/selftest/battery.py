"""The battery [power] supply names, read through the agent's own power_supply reader
(recorder/power): present, readable, and its charge.

FAIL when a configured gauge cannot be read or says no battery is present; WARN below
LOW_CHARGE (charge it before it is issued) or when `auto` finds no gauge on a device (a
body-worn camera has one: its overlay may be missing, hw/config.txt); SKIP on mains power
(supply = "").
"""

import time

from ..power import open_power
from .results import FAIL, PASS, SKIP, WARN, Result, Text

LOW_CHARGE = 0.5  # a device issued for a shift starts at least half charged
FIRST_READING_S = 2.0  # a gauge read on its own thread gives its first reading in this time


def check_battery(power, clock, simulated: bool) -> Result:
    source = open_power(power, clock)
    what = source.description.removeprefix("battery: ")
    try:
        if source.supply is None:
            if power.supply == "" or simulated:
                return Result("battery", SKIP, Text(f"无电池（{what}）", f"no battery ({what})"))
            return Result("battery", WARN, Text(f"没找到电池电量计（{what}）", f"no fuel gauge found ({what})"),
                          Text("检查电源板和它的 overlay（hw/config.txt）", "check the UPS HAT and its overlay "
                               "(hw/config.txt)"))
        reading = _first_reading(source.supply)
    finally:
        source.close()
    if reading is None or not reading.available or reading.present is False:
        return Result("battery", FAIL, Text(f"读不到电池（{what}）", f"the battery cannot be read ({what})"),
                      Text("检查电池和电量计连线", "check the battery and the fuel gauge's wiring"))
    level = reading.capacity
    measured = {"capacity": level, "voltage_v": reading.voltage_v, "status": reading.status}
    if level is None:
        return Result("battery", WARN, Text(f"电量计不报电量（{what}）", f"the gauge gives no charge level ({what})"),
                      Text("确认电量计驱动（docs/POWER.md）", "check the gauge's driver (docs/POWER.md)"), measured)
    seen = Text(f"电量 {level:.0%}，{reading.status or '状态未知'}", f"charge {level:.0%}, {reading.status or 'status unknown'}")
    if level < LOW_CHARGE:
        return Result("battery", WARN, seen, Text(f"低于 {LOW_CHARGE:.0%}：发放前充电", f"below {LOW_CHARGE:.0%}: "
                                                  "charge it before it is issued"), measured)
    return Result("battery", PASS, seen, measured=measured)


def _first_reading(supply):
    deadline = time.monotonic() + FIRST_READING_S
    reading = supply.read()
    while reading is None and time.monotonic() < deadline:
        time.sleep(0.05)
        reading = supply.read()
    return reading
