"""Once a second: the system clock followed (a step there becomes a `clock_step` entry,
clock.py), and the OSD told the position and the clock's source (capture/osd.py)."""

PERIOD_NS = 1_000_000_000


class TimeKeeper:
    """A loop participant (agent/loop.py)."""

    def __init__(self, clock, track, osd_status=None):
        self.clock, self.track, self.osd_status = clock, track, osd_status
        self._next_ns = clock.monotonic_ns()
        self._tell_osd(self._next_ns)  # before the first frame: its OSD has every line

    def next_deadline_ns(self) -> int:
        return self._next_ns

    def tick(self, now_ns: int):
        if now_ns < self._next_ns:
            return
        refresh = getattr(self.clock, "refresh", None)  # the system clock; a simulated one is told
        if refresh is not None:
            refresh(now_ns)
        self._tell_osd(now_ns)
        self._next_ns += PERIOD_NS * max(1, (now_ns - self._next_ns) // PERIOD_NS + 1)

    def _tell_osd(self, now_ns: int):
        if self.osd_status is not None:
            self.osd_status.position = self.track.current()
            self.osd_status.clock = (self.clock.source, self.clock.error_ns_at(now_ns))

