"""The battery monitor: minutes of recording left, warnings at levels, critical at the end.

Every `interval_s` (5 s: a bq27xxx driver re-reads its chip at most every 5 s anyway) it
reads the battery (a `PowerSupply` from recorder/power, or anything with `read()`
returning such a reading) and estimates the recording time left:

  minutes left = what is left / what is drawn

in the gauge's own unit (docs/POWER.md): Wh over W when the gauge gives energy, Ah over A
when it gives charge (voltage cancels out), a percentage over its rate of fall when it
gives only a capacity.

**The draw** is the gauge's own power (or current) reading, averaged over the last
`window_s` (2 min) with a trimmed mean (the highest and lowest quarter dropped): a gauge's
power reading is averaged by the chip over its own sampling period and is there from the
first look, while energy and charge registers are quantised (1 mWh / 1 mAh; a capacity in
whole percent) and need many minutes before their slope resolves. Only when the gauge has
no power or current reading (a max17040: capacity and voltage only) does the draw come from
the slope of what is left: a least-squares line over the last `slope_window_s` (15 min)
of discharge, at least 5 min long, which is also what is left "now" (the line's value,
so a capacity in whole percent does not step the estimate).
  - A fresh battery (just booted): no time-based level is decided before MIN_SAMPLES
    readings (15 s) of draw; the gauge's own 0 % is critical at once.
  - A charger plugged in: the gauge's power is then the charge power, so nothing is added
    to the draw estimate and the slope restarts; the last discharge draw stays in use.
  - A noisy gauge: the trimmed mean ignores spikes either way; what is left is the median
    of the last three readings, so one wild reading (a glitch to 0) decides nothing, while
    a real step (a gauge recalibrating at the knee) counts from the second reading on.

**Levels** (minutes of recording left): warning (15), second warning (5), critical (2),
each reported once per discharge as BATTERY_LOW / BATTERY_CRITICAL, whose detail names the
level: "warning: 15 min of recording left (62 %, 7.4 Wh, 3.0 W)". A level passed over
(the estimate jumped) is not reported late: only the most severe level crossed is. The
gauge reporting 0 % while discharging is critical whatever the estimate. While a charger
holds the battery up nothing is reported, and each level reported is re-armed once the
time left (at the last discharge draw) is REARM_MINUTES above it.
"""

import logging
import math
import statistics
from collections import deque
from typing import NamedTuple

from .base import BATTERY_CRITICAL, BATTERY_LOW, Monitor

log = logging.getLogger(__name__)

NS = 1_000_000_000
MIN_SAMPLES = 3  # draw readings before a time-based level is decided
MIN_SLOPE_SPAN_S = 300.0  # a slope needs this much discharge before it is used
REARM_MINUTES = 3.0  # charged this far above a level re-arms it
TRIM = 0.25  # the trimmed mean drops this share (rounded up) at each end: an interquartile mean


class Level(NamedTuple):
    name: str  # as the detail says it: "warning", "second warning", "critical"
    minutes: float
    kind: str  # BATTERY_LOW or BATTERY_CRITICAL


def trimmed_mean(values) -> float:
    """The mean of the middle half: the highest and the lowest quarter (rounded up) dropped,
    so that wild values make no difference as long as they are at most a quarter of all
    (rounded up); the median for fewer than four values."""
    ordered = sorted(values)
    n = len(ordered)
    if n < 4:
        return statistics.median(ordered)
    cut = min(math.ceil(n * TRIM), (n - 1) // 2)
    kept = ordered[cut:n - cut]
    return sum(kept) / len(kept)


def least_squares(samples) -> tuple[float, float] | None:
    """(slope per second, value at the last sample's time) of a line through (t, y)."""
    n = len(samples)
    if n < 3:
        return None
    t0 = samples[-1][0]
    ts = [t - t0 for t, _ in samples]
    ys = [y for _, y in samples]
    mean_t, mean_y = sum(ts) / n, sum(ys) / n
    var = sum((t - mean_t) ** 2 for t in ts)
    if var <= 0:
        return None
    slope = sum((t - mean_t) * (y - mean_y) for t, y in zip(ts, ys)) / var
    return slope, mean_y - slope * mean_t


class BatteryMonitor(Monitor):
    name = "battery"

    def __init__(self, supply, *, warn_minutes: float = 15, second_warn_minutes: float = 5,
                 critical_minutes: float = 2, battery_wh: float | None = None, interval_s: float = 5.0,
                 window_s: float = 120.0, slope_window_s: float = 900.0):
        """supply: has read() -> recorder.power.supply.BatteryReading (or None: nothing yet, as
        a BackgroundSupply before its first reading), quick. second_warn_minutes 0:
        no second warning. battery_wh: the pack's energy for a gauge that gives only a
        percentage (then its power reading can be used)."""
        super().__init__()
        self.supply = supply
        levels = [Level("warning", warn_minutes, BATTERY_LOW)]
        if second_warn_minutes:
            levels.append(Level("second warning", second_warn_minutes, BATTERY_LOW))
        levels.append(Level("critical", critical_minutes, BATTERY_CRITICAL))
        if [lv.minutes for lv in levels] != sorted((lv.minutes for lv in levels), reverse=True):
            raise ValueError("battery levels must fall: warning > second warning > critical")
        self.levels = tuple(levels)
        self.battery_wh = battery_wh or None
        self.interval_ns = round(interval_s * NS)
        self.window_s, self.slope_window_s = window_s, slope_window_s
        self.fired: set[str] = set()  # levels reported and not re-armed
        self.minutes: float | None = None  # the latest estimate (None: not known yet)
        self.draw: float | None = None  # the latest draw estimate, per hour in `unit`
        self.draw_source: str | None = None  # "gauge" | "slope"
        self.remaining: float | None = None
        self.unit = ""
        self.reading = None  # the latest BatteryReading
        self._next_ns: int | None = None
        self._draws: deque = deque()  # (t_s, draw) while discharging
        self._slope: deque = deque()  # (t_s, remaining) of the current discharge
        self._recent: deque = deque(maxlen=3)  # (remaining, capacity) of the last readings
        self._noted: set[str] = set()  # problems logged once

    @classmethod
    def from_config(cls, supply, power) -> "BatteryMonitor":
        """From a recorder.config.PowerConfig."""
        return cls(supply, warn_minutes=power.warn_minutes, second_warn_minutes=power.second_warn_minutes,
                   critical_minutes=power.critical_minutes, battery_wh=power.battery_wh or None)

    # -- Monitor ----------------------------------------------------------------------------
    def next_deadline_ns(self) -> int | None:
        return None if self._closed else self._next_ns

    def tick(self, now_ns: int) -> None:
        if self._closed or (self._next_ns is not None and now_ns < self._next_ns):
            return
        self._next_ns = now_ns + self.interval_ns
        self.look(now_ns)

    # -- one look ---------------------------------------------------------------------------
    def look(self, now_ns: int) -> None:
        reading = self.supply.read()
        if reading is None:  # a supply read in the background has nothing yet
            return
        self.reading = reading
        if not reading.available or reading.present is False:
            self._note("gone", "battery %s is not there: nothing to watch", reading.directory)
            return
        remaining, draw, unit = reading.fuel(self.battery_wh)
        if remaining is None:
            self._note("no-fuel", "battery %s gives no energy, charge or capacity (unreadable: %s)",
                       reading.directory, ", ".join(reading.unreadable) or "none")
            return
        t = now_ns / NS
        if unit != self.unit:  # a different basis (a file came or went): start again
            self.unit = unit
            self._draws.clear()
            self._slope.clear()
            self._recent.clear()
            self.draw = self.draw_source = None
        external = reading.external_power
        self._recent.append((remaining, reading.capacity))
        if external:
            self._slope.clear()  # the slope of a charge says nothing of the draw
        else:
            if draw is not None and draw > 0:
                self._draws.append((t, draw))
            self._slope.append((t, remaining))
        while self._draws and self._draws[0][0] < t - self.window_s:
            self._draws.popleft()
        while self._slope and self._slope[0][0] < t - self.slope_window_s:
            self._slope.popleft()
        self.remaining = self._estimate(gauge_draws=draw is not None)
        self.minutes = self.remaining / self.draw * 60 if self.draw else None
        if external:
            self._rearm()
        else:
            self._decide(now_ns, reading)

    def _estimate(self, gauge_draws: bool) -> float:
        """Update the draw estimate; returns what is left now."""
        remaining_now = statistics.median(r for r, _ in self._recent)
        if len(self._draws) >= MIN_SAMPLES:
            self.draw, self.draw_source = trimmed_mean(d for _, d in self._draws), "gauge"
        elif not gauge_draws and len(self._slope) >= 3 and self._slope[-1][0] - self._slope[0][0] >= MIN_SLOPE_SPAN_S:
            fit = least_squares(self._slope)
            if fit is not None and fit[0] < 0:
                self.draw, self.draw_source = -fit[0] * 3600, "slope"
                remaining_now = max(fit[1], 0.0)
        # Otherwise (just booted, charging, a stalled gauge) the last estimate stands: None
        # until there has been one.
        return remaining_now

    def _decide(self, now_ns: int, reading) -> None:
        crossed = []
        if self.minutes is not None:
            crossed = [lv for lv in self.levels if self.minutes <= lv.minutes and lv.name not in self.fired]
        capacities = [c for _, c in self._recent if c is not None]
        empty = bool(capacities) and statistics.median(capacities) == 0
        critical = self.levels[-1]
        if empty and critical.name not in self.fired and critical not in crossed:
            crossed.append(critical)
        if not crossed:
            return
        level = crossed[-1]  # the most severe crossed; those before it are not reported late
        index = self.levels.index(level)
        self.fired.update(lv.name for lv in self.levels[: index + 1])
        detail = f"{level.name}: {self._describe(reading, empty and level is critical)}"
        log.warning("battery %s", detail)
        self.emit(level.kind, now_ns, detail)

    def _rearm(self) -> None:
        if self.minutes is None:
            return
        for level in self.levels:
            if level.name in self.fired and self.minutes >= level.minutes + REARM_MINUTES:
                self.fired.discard(level.name)
                log.info("battery: charged to %.0f min of recording: the %s level is armed again",
                         self.minutes, level.name)

    def _describe(self, reading, gauge_empty: bool) -> str:
        parts = []
        if reading.capacity is not None:
            parts.append(f"{reading.capacity * 100:.0f} %")
        if self.unit == "%":
            if self.draw:
                parts.append(f"falling {self.draw:.1f} %/h")
        else:
            parts.append(f"{self.remaining:.2f} {self.unit}" if self.unit == "Ah" else f"{self.remaining:.1f} Wh")
            if self.draw:
                parts.append(f"{self.draw:.2f} A" if self.unit == "Ah" else f"{self.draw:.1f} W")
        facts = f" ({', '.join(parts)})" if parts else ""
        if self.minutes is None:
            left = "recording time left unknown"
        else:
            left = f"{round(self.minutes)} min of recording left"
        if gauge_empty:
            return f"the gauge reports 0 %, {left}{facts}"
        return f"{left}{facts}"

    def _note(self, key: str, message: str, *args) -> None:
        if key not in self._noted:
            self._noted.add(key)
            log.warning(message, *args)
