"""The one clock every part of the agent reads.

All timing goes through a Clock so that long scenarios can run on simulated
time in tests (`SimulatedClock`) while the device uses the real monotonic clock
(`SystemClock`). Media timestamps are monotonic and nothing ever bends them. Wall
time (UTC) is derived from monotonic time through a `TimeMapping` — an offset, the
source it came from (gnss+pps, gnss, ntp, rtc, none) and an error bound — because
evidence must state how far its wall times can be trusted (docs/TIME.md).

The clock keeps the mappings it has used, so a moment is always placed with the
mapping that held at that moment (a segment that straddles a wall-clock step keeps
its first times), and a step (the first GNSS sync, an RTC reset after a flat
battery) is told to listeners, which put it in the ledger.
"""

import bisect
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

# Where wall time comes from, best first (docs/TIME.md).
CLOCK_SOURCES = ("gnss+pps", "gnss", "ntp", "rtc", "none")
# A change of the wall offset this large is a step (told to listeners, recorded in the
# ledger); smaller ones are the discipline slewing (the shipped chrony configuration
# slews at most 5 ms per second, hw/chrony/recorder.conf).
STEP_NS = 10_000_000
# How fast an error bound grows once the source stops correcting the clock: 50 ppm, a
# cheap crystal's worst case over temperature.
DRIFT_PPB = 50_000
MAPPINGS_KEPT = 4096  # the recent past: a whole shift's worth of changes
_KEEP = object()


def boot_id() -> str | None:
    """The kernel's id of this boot: another id in the dead run's agent_start means the
    device lost power (or was reset) since. RECORDER_BOOT_ID replaces it (tests that model
    a reboot without one)."""
    if os.environ.get("RECORDER_BOOT_ID"):
        return os.environ["RECORDER_BOOT_ID"]
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            return file.read().strip()
    except OSError:
        return None


def iso_utc(wall_ns: int) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-29T08:00:00.000000Z."""
    seconds, ns = divmod(wall_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ns // 1000:06d}Z"


@dataclass(frozen=True)
class TimeMapping:
    """From `since_ns` (monotonic) on, wall = monotonic + offset_ns, within error_at()."""

    since_ns: int
    offset_ns: int
    source: str
    error_ns: int | None  # the bound at since_ns; None: no bound can be stated
    drift_ppb: int = DRIFT_PPB

    def error_at(self, monotonic_ns: int) -> int | None:
        if self.error_ns is None:
            return None
        return self.error_ns + max(0, monotonic_ns - self.since_ns) * self.drift_ppb // 1_000_000_000

    def record(self) -> dict:
        """As a segment's manifest lists the mappings it used (integers only)."""
        return {"from_mono_us": self.since_ns // 1000, "offset_us": self.offset_ns // 1000,
                "source": self.source, "error_us": None if self.error_ns is None else -(-self.error_ns // 1000),
                "drift_ppb": self.drift_ppb}


@dataclass(frozen=True)
class ClockStep:
    """The wall clock jumped by step_ns at monotonic at_ns (media time did not)."""

    at_ns: int
    step_ns: int
    before: TimeMapping
    after: TimeMapping
    cause: str


class Clock:
    def __init__(self, mapping: TimeMapping):
        mapping = TimeMapping(mapping.since_ns, _whole_us(mapping.offset_ns), mapping.source, mapping.error_ns,
                              mapping.drift_ppb)
        self._mappings = [mapping]
        self._starts = [mapping.since_ns]
        self._mapping_lock = threading.Lock()
        self._step_listeners = []

    def monotonic_ns(self) -> int:
        raise NotImplementedError

    @property
    def monotonic_id(self) -> str | None:
        """Which monotonic clock `monotonic_ns` reads: two records that name the same one
        may be compared on it (the dock's offset is carried back along it: docs/TIME.md);
        None when it cannot be said."""
        return None

    def sleep_until(self, monotonic_ns: int) -> None:
        raise NotImplementedError

    # --- wall time

    @property
    def mapping(self) -> TimeMapping:
        return self._mappings[-1]

    @property
    def source(self) -> str:
        return self.mapping.source

    def mapping_at(self, monotonic_ns: int) -> TimeMapping:
        """The mapping that held at that moment (the oldest kept, for older moments)."""
        with self._mapping_lock:
            i = bisect.bisect_right(self._starts, monotonic_ns) - 1
            return self._mappings[max(i, 0)]

    def mappings_between(self, start_ns: int, end_ns: int) -> list[TimeMapping]:
        """Every mapping that held during [start_ns, end_ns], oldest first."""
        with self._mapping_lock:
            first = max(bisect.bisect_right(self._starts, start_ns) - 1, 0)
            last = bisect.bisect_right(self._starts, end_ns)
            return self._mappings[first:max(last, first + 1)]

    def wall_ns_at(self, monotonic_ns: int) -> int:
        return monotonic_ns + self.mapping_at(monotonic_ns).offset_ns

    def error_ns_at(self, monotonic_ns: int) -> int | None:
        return self.mapping_at(monotonic_ns).error_at(monotonic_ns)

    def on_step(self, listener) -> None:
        """listener(ClockStep), called on the thread that saw the step."""
        self._step_listeners.append(listener)

    def adopt(self, offset_ns: int, source: str, error_ns: int | None, at_ns: int | None = None,
              cause: str = "discipline", drift_ppb: int = DRIFT_PPB) -> ClockStep | None:
        """Map wall time with a new offset from at_ns (now) on. A change of STEP_NS or more
        is a step: listeners hear of it, and it is returned."""
        at = self.monotonic_ns() if at_ns is None else at_ns
        offset_ns = _whole_us(offset_ns)
        with self._mapping_lock:
            before = self._mappings[-1]
            at = max(at, before.since_ns)  # the past keeps the mapping it was placed with
            new = TimeMapping(at, offset_ns, source, error_ns, drift_ppb)
            self._mappings.append(new)
            self._starts.append(at)
            if len(self._mappings) > MAPPINGS_KEPT:
                del self._mappings[0], self._starts[0]
        step_ns = offset_ns - before.offset_ns
        if abs(step_ns) < STEP_NS:
            return None
        step = ClockStep(at, step_ns, before, new, cause)
        for listener in list(self._step_listeners):
            listener(step)
        return step

    def stamp(self, monotonic_ns: int | None = None) -> dict:
        """A time reading as it goes into ledger entries and manifests."""
        mono = self.monotonic_ns() if monotonic_ns is None else monotonic_ns
        return stamp_with(self.mapping_at(mono), mono)


def stamp_with(mapping: TimeMapping, monotonic_ns: int) -> dict:
    """A time stamp: the moment on both clocks, the wall clock's source and error bound."""
    wall = monotonic_ns + mapping.offset_ns
    error = mapping.error_at(monotonic_ns)
    # Microseconds: signed JSON (RFC 8785) only carries integers up to 2**53. The error is
    # rounded up: a bound must not shrink in the writing.
    return {"mono_us": monotonic_ns // 1000, "wall_us": wall // 1000, "wall": iso_utc(wall), "clock": mapping.source,
            "error_us": None if error is None else -(-error // 1000)}


class SystemClock(Clock):
    """CLOCK_MONOTONIC for media; wall time from CLOCK_REALTIME, which chrony disciplines
    on the device (the agent never sets it). `refresh` samples the system clock again
    (once a second, agent/timekeeping.py): a step there becomes a new mapping and a step
    entry. `discipline()` -> (source, error_ns) says how good the system clock is
    (recorder/systime.py reads chrony and the kernel)."""

    def __init__(self, discipline=None):
        if discipline is None:
            from .systime import SystemDiscipline  # chrony and the kernel, read-only

            discipline = SystemDiscipline(DRIFT_PPB)
        self._discipline = discipline
        source, error = self._discipline()
        super().__init__(TimeMapping(time.monotonic_ns(), self._system_offset(), source, error))

    @staticmethod
    def _system_offset() -> int:
        # The narrowest of three readings: a preemption between the two calls widens it.
        best = None
        for _ in range(3):
            before = time.monotonic_ns()
            wall = time.time_ns()
            after = time.monotonic_ns()
            if best is None or after - before < best[0]:
                best = (after - before, wall - (before + after) // 2)
        return best[1]

    def refresh(self, now_ns: int | None = None) -> ClockStep | None:
        """Follow the system clock: a new mapping when its offset moved by 1 ms or more, its
        source changed, or its error bound grew past what the mapping states (or fell by
        more than a tenth: a bound is never stated smaller than told, only larger)."""
        now = self.monotonic_ns() if now_ns is None else now_ns
        offset = self._system_offset()
        source, error = self._discipline()
        current = self.mapping
        if (abs(offset - current.offset_ns) < 1_000_000 and source == current.source
                and _still_covered(error, current.error_at(now))):
            return None
        return self.adopt(offset, source, error, now, cause="system-clock")

    def monotonic_ns(self):
        return time.monotonic_ns()

    @property
    def monotonic_id(self) -> str | None:
        # CLOCK_MONOTONIC: one clock for every process of one boot
        boot = boot_id()
        return None if boot is None else f"boot:{boot}"

    def sleep_until(self, monotonic_ns):
        delay = (monotonic_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)


def _whole_us(offset_ns: int) -> int:
    """Offsets in whole microseconds, so that a stamp's wall_us is exactly its mono_us plus
    the offset its manifest lists (evidence/track.py checks that)."""
    return offset_ns // 1000 * 1000


def _still_covered(told: int | None, stated: int | None) -> bool:
    """The bound the mapping states still covers the one the discipline tells, and is not
    needlessly wide (at most a tenth wider)."""
    if told is None or stated is None:
        return told is None and stated is None
    return told <= stated <= told + told // 10


class SimulatedClock(Clock):
    """Virtual time: sleeping advances it instantly. Its world starts at the real wall time
    (so recordings carry plausible dates) unless told otherwise; the device's own idea of
    wall time may be off from the world's by `wall_error_ns` (a drifted or reset RTC) until
    something disciplines it (the simulated body's chrony, sim/chrony.py). The simulated
    sky (GNSS) tells the world's time, `true_wall_ns_at`."""

    RTC_ERROR_NS = 2_000_000_000  # what a device states for its RTC before any sync (docs/TIME.md)

    def __init__(self, start_wall_ns: int | None = None, start_monotonic_ns: int = 1_000_000_000,
                 wall_error_ns: int = 0, source: str = "rtc", error_ns: int | None = RTC_ERROR_NS,
                 rate_error_ppb: int = 0):
        """rate_error_ppb: how much faster than the world's time the device's crystal (its
        monotonic clock) runs: the world's time then falls behind the device's by that much."""
        self._now = start_monotonic_ns
        wall = time.time_ns() if start_wall_ns is None else start_wall_ns
        self.true_offset_ns = wall - start_monotonic_ns
        self._start_ns, self._rate_error_ppb = start_monotonic_ns, rate_error_ppb
        self._lock = threading.Lock()
        self._id = f"simulated:{uuid.uuid4().hex}"  # this object's time only
        super().__init__(TimeMapping(start_monotonic_ns, self.true_offset_ns + wall_error_ns, source, error_ns))

    @property
    def monotonic_id(self) -> str:
        return self._id

    def true_wall_ns_at(self, monotonic_ns: int) -> int:
        gained = (monotonic_ns - self._start_ns) * self._rate_error_ppb // 1_000_000_000
        return monotonic_ns + self.true_offset_ns - gained

    def monotonic_ns(self):
        return self._now

    def sleep_until(self, monotonic_ns):
        with self._lock:
            if monotonic_ns > self._now:
                self._now = monotonic_ns

    def advance(self, ns: int):
        self.sleep_until(self._now + ns)

    def step_wall(self, step_ns: int, source: str | None = None, error_ns=_KEEP,
                  cause: str = "rtc-reset") -> ClockStep | None:
        """The device's wall clock jumps (an RTC reset after a flat battery, an operator);
        source and error bound stay as they were unless given."""
        current = self.mapping
        return self.adopt(current.offset_ns + step_ns, source or current.source,
                          current.error_at(self._now) if error_ns is _KEEP else error_ns, cause=cause)
