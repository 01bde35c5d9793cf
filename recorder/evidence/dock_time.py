"""A device's time stamps placed on a dock's clock (docs/TIME.md, "Placed by the dock").

At checkout the dock measures how far the device's time stamps are from its own clock and
the device seals it as a `clock_offset` entry; past stamps are never rewritten. A reader
carries that offset back (or forward) along the device's monotonic clock: a stamp at
monotonic time m is placed at m + (the device's wall − monotonic offset at the checkout) +
the measured offset, within the measurement's error plus the drift a free-running crystal
may have added between the two moments (clock.DRIFT_PPB, the bound the device grows its own
by).

That is sound only on one monotonic clock (the run's `agent_start` and the `clock_offset`
name the same one: the kernel's CLOCK_MONOTONIC of one boot), and only while nothing
disciplined the clock in between: chrony's slewing moves the monotonic clock as well. So a
stretch of entries is carried only while every stamp and clock mapping in it says `rtc` or
`none` — a disciplined device has its own bound and needs the dock's less. A discipline
that came and went between two records without either seeing it would not be noticed; the
agent records a new mapping whenever the source changes while it records.
"""

from dataclasses import dataclass

from ..clock import DRIFT_PPB, iso_utc
from .history import OFFLOAD_ENTRIES

FREE_RUNNING = frozenset({"rtc", "none"})
ROUNDING_US = 2  # the checkout's wall − monotonic and the stamp's monotonic, each whole µs


@dataclass(frozen=True)
class Anchor:
    index: int  # the clock_offset entry
    dock: str
    offset_us: int  # the dock's clock − the device's stamps, at the checkout
    error_us: int
    device_offset_us: int  # the device's wall − monotonic at the checkout
    mono_us: int


@dataclass(frozen=True)
class Placed:
    wall_us: int
    error_us: int
    anchor: Anchor

    def record(self) -> dict:
        return {"wall_us": self.wall_us, "wall": iso_utc(self.wall_us * 1000), "error_us": self.error_us,
                "clock_offset": self.anchor.index}


class DockTime:
    """Fed the ledger's verified entries in order (`add`, and `saw` for a segment's
    manifest); `place` then answers for any entry's stamp."""

    def __init__(self, drift_ppb: int = DRIFT_PPB):
        self.drift_ppb = drift_ppb
        self._monotonic: str | None = None  # the current run's monotonic clock
        self._stretch = 0  # entries of one stretch share one undisciplined monotonic clock
        self._stretch_of: dict[int, int] = {}
        self._anchors: dict[int, list[Anchor]] = {}

    def add(self, entry: dict):
        kind, body, at, index = entry.get("type"), entry.get("body"), entry.get("at"), entry.get("index")
        if not (isinstance(body, dict) and isinstance(at, dict) and isinstance(index, int)):
            return
        if kind == "agent_start":
            monotonic = body.get("monotonic") if isinstance(body.get("monotonic"), str) else None
            if monotonic is None or monotonic != self._monotonic:
                self._stretch += 1  # another clock (a reboot, a simulated run): nothing carries over
            self._monotonic = monotonic
        if kind == "clock_offset":
            self._anchor(index, body, at)
            return
        if kind in OFFLOAD_ENTRIES or self._monotonic is None:
            return  # stamped by the offload on its own clock, or a run that did not name its clock
        sources = {at.get("clock")}
        if kind == "clock_step":
            sources |= {m.get("source") for m in (body.get("before"), body.get("after")) if isinstance(m, dict)}
        if not sources <= FREE_RUNNING:
            self._stretch += 1  # disciplined here: what came before cannot be carried past it
            return
        self._stretch_of[index] = self._stretch

    def saw(self, index: int, manifest: dict):
        """The manifest of the segment entry `index` just added: a clock mapping it was placed
        with that was disciplined ends the stretch, that entry included."""
        mappings = manifest.get("clock") if isinstance(manifest.get("clock"), list) else []
        sources = {m.get("source") for m in mappings if isinstance(m, dict)}
        sources |= {t.get("clock") for t in (manifest.get("start"), manifest.get("end")) if isinstance(t, dict)}
        if not sources <= FREE_RUNNING:
            self._stretch_of.pop(index, None)
            self._stretch += 1

    def _anchor(self, index: int, body: dict, at: dict):
        if self._monotonic is None or body.get("monotonic") != self._monotonic:
            return  # measured on another clock (the offload after a simulated run, another boot)
        if at.get("clock") not in FREE_RUNNING:
            self._stretch += 1
            return
        values = (body.get("offset_us"), body.get("error_us"), at.get("wall_us"), at.get("mono_us"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values) or values[1] < 0:
            return  # malformed: it places nothing
        offset, error, wall, mono = values
        self._anchors.setdefault(self._stretch, []).append(
            Anchor(index, str(body.get("dock")), offset, error, wall - mono, mono))

    def place(self, index: int, stamp) -> Placed | None:
        """The stamp of entry `index` (its `at`, or a time stamp it carries that was taken on
        the same clock) on the dock's clock, by the anchor that bounds it best; None when no
        checkout on this clock reaches it."""
        mono = stamp.get("mono_us") if isinstance(stamp, dict) else None
        anchors = self._anchors.get(self._stretch_of.get(index, -1))
        if not anchors or not isinstance(mono, int) or isinstance(mono, bool):
            return None
        best = None
        for anchor in anchors:
            drift_us = -(-abs(anchor.mono_us - mono) * self.drift_ppb // 1_000_000_000)
            error = anchor.error_us + drift_us + ROUNDING_US
            if best is None or error < best.error_us:
                best = Placed(mono + anchor.device_offset_us + anchor.offset_us, error, anchor)
        return best
