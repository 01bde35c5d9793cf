"""The clock: monotonic time advances, the wall clock is plausible, and where its time comes
from with what error bound (recorder/systime.py through the agent's clock, docs/TIME.md).

A wall clock before BUILD_YEAR was never set (a Pi without an RTC boots in 1970, or at the
last shutdown with fake-hwclock): FAIL, since every wall time it stamps would be wrong. A
clock with no source ("none": no GNSS, no NTP, no RTC) records, but its wall times carry no
bound: WARN.
"""

from datetime import datetime, timezone

from .results import FAIL, PASS, WARN, Result, Text

BUILD_YEAR = 2026  # the year this release was built: a wall clock before it was never set
SETTLE_NS = 10_000_000


def check_clock(clock, build_year: int = BUILD_YEAR) -> Result:
    first = clock.monotonic_ns()
    clock.sleep_until(first + SETTLE_NS)
    second = clock.monotonic_ns()
    mapping = clock.mapping
    wall = datetime.fromtimestamp(clock.wall_ns_at(second) / 1e9, tz=timezone.utc)
    error_ns = clock.error_ns_at(second)
    bound = Text("无误差界", "no bound") if error_ns is None else Text(f"±{_seconds(error_ns)}", f"±{_seconds(error_ns)}")
    measured = {"monotonic_advances": second > first, "wall": wall.isoformat(), "source": mapping.source,
                "error_us": None if error_ns is None else -(-error_ns // 1000)}
    seen = Text(f"{wall:%Y-%m-%d %H:%M:%S} UTC，来源 {mapping.source}，{bound.zh}",
                f"{wall:%Y-%m-%d %H:%M:%S} UTC, source {mapping.source}, {bound.en}")
    if second <= first:
        return Result("clock", FAIL, Text(f"{seen.zh}；单调时钟不走", f"{seen.en}; the monotonic clock stands still"),
                      Text("内核时钟故障：送修", "kernel clock fault: send for repair"), measured)
    if wall.year < build_year:
        return Result("clock", FAIL, Text(f"{seen.zh}；早于 {build_year} 年：时间从未设置", f"{seen.en}; before "
                                          f"{build_year}: the time was never set"),
                      Text("到室外等卫星定位，或联网同步；检查 RTC 电池", "take it outside for a GNSS fix or let it reach "
                           "NTP; check the RTC's battery"), measured)
    if mapping.source == "none":
        return Result("clock", WARN, seen, Text("时间无来源：检查 chrony、卫星定位和 RTC", "no time source: check "
                                                "chrony, GNSS and the RTC"), measured)
    return Result("clock", PASS, seen, measured=measured)


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:.3f} s" if ns < 10_000_000_000 else f"{ns / 1e9:.0f} s"
