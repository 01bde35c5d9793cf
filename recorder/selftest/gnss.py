"""The GNSS receiver [gnss] names, through the agent's own receiver (telemetry/): a fix, its
age and quality. The receiver is opened first and judged last, so it has the whole test to
report; the check then waits at most FIX_TIMEOUT_S more.

FAIL when gpsd cannot be reached or sends nothing (no receiver on the UART, gpsd not
running); WARN when the receiver reports but has no fix (indoors: a first fix needs the sky
and can take minutes); SKIP without a receiver ([gnss] receiver = none).
"""

from .results import FAIL, PASS, SKIP, WARN, Result, Text

FIX_TIMEOUT_S = 10.0
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
        age = fix.age_ns(clock.monotonic_ns()) / 1e9
        measured = {"mode": fix.mode, "lat": fix.lat, "lon": fix.lon, "sats": fix.sats_used, "hdop": fix.hdop,
                    "eph_m": fix.eph, "age_s": round(age, 2)}
        quality = f"{fix.mode}D, {fix.sats_used} sats, HDOP {fix.hdop}, ±{fix.eph} m"
        return Result("gnss", PASS, Text(f"已定位 {quality}，{age:.1f} 秒前（{where}）",
                                         f"fix {quality}, {age:.1f} s old ({where})"), measured=measured)
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
