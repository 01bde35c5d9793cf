"""The storage monitor: minutes of recording the free space allows, a warning, the floor.

Every `interval_s` (5 s) it asks the filesystems that hold the store (the store's root,
media/ and ledger/: one, or several when media/ is a mount of its own) how much a
non-root writer may still use (statvfs: f_bavail × f_frsize) and estimates

  minutes left = (free − reserve) / recording rate

on the filesystem where that is least. **The rate** is how fast the free space has been
falling over the last `window_s` (60 s: that is the bytes the recorder writes, the
container's overhead and the manifests included), but never less than the configured
video + audio bitrate: before there is a measure (at boot, while not recording), and
after a stall, the estimate is that of recording at the configured rate. Space that comes
back (the dock offloaded and freed some) restarts the measure.

**Events**, each once, with hysteresis:
  STORAGE_LOW        minutes left ≤ `warn_minutes` (10); re-armed above warn + resume.
  STORAGE_FLOOR      the free space is at the reserve: within `lead_s` of recording of
                     it (one GOP, which the writer puts down at once as a fragment, and a
                     second more), so that the reserve is still whole when the agent seals
                     and stops. Looks come faster as the floor nears (a quarter of the time
                     left, down to MIN_INTERVAL_S), so the floor is seen before it is
                     passed at any steady rate.
  STORAGE_RECOVERED  after the floor (or a write that met a full disk: disk_full()): the
                     free space is back above the reserve by `resume_minutes` (5) of
                     recording.
**The reserve** (`[storage] reserve_mb`, 64 MiB) is never recorded into in normal
operation: it is what lets the agent write the last fragment, close the segment, write its
manifest and the ledger entries of the interruption after the floor, without ENOSPC (the
configuration refuses a reserve smaller than `config.minimum_storage_reserve`). The
monitor never deletes anything: making room is the dock's job, after the offload.
"""

import logging
import os
from collections import deque
from pathlib import Path

from ..config import recording_bytes_per_second
from .base import STORAGE_FLOOR, STORAGE_LOW, STORAGE_RECOVERED, Monitor

log = logging.getLogger(__name__)

NS = 1_000_000_000
MIB = 1024 * 1024
FLOOR_LEAD_S = 2.0  # the floor is reported this much recording before the reserve is touched
MIN_INTERVAL_S = 0.25  # the fastest looks, near the floor
MIN_SPAN_S = 10.0  # a measured rate needs this long a window
FREED_TOLERANCE = 1 * MIB  # free space that grows by more than this was freed: restart the measure


class StorageMonitor(Monitor):
    name = "storage"

    def __init__(self, store_root, *, bytes_per_second: float, reserve_bytes: int, warn_minutes: float = 10,
                 resume_minutes: float = 5, interval_s: float = 5.0, window_s: float = 60.0,
                 lead_s: float = FLOOR_LEAD_S, statvfs=os.statvfs):
        """bytes_per_second: the configured video + audio rate, the floor of the estimate.
        lead_s: the floor is reported this much recording before the reserve."""
        super().__init__()
        if bytes_per_second <= 0 or reserve_bytes < 0:
            raise ValueError("bytes_per_second must be > 0 and reserve_bytes >= 0")
        self.root = Path(store_root)
        self.paths = (self.root, self.root / "media", self.root / "ledger")
        self.floor_rate = float(bytes_per_second)
        self.reserve = int(reserve_bytes)
        self.warn_s = warn_minutes * 60
        self.resume_s = resume_minutes * 60
        self.interval_ns = round(interval_s * NS)
        self.window_s = window_s
        self.lead_s = lead_s
        self.statvfs = statvfs
        self.low_reported = False
        self.floored = False
        # The latest look at the filesystem with the least time left:
        self.free: int | None = None
        self.rate: float | None = None  # bytes/s used for the estimate
        self.measured: float | None = None  # bytes/s measured (None: no measure yet)
        self.minutes: float | None = None
        self.path: Path | None = None
        self._samples: dict[int, deque] = {}  # st_dev -> (t_s, free)
        self._next_ns: int | None = None
        self._failed = False

    @classmethod
    def from_config(cls, store_root, config, **kwargs) -> "StorageMonitor":
        """From a recorder.config.Config ([storage], and [video]/[audio] for the rate)."""
        return cls(store_root, bytes_per_second=recording_bytes_per_second(config),
                   reserve_bytes=config.storage.reserve_mb * MIB, warn_minutes=config.storage.warn_minutes,
                   resume_minutes=config.storage.resume_minutes, lead_s=config.video.gop_seconds + 1.0,
                   **kwargs)

    # -- Monitor ----------------------------------------------------------------------------
    def next_deadline_ns(self) -> int | None:
        return None if self._closed else self._next_ns

    def tick(self, now_ns: int) -> None:
        if self._closed or (self._next_ns is not None and now_ns < self._next_ns):
            return
        self.look(now_ns)
        self._next_ns = now_ns + self._interval_ns()

    def _interval_ns(self) -> int:
        if self.floored or self.free is None:
            return self.interval_ns
        seconds_to_floor = max(self.free - self.reserve, 0) / self.rate
        return min(self.interval_ns, max(round(seconds_to_floor / 4 * NS), round(MIN_INTERVAL_S * NS)))

    def disk_full(self, now_ns: int) -> None:
        """The disk filled before the floor was seen (ENOSPC met by a write: another writer,
        a burst): count it as the floor, so that STORAGE_RECOVERED follows once there is
        room again, and look again at the next interval."""
        if not self.floored:
            self.floored = self.low_reported = True
            self._samples.clear()
            self._next_ns = now_ns + self.interval_ns

    # -- one look ---------------------------------------------------------------------------
    def look(self, now_ns: int) -> None:
        t = now_ns / NS
        worst = None
        for dev, path in self._filesystems().items():
            try:
                st = self.statvfs(path)
            except OSError as exc:
                if not self._failed:
                    log.warning("storage: cannot read the free space of %s: %s", path, exc)
                self._failed = True
                continue
            free = st.f_bavail * st.f_frsize
            measured = self._measure(dev, t, free)
            rate = max(self.floor_rate, measured or 0.0)
            seconds = (free - self.reserve) / rate
            if worst is None or seconds < worst[0]:
                worst = (seconds, free, rate, measured, path)
        if worst is None:
            return
        seconds, self.free, self.rate, self.measured, self.path = worst
        self.minutes = seconds / 60
        self._decide(now_ns)

    def _filesystems(self) -> dict[int, Path]:
        """st_dev -> a directory on it, for each filesystem the store lives on (a path not
        made yet counts as its nearest existing parent)."""
        found = {}
        for path in self.paths:
            while True:
                try:
                    dev = os.stat(path).st_dev
                    break
                except FileNotFoundError:
                    if path.parent == path:
                        dev = None
                        break
                    path = path.parent
                except OSError:
                    dev = None
                    break
            if dev is not None:
                found.setdefault(dev, path)
        return found

    def _measure(self, dev: int, t: float, free: int) -> float | None:
        """How fast the free space fell over the window (bytes/s), or None."""
        samples = self._samples.setdefault(dev, deque())
        if samples and free > samples[-1][1] + FREED_TOLERANCE:
            samples.clear()  # space was freed: what came before says nothing of the rate
        samples.append((t, free))
        while len(samples) > 2 and samples[1][0] <= t - self.window_s:
            samples.popleft()
        span = t - samples[0][0]
        if span < MIN_SPAN_S:
            return None
        return max((samples[0][1] - free) / span, 0.0)

    def _decide(self, now_ns: int) -> None:
        left = self.free - self.reserve
        if not self.floored and left <= self.rate * self.lead_s:
            self.floored = self.low_reported = True
            self._report(STORAGE_FLOOR, now_ns, f"storage floor: {self._space()}; the reserve is kept for sealing")
        elif not self.floored and not self.low_reported and self.minutes * 60 <= self.warn_s:
            self.low_reported = True
            self._report(STORAGE_LOW, now_ns, f"{self._minutes()} min of recording left ({self._space()})")
        elif self.floored and left >= self.rate * self.resume_s:
            self.floored = False
            self._report(STORAGE_RECOVERED, now_ns, f"{self._minutes()} min of recording left again ({self._space()})")
        if self.low_reported and not self.floored and self.minutes * 60 > self.warn_s + self.resume_s:
            self.low_reported = False  # room again: the warning is armed again

    def _minutes(self) -> str:
        return f"{max(self.minutes, 0):.0f}"

    def _space(self) -> str:
        source = "measured" if self.measured is not None and self.measured >= self.floor_rate else "configured"
        return (f"{self.free / MIB:.1f} MiB free, {self.reserve / MIB:.0f} MiB reserve, "
                f"{self.rate * 8 / 1e6:.2f} Mbit/s {source}, on {self.path}")

    def _report(self, kind: str, now_ns: int, detail: str) -> None:
        log.warning("storage: %s", detail)
        self.emit(kind, now_ns, detail)
