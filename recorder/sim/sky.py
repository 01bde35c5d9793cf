"""The simulated body's GNSS receiver: the body's path (sim/path.py, from the script)
written as NMEA, second by second of the world's time, into a real gpsd (sim/gpsd_feed.py),
and read back through the agent's own gpsd client — the device's path, from the
sentences on, with only the satellites simulated.

On simulated time the sky keeps gpsd in step: after writing a second's sentences it waits
(in real time, at most STEP_WAIT_S) until the client has the report, so a fast run sees
the receiver as a device does and replays exactly. Where gpsd is not installed (a laptop
without it; CI installs it and fails without it) the fixes are handed to the track
directly, and the receiver's description says so.
"""

import logging

from ..config.settings import simulated_place
from ..telemetry.fix import MODE_3D, MODE_NO_FIX, Fix
from ..telemetry.gpsd import GpsdClient
from .gpsd_feed import GpsdFeed, gpsd_path
from .nmea import SkySample, sentences_at
from .path import Path

log = logging.getLogger(__name__)

SECOND_NS = 1_000_000_000
STEP_WAIT_S = 0.5  # gpsd answers within a millisecond (docs/GNSS.md); this bounds a stuck one
SATELLITES, HDOP, EPH_M = 9, 0.9, 3.0


class SimulatedSky:
    """Receiver (`position`, `latest`, `close`) and loop participant (`tick`) in one."""

    name = "gpsd"

    def __init__(self, gnss, clock):
        self.clock = clock
        self.path = Path(simulated_place(gnss.simulated_start))
        self.origin_ns = self.started_ns = clock.monotonic_ns()
        self.first_fix_ns = round(gnss.simulated_first_fix_seconds * SECOND_NS)
        # the world's time: the simulated clock's truth, else the system clock's
        self.world_ns_at = getattr(clock, "true_wall_ns_at", clock.wall_ns_at)
        self.feed = self.client = None
        self._direct: Fix | None = None
        if gpsd_path() is None:
            self.description = "simulated sky (gpsd not installed: fixes handed over directly)"
        else:
            self.feed = GpsdFeed()
            try:
                self.client = GpsdClient(clock, port=self.feed.port).start()
            except BaseException:
                self.feed.close()
                raise
            self.description = f"simulated sky through gpsd (port {self.feed.port}, {self.feed.device})"
        self._next_ns = self._next_second(self.started_ns)

    def follow(self, steps, origin_ns: int):
        """The script's path steps, counted from origin_ns (a restarted run's predecessor's
        start, so the walk goes on where it was)."""
        self.path = Path(self.path.start, steps)
        self.origin_ns = origin_ns

    # --- the receiver

    def position(self, now_ns: int, max_age_ns: int):
        if self.client is not None:
            return self.client.position(now_ns, max_age_ns)
        fix = self._direct
        return fix if fix is not None and fix.has_position and now_ns - fix.received_ns <= max_age_ns else None

    def latest(self):
        return self.client.latest() if self.client is not None else self._direct

    def close(self):
        if self.client is not None:
            self.client.close()
        if self.feed is not None:
            self.feed.close()

    # --- the sky, once a second of the world's time

    def _next_second(self, after_ns: int) -> int:
        """The monotonic moment of the world's next whole second at or after after_ns."""
        world = self.world_ns_at(after_ns)
        return after_ns + (-world) % SECOND_NS

    def next_deadline_ns(self) -> int:
        return self._next_ns

    def tick(self, now_ns: int):
        if now_ns < self._next_ns:
            return
        at = self._next_ns
        self._next_ns = self._next_second(max(now_ns, at) + 1)
        sample = self.sample(at)
        utc_ns = self.world_ns_at(at)
        if self.client is None:
            self._direct = self._fix(sample, utc_ns, now_ns)
            return
        mark = self.client.fix_count
        self.feed.write(sentences_at(utc_ns, sample))
        if not self.client.wait_for(lambda fix: fix.time_ns == utc_ns, STEP_WAIT_S, after=mark):
            log.debug("gpsd did not report %d within %.1f s", utc_ns, STEP_WAIT_S)

    def sample(self, at_ns: int) -> SkySample:
        place = self.path.place(at_ns - self.origin_ns)
        fix = place.sky_visible and at_ns - self.started_ns >= self.first_fix_ns
        return SkySample(lat=place.lat, lon=place.lon, alt=place.alt, speed=place.speed, heading=place.heading,
                         fix=fix, sats=SATELLITES if fix else 0, hdop=HDOP)

    @staticmethod
    def _fix(sample: SkySample, utc_ns: int, now_ns: int) -> Fix:
        if not sample.fix:
            return Fix(now_ns, utc_ns, MODE_NO_FIX)
        return Fix(now_ns, utc_ns, MODE_3D, sample.lat, sample.lon, sample.alt, sample.speed, sample.heading,
                   EPH_M, EPH_M * 1.5, sample.sats, sample.hdop, "simulated")
