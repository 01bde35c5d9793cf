"""The one state machine that owns the recorder's mode (table: recorder/evidence/modes.py).

Control flows here from the buttons, the trigger input, commands (scripts, CLI),
the monitors (a capture source failed, writing or sealing failed) and the pipeline
itself (a session closed). Every mode change is a signed ledger entry with its cause
and time, and drives the indicators.

Rules an officer relies on:
  - a RECORD press or a trigger starts recording; a start asked for while the
    agent is booting or still closing the previous session is kept and carried
    out as soon as it can be, dated at the press (never lost);
  - while recording, a RECORD press only cues "still recording"; only a press
    that began while recording and is held for hold_seconds stops, and the
    officer feels the threshold the moment it is reached;
  - MARK while recording marks a key moment; otherwise it cues the status;
  - RECORD + MARK held together toggles stealth; it never stops a recording;
  - a failure of the device's own pipeline puts it in `fault` at once, with its cue:
    the open session is closed with what is sealed and the run ends (the supervisor
    decides what happens next); a lost capture source closes the session and ends
    the run too.
"""

import logging
import queue

from ..clock import Clock
from ..evidence.modes import BOOTING, FAULT, FAULT_CAUSES, OFF, READY, RECORDING, STOPPING, allowed
from ..io.controls import InputEvent
from ..monitors.base import CAPTURE_FAILED, MonitorEvent

log = logging.getLogger("recorder.state")


class TransitionError(RuntimeError):
    """A transition the table does not allow: a bug, never an officer's doing."""


class StateMachine:
    def __init__(self, recorder, indicators, clock: Clock, reminder_seconds: int = 120, request_end=None):
        """recorder: the SessionRecorder; request_end(event): asks the agent to end its run
        (a monitor reported something the recorder cannot go on with)."""
        self.recorder, self.indicators, self.clock = recorder, indicators, clock
        self.request_end = request_end or (lambda event: None)
        self.reminder_ns = reminder_seconds * 1_000_000_000
        self.mode = BOOTING
        self.session_id: str | None = None
        self._pending_start: tuple[str, int] | None = None  # (cause, at_ns)
        self._stop_press_at: int | None = None  # a RECORD press that began while recording
        self._next_reminder: int | None = None
        # (session id, when it closed), from the pipeline's thread
        self._closed: "queue.SimpleQueue[tuple[str, int]]" = queue.SimpleQueue()
        recorder.session_listeners.append(lambda session_id, at_ns: self._closed.put((session_id, at_ns)))
        indicators.show(BOOTING)

    # -- transitions ------------------------------------------------------------------------
    def _enter(self, target: str, cause: str, at_ns: int, detail: str | None = None):
        if not allowed(self.mode, target, cause):
            raise TransitionError(f"{self.mode} -> {target} ({cause}) is not in the transition table")
        self.recorder.record_transition(self.mode, target, cause, at_ns, self.session_id, detail)
        log.info("%s -> %s (%s)", self.mode, target, cause)
        self.mode = target
        self.indicators.show(target)

    def booted(self, at_ns: int | None = None):
        self._enter(READY, "boot", self._now(at_ns))
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
        elif self.mode == RECORDING:
            self.indicators.cue("still_recording", at_ns)
        elif self.mode == FAULT:
            self.indicators.cue("error", at_ns)  # it cannot record: say so, every time

    def stop(self, cause: str, at_ns: int | None = None):
        at_ns = self._now(at_ns)
        if self.mode != RECORDING:
            return
        self._enter(STOPPING, cause, at_ns)
        self.recorder.stop_recording(cause, at_ns)
        self._next_reminder = self._stop_press_at = None
        self.indicators.cue("stop", at_ns)  # after a hold it waits for the threshold cue to end

    def mark(self, cause: str, at_ns: int | None = None):
        at_ns = self._now(at_ns)
        if self.mode == RECORDING:
            self.recorder.mark(self.session_id, cause, at_ns)
            self.indicators.cue("mark", at_ns)
        else:
            self.indicators.cue("error" if self.mode == FAULT else "status", at_ns)

    def toggle_stealth(self, cause: str, at_ns: int | None = None):
        at_ns = self._now(at_ns)
        stealth = not self.indicators.stealth
        self.recorder.record_stealth(stealth, cause, at_ns)
        self.indicators.set_stealth(stealth)
        self.indicators.cue("stealth_on" if stealth else "stealth_off", at_ns)

    def fault(self, cause: str, at_ns: int | None = None, detail: str | None = None):
        """The device's own pipeline failed: fault mode, its cue, the session closed with
        what is sealed, and the run ends."""
        at_ns = self._now(at_ns)
        if self.mode in (FAULT, OFF):
            return
        recording = self.mode in (RECORDING, STOPPING)
        self._enter(FAULT, cause, at_ns, detail)
        if recording:
            self.recorder.stop_recording(cause, at_ns)
        self._pending_start = self._next_reminder = self._stop_press_at = None
        self.indicators.cue("error", at_ns)

    def power_off(self, cause: str, at_ns: int | None = None):
        """The agent is stopping and its last session is closed (loop.finish): drop any
        kept start, take the close into account, and go dark."""
        at_ns = self._now(at_ns)
        self._pending_start = None  # before settle(), which would carry it out
        self.settle()
        if self.mode in (BOOTING, READY):
            self._enter(OFF, cause, at_ns)
        elif self.mode == FAULT:
            self._enter(OFF, "shutdown", at_ns)
        self.indicators.show(OFF)

    # -- inputs -----------------------------------------------------------------------------
    def handle(self, event: InputEvent):
        kind, at = event.kind, event.at_ns
        if kind == "record_press":
            # Only a press that begins while recording can become a stop.
            self._stop_press_at = at if self.mode == RECORDING else None
            self.start("button:record", at)
        elif kind == "record_held":
            if self._stop_press_at is not None and self.mode == RECORDING:
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
        log.error("%s: %s (%s)", event.source, event.kind, event.detail)
        if event.kind in FAULT_CAUSES:
            self.fault(event.kind, event.at_ns, event.detail)
            self.request_end(event)
        elif event.kind == CAPTURE_FAILED:
            self.stop(CAPTURE_FAILED, event.at_ns)
            self.request_end(event)

    def tick(self, now_ns: int | None = None):
        """Work that is due: sessions the pipeline closed, kept starts, reminders."""
        now_ns = self._now(now_ns)
        self.settle()
        if self.mode == RECORDING and self._next_reminder is not None and now_ns >= self._next_reminder:
            self.indicators.cue("reminder", self._next_reminder)
            while self._next_reminder <= now_ns:
                self._next_reminder += self.reminder_ns

    def settle(self):
        """Take in the sessions the pipeline closed; the transition is dated when it closed."""
        while True:
            try:
                closed, closed_ns = self._closed.get_nowait()
            except queue.Empty:
                return
            if closed != self.session_id:
                continue
            if self.mode == STOPPING:
                self._enter(READY, "session-closed", closed_ns)
                self.session_id = None
                self._start_pending()
            elif self.mode == FAULT:
                self.session_id = None

    def _start_pending(self):
        if self._pending_start is not None and self.mode == READY:
            cause, at_ns = self._pending_start
            self._pending_start = None
            self.start(cause, at_ns)

    def next_deadline_ns(self) -> int | None:
        return self._next_reminder if self.mode == RECORDING else None

    def _now(self, at_ns: int | None) -> int:
        return self.clock.monotonic_ns() if at_ns is None else at_ns
