"""The track: the receiver sampled once a second on the monotonic clock, kept for the recent
past, handed to the sealer per segment and to marks at their moment.

A sample holds a position only when the receiver has one no older than `max_age_ns`
(docs/GNSS.md): a stale position is never written as a fix, it becomes a point without
one. Wall times are placed when a segment is sealed, with the clock mappings the sealer
lists in the same manifest, so point and manifest always agree.
"""

import collections
import threading

from ..evidence import entries

PERIOD_NS = 1_000_000_000
KEPT_NS = 30 * 60 * 1_000_000_000  # the pre-record, a segment and the sealer's backlog, with room


def fix_record(fix, now_ns: int) -> dict | None:
    """A receiver's fix (telemetry/fix.py) as evidence.entries.track_point takes it, or None
    when it holds no position."""
    if fix is None or not fix.has_position:
        return None
    return {"mode": fix.mode, "lat": fix.lat, "lon": fix.lon, "alt": fix.alt, "speed": fix.speed,
            "track": fix.track, "sats": fix.sats_used, "hdop": fix.hdop, "eph": fix.eph, "epv": fix.epv,
            "age_ns": max(0, now_ns - fix.received_ns), "utc_ns": fix.time_ns}


class NoReceiver:
    """A device without a GNSS receiver: every segment's track says so."""

    name = "none"
    description = "no GNSS receiver"

    def position(self, now_ns: int, max_age_ns: int):
        return None

    def latest(self):
        return None

    def close(self):
        pass


class Track:
    """A loop participant (agent/loop.py): samples the receiver every PERIOD_NS."""

    def __init__(self, receiver, clock, max_age_ns: int, period_ns: int = PERIOD_NS):
        self.receiver, self.clock = receiver, clock
        self.max_age_ns, self.period_ns = max_age_ns, period_ns
        self._samples = collections.deque()  # (mono_ns, fix record or None)
        self._lock = threading.Lock()
        self._next_ns = clock.monotonic_ns()

    @property
    def name(self) -> str:
        return getattr(self.receiver, "name", "gpsd")

    def next_deadline_ns(self) -> int:
        return self._next_ns

    def fix_at(self, now_ns: int):
        """The receiver's position at now_ns: one no older than max_age_ns, and none once
        the receiver has reported since that it lost the fix."""
        fix = self.receiver.position(now_ns, self.max_age_ns)
        latest = self.receiver.latest() if fix is not None else None
        if latest is not None and latest.received_ns > fix.received_ns and not latest.has_position:
            return None
        return fix

    def tick(self, now_ns: int):
        if now_ns < self._next_ns:
            return
        record = fix_record(self.fix_at(now_ns), now_ns)
        with self._lock:
            self._samples.append((now_ns, record))
            while self._samples and self._samples[0][0] < now_ns - KEPT_NS:
                self._samples.popleft()
        self._next_ns += self.period_ns * max(1, (now_ns - self._next_ns) // self.period_ns + 1)

    def current(self) -> dict | None:
        """The newest sample's fix record (the OSD's position), or None."""
        with self._lock:
            return self._samples[-1][1] if self._samples else None

    def position_at(self, at_ns: int) -> dict:
        """The position at a mark: the receiver asked at that moment, with its age."""
        record = fix_record(self.fix_at(at_ns), at_ns)
        return entries.track_point(at_ns // 1000, self.clock.wall_ns_at(at_ns) // 1000, record)

    def between(self, start_us: int, end_us: int) -> dict:
        """The manifest's track of a segment recorded from start_us to end_us (monotonic)."""
        with self._lock:
            chosen = [(t, r) for t, r in self._samples if start_us * 1000 <= t < end_us * 1000]
        points = [] if self.name == "none" else [
            entries.track_point(t // 1000, self.clock.wall_ns_at(t) // 1000, r) for t, r in chosen]
        return entries.track(self.name, points, self.period_ns // 1_000_000, self.max_age_ns // 1_000_000)
