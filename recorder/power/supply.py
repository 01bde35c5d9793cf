"""A battery as Linux shows it: one directory of the `power_supply` class.

`/sys/class/power_supply/<name>/` holds one small file per property, each a single value
in fixed units (include/linux/power_supply.h: µV, µA, µW, µAh, µWh, seconds, percent):

  type            Battery | Mains | USB | UPS …          (a battery's directory says Battery)
  status          Charging | Discharging | Full | Not charging | Unknown
  present         1 / 0       online   1 / 0 (on some gauges: a charger is connected)
  capacity        state of charge, percent (0..100; the gauge's own estimate)
  voltage_now     µV          current_now / current_avg   µA
  power_now / power_avg       µW
  energy_now / energy_full / energy_full_design           µWh
  charge_now / charge_full / charge_full_design           µAh
  time_to_empty_now           s (a few gauges; read for the record, not trusted)
  scope           System | Device (Device: a peripheral's battery, a mouse's; never ours)

Which of these exist depends on the driver (docs/POWER.md lists the gauges of Pi UPS
HATs). Real drivers are untidy, and `read()` copes:
  - a property the chip lacks has no file: None;
  - a file that exists may fail to read (EINVAL, ENODATA, EIO, EAGAIN while the gauge is
    busy or the I²C bus glitched): None, and its name goes into `unreadable`;
  - the sign of current_now / power_now while discharging differs between drivers (the ABI
    says negative; ACPI batteries and older bq27xxx kernels report positive): magnitudes
    are used, the direction comes from `status`;
  - nonsense values (a negative energy, 0 µV, a capacity of 104 % while calibrating) are
    dropped or clamped; values that jump are left to the monitor's robust estimate.
"""

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SYSFS_POWER_SUPPLY = Path("/sys/class/power_supply")
BATTERY = "Battery"

# status values (drivers/power/supply/power_supply_sysfs.c)
CHARGING, DISCHARGING, FULL, NOT_CHARGING, UNKNOWN = "Charging", "Discharging", "Full", "Not charging", "Unknown"
EXTERNAL_POWER = frozenset({CHARGING, FULL, NOT_CHARGING})  # a charger holds the battery up

TEXT_ATTRIBUTES = ("type", "status", "capacity_level", "scope", "technology", "model_name")
NUMBER_ATTRIBUTES = (
    "present", "online", "capacity", "voltage_now", "current_now", "current_avg", "power_now", "power_avg",
    "energy_now", "energy_full", "energy_full_design", "charge_now", "charge_full", "charge_full_design",
    "time_to_empty_now",
)
ATTRIBUTES = TEXT_ATTRIBUTES + NUMBER_ATTRIBUTES


@dataclass(frozen=True)
class BatteryReading:
    """One look at a power_supply directory, in SI units (V, A, W, Wh, Ah, s; capacity as a
    fraction 0..1). Anything the driver does not give, or that could not be read, is None."""

    directory: str
    available: bool = True  # the directory is there (a gauge on a HAT that came off: False)
    type: str | None = None
    status: str | None = None
    present: bool | None = None
    online: bool | None = None
    capacity: float | None = None
    capacity_level: str | None = None
    voltage_v: float | None = None
    current_a: float | None = None  # magnitude
    power_w: float | None = None  # magnitude
    energy_wh: float | None = None
    energy_full_wh: float | None = None
    charge_ah: float | None = None
    charge_full_ah: float | None = None
    time_to_empty_s: float | None = None
    unreadable: tuple[str, ...] = field(default=())  # files that exist but failed to read

    @property
    def external_power(self) -> bool:
        """A charger holds the battery up (charging, full, or connected and not charging)."""
        if self.status in EXTERNAL_POWER:
            return True
        return self.status in (None, UNKNOWN) and self.online is True

    @property
    def draw_w(self) -> float | None:
        """What the battery delivers, in W (power, or current × voltage)."""
        if self.power_w is not None:
            return self.power_w
        if self.current_a is not None and self.voltage_v is not None:
            return self.current_a * self.voltage_v
        return None

    def fuel(self, battery_wh: float | None = None) -> tuple[float | None, float | None, str]:
        """(remaining, draw, unit): what is left and what is drawn, in one unit, so that
        remaining / draw is a time in hours. "Wh"/W when the gauge gives energy (or a
        capacity and a full energy), "Ah"/A when it gives charge (voltage cancels out: the
        estimate is charge over current), "%"/None when it gives only a capacity (the draw
        then comes from how fast the capacity falls). battery_wh: the pack's energy when
        the gauge does not say (a capacity-only gauge that measures power, an INA219 HAT)."""
        if self.energy_wh is not None:
            return self.energy_wh, self.draw_w, "Wh"
        if self.charge_ah is not None:
            draw = self.current_a
            if draw is None and self.power_w is not None and self.voltage_v:
                draw = self.power_w / self.voltage_v
            return self.charge_ah, draw, "Ah"
        if self.capacity is not None:
            full_wh = self.energy_full_wh or battery_wh
            if full_wh:
                return self.capacity * full_wh, self.draw_w, "Wh"
            if self.charge_full_ah:
                draw = self.current_a
                if draw is None and self.power_w is not None and self.voltage_v:
                    draw = self.power_w / self.voltage_v
                return self.capacity * self.charge_full_ah, draw, "Ah"
            return self.capacity * 100.0, None, "%"
        return None, None, ""


class PowerSupply:
    """Reads one power_supply directory (a battery's) on demand; nothing is cached."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.name = self.directory.name

    def __repr__(self):
        return f"PowerSupply({str(self.directory)!r})"

    def read(self) -> BatteryReading:
        try:
            present = set(os.listdir(self.directory))
        except OSError:  # gone (a HAT unplugged, a driver unbound) or never there
            return BatteryReading(str(self.directory), available=False)
        unreadable = []
        values = {}
        for name in ATTRIBUTES:
            if name not in present:
                continue
            text = _read_attribute(os.path.join(self.directory, name), name, unreadable)
            if text is None:
                continue
            if name in TEXT_ATTRIBUTES:
                values[name] = text
                continue
            try:
                values[name] = int(text)
            except ValueError:
                unreadable.append(name)
        return _reading(str(self.directory), values, tuple(unreadable))


class BackgroundSupply:
    """A supply read on a thread of its own, every `interval_s` of real time, so that a read
    that blocks never holds the run loop: on a stuck I²C bus each attribute of a gauge may
    wait for the bus's timeout. `read()` returns at once the latest complete reading, or
    None before the first. The thread is a daemon: it holds no work that must finish, and a
    read stuck in the kernel must not keep the process from exiting."""

    def __init__(self, supply, interval_s: float = 5.0):
        self.supply = supply
        self.directory = getattr(supply, "directory", None)
        self.interval_s = interval_s
        self._latest: BatteryReading | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"power-supply {self.directory}", daemon=True)
        self._thread.start()

    def __repr__(self):
        return f"BackgroundSupply({self.supply!r})"

    def read(self) -> BatteryReading | None:
        return self._latest

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._latest = self.supply.read()
            except Exception:  # never expected (read() catches OSError); keep the last reading
                log.exception("reading %s failed", self.directory)
            self._stop.wait(self.interval_s)

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Stop reading (the thread ends after the read in progress, if any). Idempotent."""
        self._stop.set()


def _read_attribute(path: str, name: str, unreadable: list) -> str | None:
    """One attribute's text; None (and its name in `unreadable`) when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, 256)
        finally:
            os.close(fd)
    except FileNotFoundError:  # went away between the listing and the read
        return None
    except OSError:  # EINVAL, ENODATA, EIO, EAGAIN, EACCES: the file exists, the value does not
        unreadable.append(name)
        return None
    text = data.decode("ascii", "replace").strip()
    if not text:
        unreadable.append(name)
        return None
    return text


def _positive(value, scale) -> float | None:
    """A quantity that must be > 0 (a full energy, a voltage): None otherwise."""
    if value is None or value <= 0:
        return None
    return value / scale


def _non_negative(value, scale) -> float | None:
    if value is None or value < 0:
        return None
    return value / scale


def _magnitude(value, scale) -> float | None:
    return None if value is None else abs(value) / scale


def _flag(value) -> bool | None:
    return None if value is None else value != 0


def _reading(directory: str, v: dict, unreadable: tuple) -> BatteryReading:
    capacity = v.get("capacity")
    if capacity is not None:
        capacity = min(max(capacity, 0), 100) / 100.0
    current = v.get("current_now", v.get("current_avg"))
    power = v.get("power_now", v.get("power_avg"))
    time_to_empty = v.get("time_to_empty_now")
    return BatteryReading(
        directory=directory,
        type=v.get("type"),
        status=v.get("status"),
        present=_flag(v.get("present")),
        online=_flag(v.get("online")),
        capacity=capacity,
        capacity_level=v.get("capacity_level"),
        voltage_v=_positive(v.get("voltage_now"), 1e6),
        current_a=_magnitude(current, 1e6),
        power_w=_magnitude(power, 1e6),
        energy_wh=_non_negative(v.get("energy_now"), 1e6),
        energy_full_wh=_positive(v.get("energy_full", v.get("energy_full_design")), 1e6),
        charge_ah=_non_negative(v.get("charge_now"), 1e6),
        charge_full_ah=_positive(v.get("charge_full", v.get("charge_full_design")), 1e6),
        time_to_empty_s=float(time_to_empty) if time_to_empty is not None and time_to_empty > 0 else None,
        unreadable=unreadable,
    )


def _text(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(256).decode("ascii", "replace").strip()
    except OSError:
        return None


def find_battery(root=SYSFS_POWER_SUPPLY) -> Path | None:
    """The first battery of the system under `root` (by name): `type` Battery, not the
    battery of a peripheral (`scope` Device: a wireless mouse's), not marked absent."""
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return None
    for name in entries:
        directory = Path(root) / name
        if _text(directory / "type") != BATTERY:
            continue
        if _text(directory / "scope") == "Device":
            continue
        if _text(directory / "present") == "0":
            continue
        return directory
    return None


def resolve_supply(setting: str, root=SYSFS_POWER_SUPPLY) -> Path | None:
    """The battery directory `[power] supply` names: "auto" (find_battery), "" (none: the
    device runs on mains), a name under root ("BAT0", "bq27441-0") or a path. None when
    there is no battery to watch (for "auto", also when none was found)."""
    if setting == "":
        return None
    if setting == "auto":
        return find_battery(root)
    path = Path(setting)
    return path if path.is_absolute() else Path(root) / setting
