"""The service's watchdog: WATCHDOG=1 to systemd only while the agent is healthy, and the
status line `systemctl status` shows (docs/SERVICE.md).

A loop participant. Being ticked at all is the first half of its health: a run loop that
hangs (a participant stuck, the body's advance_to blocked) stops ticking it, and the pings
stop. The second half is the pipeline: the router's thread beats before every item it
handles and whenever it finds its queue empty (recorder/pipeline/router.py), so a live
thread that keeps up never lets its heartbeat grow older than the slowest single item (a
segment close with its fsync, the ring drain at a press: tens of ms, docs/PERFORMANCE.md).
A heartbeat older than STALL_FRACTION of the watchdog interval, or a pipeline thread that is
gone, withholds the pings; systemd then kills the agent (SIGABRT) and restarts it, and the
new run seals what the dead one left and resumes (docs/INTERRUPTIONS.md).

Time here is real time (time.monotonic_ns), whatever clock the agent runs on: systemd's
watchdog counts real time, and a simulated clock may run faster or slower than it.
"""

import logging
import time

log = logging.getLogger("recorder.watchdog")

# A pipeline heartbeat older than this part of the watchdog interval is a hung pipeline: with
# WatchdogSec=10 s, 5 s — far beyond the slowest item measured (65 ms) — and systemd restarts
# the agent at most 1.5 intervals after the pipeline hung (the last ping, then one interval).
STALL_FRACTION = 0.5


class ServiceWatchdog:
    def __init__(self, notifier, interval_ns: int | None, pipeline, status, monotonic_ns=time.monotonic_ns):
        """notifier: recorder.sdnotify.Notifier; interval_ns: $WATCHDOG_USEC (None: systemd
        asked for no watchdog, only the status is sent); pipeline: the RecordingRouter
        (`stalled_ns()`); status() -> the status line now."""
        self.notifier, self.interval_ns, self.pipeline = notifier, interval_ns, pipeline
        self.status, self.monotonic_ns = status, monotonic_ns
        self.period_ns = interval_ns // 2 if interval_ns else None  # sd_watchdog_enabled(3): half
        self.stall_limit_ns = round(interval_ns * STALL_FRACTION) if interval_ns else None
        self.last_ping_ns: int | None = None
        self.pings = 0
        self.withheld: str | None = None  # why pings are held back now, None while healthy
        self._status_sent: str | None = None

    def next_deadline_ns(self):
        return None  # the loop steps every 20 ms at most: far finer than any ping period

    def start(self):
        """The agent is up (its start-up recovery done, the loop about to run): READY=1 with
        the first status, and the first ping."""
        self._status_sent = self.status()
        self.notifier.ready(self._status_sent)
        self.tick(None)

    def tick(self, now_ns):
        text = self.status()
        if text != self._status_sent:
            self._status_sent = text
            self.notifier.status(text)
        if self.period_ns is None:
            return
        real = self.monotonic_ns()
        if self.last_ping_ns is not None and real - self.last_ping_ns < self.period_ns:
            return
        problem = self.problem(real)
        if problem is not None:
            if self.withheld is None:  # once per episode: the journal says why systemd will act
                log.error("watchdog: %s; WATCHDOG=1 withheld (systemd restarts the agent after %.1f s)",
                          problem, self.interval_ns / 1e9)
            self.withheld = problem
            return
        if self.withheld is not None:
            log.warning("watchdog: the pipeline keeps up again; WATCHDOG=1 resumed")
            self.withheld = None
        self.notifier.watchdog()
        self.last_ping_ns = real
        self.pings += 1

    def problem(self, real_ns: int) -> str | None:
        """Why the agent is not healthy now, or None."""
        stalled = self.pipeline.stalled_ns(real_ns)
        if stalled is None:
            return "the pipeline thread is not running"
        if stalled > self.stall_limit_ns:
            return f"the pipeline thread has not moved for {stalled / 1e9:.1f} s"
        return None

    def stopping(self, status: str):
        self.notifier.stopping(status)


def status_line(machine, router) -> str:
    """What the agent is doing, for `systemctl status` (technicians; English)."""
    mode, session = machine.mode, machine.session_id
    if session is None:
        return mode
    return f"{mode} session {session[:8]}…, segment {router.writer.segment_seq}"
