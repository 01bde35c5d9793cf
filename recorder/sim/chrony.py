"""The simulated body's chrony: the simulated clock disciplined from the receiver's time,
as chrony disciplines the device's system clock from gpsd (hw/chrony/recorder.conf).

Each report's UTC minus the moment it arrived is an estimate of the wall offset, late by
however long the report took, never early: the largest of the last few is the best (a
minimum-delay filter). The first sync steps the clock (a `clock_step` entry when it
moves by STEP_NS or more); after that it is re-adopted every poll, so the stated error
never grows past the NMEA bound plus a poll's drift. Only a simulated clock is
disciplined: the machine's own clock is never touched.
"""

from ..clock import SimulatedClock

POLL_NS = 16_000_000_000  # chrony's poll interval for the receiver (hw/chrony/recorder.conf)
SAMPLES_KEPT = 4
SAMPLES_NEEDED = 3  # before the first sync
# NMEA time without PPS: a receiver's sentence leaves up to a few hundred ms after the second
# (chrony's `delay` for the NMEA refclock); the bound the simulated device states for it.
NMEA_ERROR_NS = 250_000_000


class SimulatedChrony:
    def __init__(self, clock: SimulatedClock, receiver):
        self.clock, self.receiver = clock, receiver
        self._samples: list[int] = []
        self._last_received = None
        self._synced_ns: int | None = None
        self._next_ns = clock.monotonic_ns()

    def next_deadline_ns(self) -> int:
        return self._next_ns

    def tick(self, now_ns: int):
        if now_ns < self._next_ns:
            return
        self._next_ns = now_ns + 1_000_000_000
        fix = self.receiver.latest()
        if fix is None or fix.time_ns is None or fix.received_ns == self._last_received:
            return
        self._last_received = fix.received_ns
        self._samples = (self._samples + [fix.time_ns - fix.received_ns])[-SAMPLES_KEPT:]
        if len(self._samples) < SAMPLES_NEEDED:
            return
        if self._synced_ns is not None and now_ns - self._synced_ns < POLL_NS:
            return
        cause = "gnss-first-sync" if self._synced_ns is None else "gnss"
        self.clock.adopt(max(self._samples), "gnss", NMEA_ERROR_NS, now_ns, cause=cause)
        self._synced_ns = now_ns
