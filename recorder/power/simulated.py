"""A simulated battery: a power_supply directory that discharges on the agent's clock.

The simulated body has no battery, so this one writes the files a fuel-gauge driver
would (supply.py reads them back: the sysfs code path is the one tested). It is a
loop participant (`next_deadline_ns`/`tick`): every `update_s` of the agent's clock it
moves its state forward and rewrites the files, so on a SimulatedClock an 8-hour
discharge runs in seconds, and on the system clock it drains in real time.

The model, per cell: an open-circuit voltage that follows a Li-ion curve of the state
of charge (OCV below, steep under 10 %), a series resistance, and a load that draws
constant *power* (the Pi's regulators do), so the current rises as the voltage falls.
What is left is the usable charge; the energy the gauge reports is the integral of the
curve over it. The load is `draw_w` (a number, or a function of the monotonic time in
ns). A charger (`plug()`) of `charger_w` feeds the load first and charges the battery
with what is left, up to `charge_limit_w`, tapering above 80 % (constant voltage);
`status` is Charging, Full, Not charging or Discharging as a bq27xxx reports it.

`layout` picks which files exist, as real gauges differ (docs/POWER.md):
  "energy"    energy_now/full (µWh), power_now, current_now, voltage_now, capacity
  "charge"    charge_now/full (µAh), current_now, voltage_now, capacity  (bq27441-like)
  "capacity"  capacity, voltage_now, online                             (max17040-like)
`noise` (a fraction) jitters the power and current the gauge reports, never the truth.
`emptied_at_ns` is when the usable charge ran out: the truth a test measures against.

These are files of a simulated device in a directory of their own, rewritten in place
as a driver's attributes change; nothing here touches the store.
"""

import random
from pathlib import Path

from .supply import CHARGING, DISCHARGING, FULL, NOT_CHARGING

# Open-circuit voltage of one Li-ion cell against its state of charge (a typical 18650 /
# LiPo curve: the knee under 10 % is what makes the last minutes short).
OCV = (
    (0.00, 3.00), (0.02, 3.30), (0.05, 3.50), (0.10, 3.60), (0.20, 3.68), (0.30, 3.72), (0.40, 3.76),
    (0.50, 3.80), (0.60, 3.85), (0.70, 3.92), (0.80, 4.00), (0.90, 4.08), (1.00, 4.18),
)
LAYOUTS = ("energy", "charge", "capacity")
NS = 1_000_000_000


def ocv(soc: float) -> float:
    """Open-circuit voltage of one cell at this state of charge (linear between points)."""
    soc = min(max(soc, 0.0), 1.0)
    for (s0, v0), (s1, v1) in zip(OCV, OCV[1:]):
        if soc <= s1:
            return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)
    return OCV[-1][1]


def energy_integral(soc: float) -> float:
    """∫₀^soc OCV(s) ds for one cell: energy per Ah of full charge, in Wh/Ah."""
    soc = min(max(soc, 0.0), 1.0)
    total = 0.0
    for (s0, v0), (s1, v1) in zip(OCV, OCV[1:]):
        if soc <= s0:
            break
        end = min(soc, s1)
        v_end = v0 + (v1 - v0) * (end - s0) / (s1 - s0)
        total += (end - s0) * (v0 + v_end) / 2
    return total


def _micro(value: float) -> str:
    """A value in milli-units as the driver writes it, in micro-units."""
    return str(round(value * 1000) * 1000)


class SimulatedBattery:
    def __init__(self, directory, clock, capacity_wh: float = 24.0, draw_w=3.0, level: float = 1.0,
                 cells: int = 1, layout: str = "energy", charger_w: float = 10.0,
                 charge_limit_w: float | None = None, noise: float = 0.0, seed: int = 0,
                 update_s: float = 5.0, resistance_ohm: float = 0.05, discharge_sign: int = -1,
                 name: str = "sim-battery"):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        if capacity_wh <= 0 or not 0.0 <= level <= 1.0 or cells < 1 or update_s <= 0:
            raise ValueError("capacity_wh > 0, 0 <= level <= 1, cells >= 1 and update_s > 0")
        self.directory = Path(directory)
        self.clock = clock
        self.capacity_wh = capacity_wh
        self.draw = draw_w if callable(draw_w) else (lambda _now_ns, w=float(draw_w): w)
        self.cells = cells
        self.layout = layout
        self.charger_w = charger_w
        self.charge_limit_w = charge_limit_w if charge_limit_w is not None else capacity_wh * 0.5  # 0.5 C
        self.noise = noise
        self.random = random.Random(seed)
        self.update_ns = round(update_s * NS)
        self.resistance = resistance_ohm * cells
        self.discharge_sign = -1 if discharge_sign < 0 else 1
        self.name = name
        # Full charge in Ah so that the energy from full to empty is capacity_wh.
        self.full_ah = capacity_wh / (cells * energy_integral(1.0))
        self.soc = level
        self.plugged = False
        self.status = DISCHARGING
        self.voltage_v = self._open_circuit()
        self.current_a = 0.0  # > 0 out of the battery, < 0 into it
        self.emptied_at_ns: int | None = None if level > 0 else clock.monotonic_ns()
        self._t = clock.monotonic_ns()
        self._written: dict[str, str] = {}
        self._closed = False
        self.directory.mkdir(parents=True, exist_ok=True)
        self._step(0.0)
        self._write()

    def __repr__(self):
        return f"SimulatedBattery({str(self.directory)!r}, {self.energy_wh:.2f} Wh, {self.status})"

    # -- the truth -------------------------------------------------------------------------
    @property
    def energy_wh(self) -> float:
        """Energy left (open-circuit), in Wh."""
        return self.cells * self.full_ah * energy_integral(self.soc)

    @property
    def charge_ah(self) -> float:
        return self.soc * self.full_ah

    def _open_circuit(self) -> float:
        return self.cells * ocv(self.soc)

    # -- the charger ------------------------------------------------------------------------
    def plug(self, charger_w: float | None = None):
        """Connect a charger (from the clock's present time on)."""
        self.advance(self.clock.monotonic_ns())
        if charger_w is not None:
            self.charger_w = charger_w
        self.plugged = True
        self._step(0.0)
        self._write()

    def unplug(self):
        self.advance(self.clock.monotonic_ns())
        self.plugged = False
        self._step(0.0)
        self._write()

    # -- loop participant -------------------------------------------------------------------
    def next_deadline_ns(self) -> int | None:
        return None if self._closed else self._t + self.update_ns

    def tick(self, now_ns: int) -> None:
        if not self._closed and now_ns >= self._t + self.update_ns:
            self.advance(now_ns)

    def advance(self, now_ns: int) -> None:
        """Move the battery to now_ns (in steps of at most update_s) and rewrite its files."""
        if now_ns <= self._t:
            return
        while self._t < now_ns:
            step_ns = min(self.update_ns, now_ns - self._t)
            self._step(step_ns / NS)
            self._t += step_ns
        self._write()

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the model --------------------------------------------------------------------------
    def _battery_power(self, load_w: float) -> float:
        """Power out of the battery (W; negative: into it) and the status it gives."""
        if not self.plugged:
            self.status = DISCHARGING
            return load_w
        spare = self.charger_w - load_w
        if spare < 0:  # a charger too weak for the load: the battery makes up the rest
            self.status = DISCHARGING
            return -spare
        if self.soc >= 0.999:
            self.status = FULL
            return 0.0
        taper = 1.0 if self.soc < 0.8 else max((1.0 - self.soc) / 0.2, 0.02)
        charge = min(spare, self.charge_limit_w * taper)
        self.status = CHARGING if charge > 0 else NOT_CHARGING
        return -charge

    def _step(self, dt_s: float) -> None:
        start_t = self._t
        load = max(self.draw(start_t), 0.0)
        power = self._battery_power(load)
        voc = self._open_circuit()
        r = self.resistance
        if r <= 0:
            current = power / voc
        elif power >= 0:  # out of the battery: V = Voc - I R and P = V I
            disc = voc * voc - 4 * r * power
            current = (voc - disc ** 0.5) / (2 * r) if disc > 0 else voc / (2 * r)
        else:  # into it: V = Voc + I R
            current = -(-voc + (voc * voc - 4 * r * power) ** 0.5) / (2 * r)
        self.current_a = current
        self.voltage_v = max(voc - current * r, 0.0)
        if dt_s <= 0:
            return
        dsoc = current * dt_s / 3600 / self.full_ah  # > 0 while discharging
        if dsoc > 0 and dsoc >= self.soc:  # runs out within this step
            if self.soc > 0 and self.emptied_at_ns is None:
                self.emptied_at_ns = start_t + round(self.soc / dsoc * dt_s * NS)
            self.soc = 0.0
        else:
            self.soc = min(self.soc - dsoc, 1.0)
            if dsoc < 0:
                self.emptied_at_ns = None  # charged again

    # -- the files --------------------------------------------------------------------------
    def _jitter(self) -> float:
        return 1.0 + self.random.uniform(-self.noise, self.noise) if self.noise else 1.0

    def _files(self) -> dict[str, str]:
        """The attributes, at a fuel gauge's resolution (mV, mA, mW, mWh, mAh: a bq27xxx's
        registers, which the driver scales to µV, µA, µW, µWh, µAh)."""
        empty = self.soc <= 0 and not self.plugged
        capacity = min(max(round(self.soc * 100), 0), 100)
        sign = self.discharge_sign if self.current_a >= 0 else -self.discharge_sign
        current = 0.0 if empty else abs(self.current_a) * self._jitter()
        files = {
            "type": "Battery",
            "status": self.status,
            "voltage_now": _micro(self.voltage_v),
            "capacity": str(capacity),
        }
        if self.layout == "capacity":
            files["online"] = "1" if self.plugged else "0"
            return files
        files.update({
            "present": "1",
            "technology": "Li-ion",
            "capacity_level": ("Full" if self.status == FULL else "Critical" if capacity <= 1
                               else "Low" if capacity <= 10 else "High" if capacity >= 80 else "Normal"),
            "current_now": _micro(sign * current),
        })
        if self.layout == "energy":
            files.update({
                "power_now": _micro(sign * current * self.voltage_v),
                "energy_now": _micro(self.energy_wh),
                "energy_full": _micro(self.cells * self.full_ah * energy_integral(1.0)),
                "energy_full_design": _micro(self.capacity_wh),
            })
        else:
            files.update({
                "charge_now": _micro(self.charge_ah),
                "charge_full": _micro(self.full_ah),
                "charge_full_design": _micro(self.full_ah),
            })
        return files

    def _write(self) -> None:
        for name, text in self._files().items():
            if self._written.get(name) != text:
                with open(self.directory / name, "w") as f:
                    f.write(text + "\n")
                self._written[name] = text
