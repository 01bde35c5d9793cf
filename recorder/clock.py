"""The one clock every part of the agent reads.

All timing goes through a Clock so that long scenarios can run on simulated
time in tests (`SimulatedClock`) while the device uses the real monotonic clock
(`SystemClock`). Media timestamps are monotonic; wall time is derived from the
monotonic time with an offset the clock owns, and each reading says where the
wall time came from (`source`), because evidence must state how trustworthy it is.
"""

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

NTP_SYNC_FLAG = Path("/run/systemd/timesync/synchronized")


def iso_utc(wall_ns: int) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-29T08:00:00.000000Z."""
    seconds, ns = divmod(wall_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ns // 1000:06d}Z"


class Clock:
    source = "unknown"

    def monotonic_ns(self) -> int:
        raise NotImplementedError

    def wall_ns_at(self, monotonic_ns: int) -> int:
        raise NotImplementedError

    def sleep_until(self, monotonic_ns: int) -> None:
        raise NotImplementedError

    def stamp(self, monotonic_ns: int | None = None) -> dict:
        """A time reading as it goes into ledger entries and manifests."""
        mono = self.monotonic_ns() if monotonic_ns is None else monotonic_ns
        wall = self.wall_ns_at(mono)
        # Microseconds: signed JSON (RFC 8785) only carries integers up to 2**53.
        return {"mono_us": mono // 1000, "wall_us": wall // 1000, "wall": iso_utc(wall), "clock": self.source}


class SystemClock(Clock):
    """CLOCK_MONOTONIC for media, CLOCK_REALTIME (offset sampled once) for wall time."""

    def __init__(self):
        mono = time.monotonic_ns()
        self._offset = time.time_ns() - mono

    @property
    def source(self):
        return "system-ntp-synchronized" if NTP_SYNC_FLAG.exists() else "system-unsynchronized"

    def monotonic_ns(self):
        return time.monotonic_ns()

    def wall_ns_at(self, monotonic_ns):
        return monotonic_ns + self._offset

    def sleep_until(self, monotonic_ns):
        delay = (monotonic_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)


class SimulatedClock(Clock):
    """Virtual time: sleeping advances it instantly. Starts at the real wall time
    (so recordings carry plausible dates) unless told otherwise."""

    source = "simulated"

    def __init__(self, start_wall_ns: int | None = None, start_monotonic_ns: int = 1_000_000_000):
        self._now = start_monotonic_ns
        wall = time.time_ns() if start_wall_ns is None else start_wall_ns
        self._offset = wall - start_monotonic_ns
        self._lock = threading.Lock()

    def monotonic_ns(self):
        return self._now

    def wall_ns_at(self, monotonic_ns):
        return monotonic_ns + self._offset

    def sleep_until(self, monotonic_ns):
        with self._lock:
            if monotonic_ns > self._now:
                self._now = monotonic_ns

    def advance(self, ns: int):
        self.sleep_until(self._now + ns)
