"""The supervisor: the agent as a child process, restarted after a fault, as systemd's
`Restart=` does on the device (docs/INTERRUPTIONS.md has the unit file).

A fault (a stalled or lost source, an encoder, muxer or seal failure) ends the agent's run
with exit code 75 once everything recorded is sealed; the restart is a fresh process
because PortAudio cannot be brought back in the one that lost its server. The new run
finds the interruption in the ledger and resumes recording. Restarts wait 1, 2, 4 … s
([recovery] restart_backoff_seconds, doubling up to restart_backoff_max_seconds); a run
that lasted healthy_seconds resets the count. After restart_attempts failed restarts in a
row the supervisor gives up: an `unrecoverable` entry and the "cannot continue" cue.

Exit codes of a child and what the supervisor does:
  0   the run ended as asked (a stop, a signal, the script's end)  -> exit 0
  4   the battery is at its critical level: power off               -> exit 4
  75  a fault: restart                                              -> restart
  2   could not run (configuration, store, no capture source): no restart — unless it comes
      in a row of restarts (a source still missing after a fault), when it counts as one
  other (a crash, a kill by a signal): restart, counted
The supervisor itself exits 5 when it gave up.
"""

import logging
import signal
import subprocess
from dataclasses import dataclass, field

from .evidence.ledger import LedgerText, parse_object

log = logging.getLogger("recorder.supervisor")

EXIT_OK, EXIT_CANNOT_RUN, EXIT_POWER_OFF, EXIT_GAVE_UP, EXIT_RESTART = 0, 2, 4, 5, 75
NS = 1_000_000_000


@dataclass
class ChildRun:
    code: int
    seconds: float  # how long the run recorded or waited, by its own ledger entries
    reason: str | None  # its agent_stop reason, when it wrote one


@dataclass
class Supervisor:
    """spawn(attempt) -> exit code of one agent run; sleep(seconds) waits before a restart
    (on simulated time it moves the next child's clock instead); give_up(cause, detail,
    attempts) records and signals the end."""

    spawn: object
    recovery: object  # config.RecoveryConfig
    ledger_path: object
    sleep: object
    give_up: object
    runs: list[ChildRun] = field(default_factory=list)
    stopping: bool = False

    def run(self) -> int:
        failures, in_restarts = 0, False
        while True:
            before = ledger_lines(self.ledger_path)
            code = self.spawn(len(self.runs))
            run = ChildRun(code, *_run_facts(self.ledger_path, before))
            self.runs.append(run)
            log.info("agent exited %d after %.1f s (%s)", code, run.seconds, run.reason)
            if self.stopping or code in (EXIT_OK, EXIT_POWER_OFF) or (code == EXIT_CANNOT_RUN and not in_restarts):
                return code
            if run.seconds >= self.recovery.healthy_seconds:
                failures = 0
            failures += 1
            in_restarts = True
            if failures > self.recovery.restart_attempts:
                detail = (f"{self.recovery.restart_attempts} restart(s) in a row failed; the last run ended "
                          f"with exit code {code} ({run.reason or 'no agent_stop entry'}) after {run.seconds:.1f} s")
                self.give_up(give_up_cause(code, run.reason), detail, failures - 1)
                return EXIT_GAVE_UP
            delay = min(self.recovery.restart_backoff_seconds * 2 ** (failures - 1),
                        self.recovery.restart_backoff_max_seconds)
            log.warning("agent exited %d (%s): restart %d of %d in %.1f s", code, run.reason, failures,
                        self.recovery.restart_attempts, delay)
            self.sleep(delay)
            if self.stopping:
                return code


def give_up_cause(code: int, reason: str | None) -> str:
    """The `unrecoverable` entry's cause: `fault` (runs that ended for a restart), `cannot-run`
    (a source still missing, exit 2), or `crash` (runs that died without their agent_stop)."""
    if reason is not None and reason.startswith("restart:"):
        return "fault"
    if code == EXIT_CANNOT_RUN:
        return "cannot-run"
    return "crash" if reason is None else reason


def ledger_lines(path) -> int:
    """Lines in the ledger now (0 before there is one): where a run's own entries begin."""
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def first_boot_at_us(path, skip_lines: int) -> int | None:
    """When the first run after skip_lines booted (its transition out of `booting`, dated at
    the body's start): where a simulated script's time zero stays across restarts."""
    try:
        lines = LedgerText.parse(path.read_bytes()).lines[skip_lines:]
    except OSError:
        return None
    for line in lines:
        entry = parse_object(line)
        if isinstance(entry, dict) and entry.get("type") == "transition" and entry["body"].get("from") == "booting":
            return entry["at"]["mono_us"]
    return None


def _run_facts(path, skip_lines: int) -> tuple[float, str | None]:
    """(seconds between the child's first and last entries, its agent_stop reason)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 0.0, None
    entries = [parse_object(line) for line in LedgerText.parse(data).lines[skip_lines:]]
    times = [e["at"]["mono_us"] for e in entries if isinstance(e, dict) and isinstance(e.get("at"), dict)
             and isinstance(e["at"].get("mono_us"), int)]
    reason = next((e["body"].get("reason") for e in reversed(entries) if isinstance(e, dict)
                   and e.get("type") == "agent_stop" and isinstance(e.get("body"), dict)), None)
    return ((times[-1] - times[0]) / 1e6 if times else 0.0), reason


def spawn_process(argv_for):
    """A spawn function running `argv_for(attempt)` as a child; SIGTERM and SIGINT given to
    the supervisor go to the child (which seals and stops), and end the supervision."""
    state = {"child": None}

    def spawn(attempt: int) -> int:
        child = subprocess.Popen(argv_for(attempt))
        state["child"] = child
        try:
            return child.wait()
        finally:
            state["child"] = None

    def forward(supervisor: Supervisor):
        def handler(signum, _frame):
            supervisor.stopping = True
            if state["child"] is not None:
                state["child"].send_signal(signum)

        return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    spawn.forward_signals = forward
    return spawn
