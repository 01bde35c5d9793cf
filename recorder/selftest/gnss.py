"""The GNSS receiver [gnss] names, through the agent's own receiver (telemetry/): a fix, its
age and quality. The receiver is opened first and judged last, so it has the whole test to
report; the check then waits at most FIX_TIMEOUT_S more.

FAIL when gpsd cannot be reached or sends nothing (no receiver on the UART, gpsd not
running); WARN when the receiver reports but has no fix (indoors: a first fix needs the sky
and can take minutes); SKIP without a receiver ([gnss] receiver = none).
"""

from .results import FAIL, PASS, SKIP, WARN, Result, Text

FIX_TIMEOUT_S = 10.0
REPORT_LATENCY_S = 1.0  # a fix's report arrives up to a second after the instant it is for (NMEA at 9600 baud)
POLL_NS = 50_000_000


def wait_for_fix(receiver, participants, clock, max_age_ns: int, timeout_s: float = FIX_TIMEOUT_S):
    deadline = clock.monotonic_ns() + round(timeout_s * 1e9)
    while True:
        now = clock.monotonic_ns()
        for participant in participants:  # the simulated sky writes its second into gpsd
            if participant.next_deadline_ns() <= now:
                participant.tick(now)
        fix = receiver.position(now, max_age_ns)
        if fix is not None or now >= deadline:
            return fix
        clock.sleep_until(now + POLL_NS)


def check_gnss(gnss, receiver, participants, clock, timeout_s: float = FIX_TIMEOUT_S) -> Result:
    if gnss.receiver == "none":
        return Result("gnss", SKIP, Text("未装接收机（[gnss] receiver = none）", "no receiver ([gnss] receiver = none)"))
    max_age_ns = round(gnss.max_age_seconds * 1e9)
    fix = wait_for_fix(receiver, participants, clock, max_age_ns, timeout_s)
    where = receiver.description
    if fix is not None:
        return _judge_fix(fix, clock, where)
    if getattr(receiver, "connected", True) is False:
        return Result("gnss", FAIL, Text(f"连不上 {where}", f"cannot reach {where}"),
                      Text("检查 gpsd 服务（systemctl status gpsd）", "check the gpsd service (systemctl status gpsd)"),
                      {"connected": False})
    latest = receiver.latest()
    if latest is None:
        return Result("gnss", FAIL, Text(f"{timeout_s:g} 秒内接收机无报告（{where}）", f"no report from the receiver "
                                         f"within {timeout_s:g} s ({where})"),
                      Text("检查接收机串口连线和 gpsd 设备（hw/gpsd）", "check the receiver's UART wiring and gpsd's "
                           "device (hw/gpsd)"), {"connected": True, "reports": False})
    return Result("gnss", WARN, Text(f"接收机有报告但未定位（{where}）", f"the receiver reports, no fix yet ({where})"),
                  Text("到室外开阔处再试：首次定位可能需要数分钟", "run again outdoors under open sky: a first fix can "
                       "take minutes"), {"connected": True, "reports": True, "mode": latest.mode})


def _judge_fix(fix, clock, where: str) -> Result:
    """A fix, and the wall clock against the receiver's UTC: a clock further off than its
    stated bound (and a report's latency) is not following the receiver."""
    age = fix.age_ns(clock.monotonic_ns()) / 1e9
    measured = {"mode": fix.mode, "lat": fix.lat, "lon": fix.lon, "sats": fix.sats_used, "hdop": fix.hdop,
                "eph_m": fix.eph, "age_s": round(age, 2), "clock_offset_s": None}
    quality = f"{fix.mode}D, {fix.sats_used} sats, HDOP {fix.hdop}, ±{fix.eph} m"
    seen = Text(f"已定位 {quality}，{age:.1f} 秒前（{where}）", f"fix {quality}, {age:.1f} s old ({where})")
    if fix.time_ns is None:
        return Result("gnss", PASS, seen, measured=measured)
    offset_s = (fix.time_ns - clock.wall_ns_at(fix.received_ns)) / 1e9
    measured["clock_offset_s"] = round(offset_s, 3)
    seen = Text(f"{seen.zh}；卫星时间 − 本机时钟 {offset_s:+.2f} 秒", f"{seen.en}; GNSS time − wall clock "
                f"{offset_s:+.2f} s")
    error_ns = clock.error_ns_at(fix.received_ns)
    allowed_s = REPORT_LATENCY_S + (0 if error_ns is None else error_ns / 1e9)
    if abs(offset_s) > allowed_s and error_ns is not None:
        return Result("gnss", WARN, seen, Text("本机时钟偏离卫星时间超出其误差界：检查 chrony 的 GNSS 源",
                                               "the wall clock is further from GNSS time than its bound: check "
                                               "chrony's GNSS source (hw/chrony)"), measured)
    return Result("gnss", PASS, seen, measured=measured)
