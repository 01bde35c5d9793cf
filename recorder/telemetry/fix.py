"""What the receiver said, as the agent keeps it: a position fix, and a time report.

A `Fix` is one TPV report of gpsd, stamped with the agent's clock when it arrived
(`received_ns`), so its age can be judged against the same clock that stamps the
recording. The receiver's own UTC time of the fix (`time_ns`) is kept apart: a receiver
may give a position before it knows the date (no time at all), and the evidence must
never take one for the other.
"""

from dataclasses import dataclass

# gpsd's TPV `mode`
MODE_UNKNOWN, MODE_NO_FIX, MODE_2D, MODE_3D = 0, 1, 2, 3


@dataclass(frozen=True)
class Fix:
    received_ns: int  # the agent's clock (monotonic ns) when the report arrived
    time_ns: int | None  # UTC ns of the fix, from the receiver; None when it gave none
    mode: int  # MODE_*; a report without lat/lon is MODE_NO_FIX whatever it claimed
    lat: float | None = None  # degrees, WGS84
    lon: float | None = None
    alt: float | None = None  # metres above mean sea level; None in 2D
    speed: float | None = None  # m/s over ground
    track: float | None = None  # degrees from true north
    eph: float | None = None  # estimated horizontal error, m (gpsd's, from the DOPs)
    epv: float | None = None  # estimated vertical error, m
    sats_used: int | None = None  # from the most recent SKY report; None before any
    hdop: float | None = None
    device: str = ""  # the receiver gpsd read it from

    @property
    def has_position(self) -> bool:
        return self.mode >= MODE_2D and self.lat is not None and self.lon is not None

    def age_ns(self, now_ns: int) -> int:
        """How old the report is at `now_ns` on the agent's clock."""
        return now_ns - self.received_ns


@dataclass(frozen=True)
class TimeReport:
    """gpsd's PPS (a pulse's edge) or TOFF (when a fix's time arrived): the receiver's UTC
    against the host's clock at that moment."""

    kind: str  # "pps" | "toff"
    received_ns: int  # the agent's clock when the report arrived
    real_ns: int  # UTC from the receiver (real_sec, real_nsec)
    clock_ns: int  # the host's CLOCK_REALTIME then (clock_sec, clock_nsec)
    precision: int | None = None  # PPS: log2 of the pulse's precision in seconds
    device: str = ""
