"""The one state machine that owns the recorder's mode (table: recorder/evidence/modes.py;
docs/STATE_MACHINE.md).

Control flows here from the buttons, the trigger input, commands (scripts, CLI), the
monitors (battery, storage, capture, the pipeline's own failures) and the pipeline itself
(a session closed). Every mode change is a signed ledger entry with its cause and time,
and drives the indicators.

Rules an officer relies on:
  - a RECORD press or a trigger starts recording; a start asked for while the agent is
    booting or still closing the previous session is kept and carried out as soon as it
    can be, dated at the press (never lost);
  - while recording, a RECORD press only cues "still recording"; only a press that began
    while recording and is held for hold_seconds stops, and the officer feels the
    threshold the moment it is reached;
  - MARK while recording marks a key moment; while resuming it marks too and ends the
    explanation window; otherwise it cues the status;
  - RECORD + MARK held together toggles stealth; it never stops a recording;
  - an interruption (battery, storage, fault) cuts recording at the moment of its cause:
    the session is sealed with that cause and an `interruption` entry names it. Then the
    battery ends the run (the device powers off), a fault ends it for a restart in a fresh
    process, and storage waits in `interrupted` until space is back;
  - recording that an interruption cut resumes as a new session linked to the interrupted
    one (in this run, or the next start): the voice prompt names the cause, and the window
    after it, in which the officer states the reason, is tagged in the ledger.
"""

import logging
import queue
from dataclasses import dataclass

from ..clock import Clock
from ..evidence.modes import (BATTERY, BOOTING, FAULT, INTERRUPTED, OFF, READY, RECORDING, RESUMING, STOPPING,
                              STORAGE, allowed)
from ..io.controls import InputEvent
from ..monitors.base import (BATTERY_CRITICAL, BATTERY_LOW, CAPTURE_FAILED, CAPTURE_STALLED, SEAL_FAILED,
                             STORAGE_FLOOR, STORAGE_FULL, STORAGE_LOW, STORAGE_RECOVERED, WRITE_FAILED, MonitorEvent)

log = logging.getLogger("recorder.state")

# What each monitor event means: the interruption cause it brings, and whether the run then
# ends (and how: the `off` transition's cause). Storage waits for space instead.
INTERRUPTING = {
    BATTERY_CRITICAL: (BATTERY, "shutdown"),
    STORAGE_FLOOR: (STORAGE, None),
    STORAGE_FULL: (STORAGE, None),
    CAPTURE_FAILED: (FAULT, "restart"),
    CAPTURE_STALLED: (FAULT, "restart"),
    WRITE_FAILED: (FAULT, "restart"),
    SEAL_FAILED: (FAULT, "restart"),
}
WARNINGS = {BATTERY_LOW: "battery", STORAGE_LOW: "storage"}
RECORDING_MODES = (RECORDING, RESUMING)


class TransitionError(RuntimeError):
    """A transition the table does not allow: a bug, never an officer's doing."""


@dataclass
class Interruption:
    cause: str
    detail: str
    at_ns: int
    session_id: str | None  # the session it cut, if one was recording
    off_cause: str | None  # the run ends with this `off` cause; None: wait (storage)
    ref: "object | None" = None  # the recorder's handle on its ledger entry, once written


class StateMachine:
    def __init__(self, recorder, indicators, clock: Clock, reminder_seconds: int = 120, request_end=None,
                 explainer=None, resume: bool = True):
        """recorder: the SessionRecorder; request_end(event): asks the agent to end its run;
        explainer: plays the prompt and runs the explanation window (agent/explaining.py);
        resume: record on after an interruption without waiting for a press."""
        self.recorder, self.indicators, self.clock = recorder, indicators, clock
        self.request_end = request_end or (lambda event: None)
        self.explainer = explainer
        self.resume_enabled = resume
        self.reminder_ns = reminder_seconds * 1_000_000_000
        self.mode = BOOTING
        self.session_id: str | None = None
        self.interruption: Interruption | None = None  # the latest, while it is in force
        self.resuming: dict | None = None  # the interrupted session being recorded on after
        self.off_cause: str | None = None  # why the run ends, when an interruption ends it
        self._pending_start: tuple[str, int] | None = None  # (cause, at_ns)
        self._stop_press_at: int | None = None  # a RECORD press that began while recording
        self._next_reminder: int | None = None
        # (session id, stop cause, when it closed), from the pipeline's thread
        self._closed: "queue.SimpleQueue[tuple[str, str, int]]" = queue.SimpleQueue()
        self._cut_short: list = []  # closed sessions not taken in yet (see settle)
        self._storage_back = False  # space came back while the cut session was still closing
        recorder.session_listeners.append(lambda sid, cause, at_ns: self._closed.put((sid, cause, at_ns)))
        indicators.show(BOOTING)

    # -- transitions ------------------------------------------------------------------------
    def _enter(self, target: str, cause: str, at_ns: int, detail: str | None = None):
        if not allowed(self.mode, target, cause):
            raise TransitionError(f"{self.mode} -> {target} ({cause}) is not in the transition table")
        self.recorder.record_transition(self.mode, target, cause, at_ns, self.session_id, detail)
        log.info("%s -> %s (%s)", self.mode, target, cause, extra={"session_id": self.session_id, "cause": cause})
        self.mode = target
        self.indicators.show(target)

    def booted(self, at_ns: int | None = None, resume: dict | None = None):
        """Boot is over. resume: an interrupted session to record on after (the recorder's
        start-up found it), {"session_id", "interruption", "cause"}."""
        at_ns = self._now(at_ns)
        if resume is not None and self.resume_enabled:
            self._resume(resume, at_ns)
            self._pending_start = None  # a press during boot asked for what is happening
            return
        self._enter(READY, "boot", at_ns)
        self._start_pending()

    def start(self, cause: str, at_ns: int | None = None):
        """Start recording, or keep the request until the mode allows it."""
        at_ns = self._now(at_ns)
        if self.mode == READY:
            self._enter(RECORDING, cause, at_ns)  # the ledger shows the mode before the session
            self.session_id = self.recorder.start_recording(cause, at_ns)
            self._next_reminder = at_ns + self.reminder_ns if self.reminder_ns else None
            self.indicators.cue("start", at_ns)
        elif self.mode in (BOOTING, STOPPING):
            if self._pending_start is None:
                self._pending_start = (cause, at_ns)
                log.info("start (%s) kept until %s ends", cause, self.mode)
        elif self.mode in RECORDING_MODES:
            self.indicators.cue("still_recording", at_ns)
        elif self.mode == INTERRUPTED:
            self.indicators.cue("error", at_ns)  # it cannot record now: say so, every time

    def stop(self, cause: str, at_ns: int | None = None):
        at_ns = self._now(at_ns)
        if self.mode not in RECORDING_MODES:
            return
        self._end_explanation("stop", at_ns)
        self._enter(STOPPING, cause, at_ns)
        self.recorder.stop_recording(cause, at_ns)
        self._next_reminder = self._stop_press_at = None
        self.indicators.cue("stop", at_ns)  # after a hold it waits for the threshold cue to end

    def mark(self, cause: str, at_ns: int | None = None):
        at_ns = self._now(at_ns)
        if self.mode in RECORDING_MODES:
            self.recorder.mark(self.session_id, cause, at_ns)
            self.indicators.cue("mark", at_ns)
            if self.mode == RESUMING:  # the officer has said what happened
                self._end_explanation(cause, at_ns)
        else:
            self.indicators.cue("error" if self.mode == INTERRUPTED else "status", at_ns)

    def toggle_stealth(self, cause: str, at_ns: int | None = None):
        at_ns = self._now(at_ns)
        stealth = not self.indicators.stealth
        self.recorder.record_stealth(stealth, cause, at_ns)
        self.indicators.set_stealth(stealth)
        self.indicators.cue("stealth_on" if stealth else "stealth_off", at_ns)

    def interrupt(self, cause: str, detail: str, at_ns: int | None = None, off_cause: str | None = None):
        """Recording (or readiness to record) cut by `cause`: seal at this moment, the
        interruption entry once the session is closed; then end the run with off_cause, or
        wait (storage)."""
        at_ns = self._now(at_ns)
        if self.mode in (INTERRUPTED, OFF):
            if self.interruption is not None and off_cause and not self.interruption.off_cause:
                self.interruption.off_cause = off_cause  # waiting for storage, and now a fault
            return
        self._end_explanation("interrupted", at_ns)
        cut = self.session_id if self.mode in RECORDING_MODES else None
        was = self.mode
        self._enter(INTERRUPTED, cause, at_ns, detail)
        self.interruption = Interruption(cause, detail, at_ns, cut, off_cause)
        self._pending_start = self._next_reminder = self._stop_press_at = None
        self.indicators.cue("error", at_ns)
        if was in RECORDING_MODES:
            self.recorder.stop_recording(cause, at_ns)
        if cut is None:
            self.interruption.ref = self.recorder.record_interruption(None, cause, detail, at_ns)
        self.settle()

    def storage_recovered(self, at_ns: int | None = None):
        """Space is back after a storage interruption: resume what it cut, or be ready."""
        at_ns = self._now(at_ns)
        cut = self.interruption
        if self.mode != INTERRUPTED or cut is None or cut.cause != STORAGE or cut.off_cause:
            return
        if cut.session_id is not None and cut.ref is None:
            self._storage_back = True  # its session is still being closed: settle() comes back
            return
        self._storage_back = False
        self.recorder.storage_recovered()
        self.interruption = None
        if cut.session_id is not None and self.resume_enabled:
            self._resume({"session_id": cut.session_id, "interruption": cut.ref, "cause": cut.cause,
                          "detail": cut.detail}, at_ns)
        else:
            self._enter(READY, "storage-recovered", at_ns)

    def _resume(self, resume: dict, at_ns: int):
        self._enter(RESUMING, "resume", at_ns)
        self.resuming = resume
        self.session_id = self.recorder.start_recording("resume", at_ns, resumes=resume)
        self.indicators.cue("start", at_ns)
        if self.explainer is not None:
            self.explainer.begin(resume["cause"], at_ns, resume.get("detail"))

    def _end_explanation(self, ended_by: str, at_ns: int):
        """Close the explanation window (a MARK, its time up, a stop, an interruption)."""
        if self.mode != RESUMING or self.resuming is None:
            return
        resume, self.resuming = self.resuming, None
        window = self.explainer.end(at_ns) if self.explainer is not None else None
        self.recorder.record_explanation(self.session_id, resume["interruption"], window, ended_by, at_ns)
        if ended_by in ("button:mark", "window-ended"):
            self._enter(RECORDING, ended_by, at_ns)
            self._next_reminder = at_ns + self.reminder_ns if self.reminder_ns else None

    def power_off(self, cause: str, at_ns: int | None = None):
        """The agent is stopping and its last session is closed (loop.finish): drop any
        kept start, take the close into account, and go dark."""
        at_ns = self._now(at_ns)
        self._pending_start = None  # before settle(), which would carry it out
        self.settle()
        if self.mode in (BOOTING, READY):
            self._enter(OFF, cause, at_ns)
        elif self.mode == INTERRUPTED:
            self._enter(OFF, self.off_cause or "shutdown", at_ns)
        self.indicators.show(OFF)

    # -- inputs -----------------------------------------------------------------------------
    def handle(self, event: InputEvent):
        kind, at = event.kind, event.at_ns
        if kind == "record_press":
            # Only a press that begins while recording can become a stop.
            self._stop_press_at = at if self.mode in RECORDING_MODES else None
            self.start("button:record", at)
        elif kind == "record_held":
            if self._stop_press_at is not None and self.mode in RECORDING_MODES:
                self.indicators.cue("hold_reached", at)
                self.stop("button:record-hold", at)
        elif kind == "record_release":
            self._stop_press_at = None
        elif kind == "mark_press":
            self.mark("button:mark", at)
        elif kind == "trigger":
            self.start("trigger", at)
        elif kind == "chord":
            self._stop_press_at = None  # a chord is never a stop
            self.toggle_stealth("button:chord", at)

    def on_monitor_event(self, event: MonitorEvent):
        if event.kind in INTERRUPTING:
            log.error("%s: %s (%s)", event.source, event.kind, event.detail,
                      extra={"session_id": self.session_id, "cause": event.kind})
            cause, off_cause = INTERRUPTING[event.kind]
            self.interrupt(cause, f"{event.kind}: {event.detail}", event.at_ns, off_cause)
            if off_cause is not None:
                self.off_cause = self.off_cause or off_cause
                self.request_end(event)
        elif event.kind in WARNINGS:
            log.warning("%s: %s (%s)", event.source, event.kind, event.detail,
                        extra={"session_id": self.session_id, "cause": event.kind})
            self.recorder.record_warning(WARNINGS[event.kind], event.kind, event.detail, event.at_ns)
            self.indicators.cue("warning", event.at_ns)
            if self.explainer is not None:
                self.explainer.warn(event.kind, event.at_ns)
        elif event.kind == STORAGE_RECOVERED:
            log.warning("%s: %s (%s)", event.source, event.kind, event.detail)
            self.storage_recovered(event.at_ns)

    def tick(self, now_ns: int | None = None):
        """Work that is due: sessions the pipeline closed, kept starts, the explanation
        window's end, reminders."""
        now_ns = self._now(now_ns)
        self.settle()
        if self.mode == RESUMING and self.explainer is not None and self.explainer.due(now_ns):
            self._end_explanation("window-ended", self.explainer.deadline_ns)
        if self.mode == RECORDING and self._next_reminder is not None and now_ns >= self._next_reminder:
            self.indicators.cue("reminder", self._next_reminder)
            while self._next_reminder <= now_ns:
                self._next_reminder += self.reminder_ns

    def settle(self):
        """Take in the sessions the pipeline closed; the transition is dated when it closed.
        A session that closes while still recording was closed by a failure (a full disk,
        a lost source): it waits for the failure's monitor event, which the loop delivers
        next, and the interruption then names it."""
        while True:
            try:
                self._cut_short.append(self._closed.get_nowait())
            except queue.Empty:
                break
        waiting = []
        for closed, stop_cause, closed_ns in self._cut_short:
            if closed != self.session_id:
                continue
            if self.mode in RECORDING_MODES:
                waiting.append((closed, stop_cause, closed_ns))
                continue
            self.session_id = None
            if self.mode == STOPPING:
                self._enter(READY, "session-closed", closed_ns)
                self._start_pending()
            elif self.mode == INTERRUPTED and self.interruption is not None \
                    and self.interruption.session_id == closed:
                self._interrupted_session_closed(self.interruption, stop_cause)
        self._cut_short = waiting

    def _interrupted_session_closed(self, cut: Interruption, stop_cause: str):
        # The entry takes the session's own stop cause: a full disk may have closed it a
        # moment before the battery monitor's event arrived.
        if stop_cause in INTERRUPTING_CAUSES:
            cut.cause = stop_cause
        cut.ref = self.recorder.record_interruption(cut.session_id, cut.cause, cut.detail, cut.at_ns)
        if self._storage_back:
            self.storage_recovered()

    def _start_pending(self):
        if self._pending_start is not None and self.mode == READY:
            cause, at_ns = self._pending_start
            self._pending_start = None
            self.start(cause, at_ns)

    def next_deadline_ns(self) -> int | None:
        if self.mode == RESUMING and self.explainer is not None:
            return self.explainer.deadline_ns
        return self._next_reminder if self.mode == RECORDING else None

    def _now(self, at_ns: int | None) -> int:
        return self.clock.monotonic_ns() if at_ns is None else at_ns


INTERRUPTING_CAUSES = frozenset(cause for cause, _ in INTERRUPTING.values())
