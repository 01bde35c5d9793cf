"""One self-test: every check in turn, each on the parts the agent itself opens (bench.py),
each turned into a Result whatever happens to it — a check that raises is a FAIL naming the
error, never the end of the test.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .battery import check_battery
from .buttons import check_buttons
from .capture import check_capture
from .cues import check_cues
from .gnss import check_gnss
from .identity import check_identity, device_id_of
from .results import FAIL, Result, Text
from .storage import check_storage
from .wallclock import check_clock

log = logging.getLogger(__name__)

DEFAULT_BUTTON_TIMEOUT_S = 10.0
LISTEN = Text("摄像头对准有光的场景；随后留意扬声器的短促提示音", "Point the camera at a lit scene, then listen for a "
              "short tone from the speaker")
WATCH = Text("请看灯、听蜂鸣器、手握设备：各提示输出依次接通 0.3 秒", "Watch the LEDs, listen to the buzzer, hold the "
             "device: each cue output comes on for 0.3 s in turn")


@dataclass
class Options:
    store: str
    identity: str
    button_timeout_s: float = DEFAULT_BUTTON_TIMEOUT_S
    now: datetime | None = None  # for the certificates' expiry; default: the clock's wall time


@dataclass
class Report:
    simulated: bool
    device_id: str | None
    results: list[Result] = field(default_factory=list)


def run_selftest(config, bench, clock, options: Options) -> Report:
    report = Report(bench.simulated, device_id_of(options.identity))
    results = report.results
    opened = _guarded(("gnss",), lambda: bench.open_receiver(config.gnss, clock))  # first: it has the whole
    receiver, feeders = opened if isinstance(opened, tuple) else (None, [])  # test to find a fix
    try:
        now = options.now or datetime.fromtimestamp(clock.wall_ns_at(clock.monotonic_ns()) / 1e9, tz=timezone.utc)
        results += _guarded(("clock",), lambda: [check_clock(clock)])
        results += _guarded(("keys", "certificates"), lambda: check_identity(options.identity, now, bench.simulated))
        results += _guarded(("storage.space", "storage.write", "storage.partition"),
                            lambda: check_storage(config, options.store, clock, bench.simulated))
        results += _guarded(("battery",), lambda: [check_battery(config.power, clock, bench.simulated)])
        bench.technician.tell(LISTEN)
        results += _guarded(("camera", "microphone", "speaker"),
                            lambda: check_capture(config, clock, bench.open_body, report.device_id or "selftest"))
        bench.technician.tell(WATCH)
        results += _guarded(("cues",), lambda: check_cues(config, clock, bench.pin_factory))
        results += _guarded(("buttons",), lambda: check_buttons(config, clock, bench.pin_factory, bench.technician,
                                                                options.button_timeout_s))
        results += opened if receiver is None else _guarded(
            ("gnss",), lambda: [check_gnss(config.gnss, receiver, feeders, clock)])
    finally:
        if receiver is not None:
            receiver.close()
    return report


def _guarded(checks, run):
    """What run() returns, or a FAIL for each of `checks` naming what it raised."""
    try:
        return run()
    except Exception as exc:  # a check that breaks says so in its line; the others still run
        log.exception("self-test of %s failed", ", ".join(checks))
        text = f"{type(exc).__name__}: {exc}"
        return [Result(check, FAIL, Text(f"检查出错：{text}", f"the check failed: {text}"),
                       Text("查看日志（-v）", "see the log (-v)"), {"error": text}) for check in checks]
