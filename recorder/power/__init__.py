"""Power: the battery as Linux's power_supply class shows it (`supply`), and a simulated
battery that writes such a directory on the agent's clock (`simulated`).

What the readings mean for the officer (minutes of recording left, warnings, the
critical level) is decided by the battery monitor (recorder/monitors/battery.py), which
the agent gives a `PowerSupply`; `open_power` turns `[power] supply` into one.
"""

import logging
import os
import tempfile
from pathlib import Path

from .simulated import SimulatedBattery
from .supply import SYSFS_POWER_SUPPLY, BackgroundSupply, BatteryReading, PowerSupply, find_battery, resolve_supply

__all__ = ["SYSFS_POWER_SUPPLY", "BackgroundSupply", "BatteryReading", "PowerSupply", "PowerSource", "SimulatedBattery",
           "find_battery", "open_power", "resolve_supply"]

log = logging.getLogger(__name__)


class PowerSource:
    """`[power] supply`, opened: the battery to read (None: none, the device runs on mains),
    the loop participants it needs (a simulated battery), and what it is, for the log."""

    def __init__(self, supply, description: str, battery: SimulatedBattery | None = None):
        self.supply, self.description, self.battery = supply, description, battery

    @property
    def participants(self) -> list:
        return [self.battery] if self.battery is not None else []

    def close(self) -> None:
        """Idempotent."""
        if self.battery is not None:
            self.battery.close()
        if isinstance(self.supply, BackgroundSupply):
            self.supply.close()


SHM = Path("/dev/shm")


def _simulated_directory() -> Path:
    """A new directory for a simulated battery's files: on /dev/shm (tmpfs: its files are
    rewritten every few seconds) where there is one, else in the temporary directory. It is
    left there when the run ends (a few hundred bytes)."""
    base = str(SHM) if SHM.is_dir() and os.access(SHM, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="recorder-battery-", dir=base))


def open_power(power, clock, root=SYSFS_POWER_SUPPLY, directory=None) -> PowerSource:
    """power: a recorder.config.PowerConfig. A real gauge is read on a thread of its own
    (BackgroundSupply: a stuck I²C bus never holds the run loop); the simulated battery is
    read in the loop, in step with the agent's clock, and writes its files under `directory`
    (default: a new directory, see _simulated_directory). Close the PowerSource at the end."""
    if power.supply == "simulated":
        where = Path(directory) if directory is not None else _simulated_directory()
        battery = SimulatedBattery(where, clock, capacity_wh=power.simulated_wh, draw_w=power.simulated_draw_w,
                                   level=power.simulated_level)
        return PowerSource(PowerSupply(where), f"battery: simulated ({power.simulated_wh:g} Wh, "
                           f"{power.simulated_draw_w:g} W, {power.simulated_level:.0%} at start; {where})", battery)
    path = resolve_supply(power.supply, root)
    if path is None:
        why = "none configured (mains powered)" if power.supply == "" else f"no battery found under {root}"
        return PowerSource(None, f"battery: {why}")
    if not path.is_dir():
        log.warning("power.supply = %r: %s is not there", power.supply, path)
    return PowerSource(BackgroundSupply(PowerSupply(path)), f"battery: {path}")
