"""Stable-time debouncing on the injected clock.

A contact counts as pressed (or released) only once it has stayed that way for
`stable_ns`; every shorter excursion is chatter and is ignored. The accepted
change is dated at the raw edge that began the stable run, so a press keeps its
true time. Working on clock time rather than gpiozero's bounce_time keeps the
behaviour identical on a SimulatedClock (scripted shifts) and on the device.
"""


class Debouncer:
    def __init__(self, stable_ns: int, level: bool = False):
        self.stable_ns = stable_ns
        self.level = level  # accepted level
        self._raw = level
        self._raw_since = 0

    def edge(self, level: bool, at_ns: int) -> list[tuple[bool, int]]:
        """A raw edge at at_ns; returns changes that became stable before it."""
        accepted = self.poll(at_ns)
        if level != self._raw:
            self._raw, self._raw_since = level, at_ns
        return accepted

    def poll(self, now_ns: int) -> list[tuple[bool, int]]:
        """Accepted changes [(level, since_ns)] that are stable by now_ns."""
        if self._raw != self.level and now_ns - self._raw_since >= self.stable_ns:
            self.level = self._raw
            return [(self.level, self._raw_since)]
        return []

    def unsettled_since(self, at_ns: int) -> bool:
        """True when a raw change made at or before at_ns is still being debounced,
        i.e. the accepted level at at_ns is not yet known."""
        return self._raw != self.level and self._raw_since <= at_ns

    def deadline_ns(self) -> int | None:
        """When poll can next accept a change, if one is pending."""
        return self._raw_since + self.stable_ns if self._raw != self.level else None
