"""The agent's main loop: capture advances, inputs are read, the state machine acts.

One thread drives everything in time order on the agent's clock: the body
captures up to the next moment something is due (a scripted step, a debounce
or hold deadline, a cue step, a reminder) or at most STEP_NS ahead, so a press
is acted on within one step plus one frame on the device, and a fast scripted
shift on a SimulatedClock replays exactly the same sequence.
"""

import logging
import threading

from .errors import CaptureError
from .script import Timeline

log = logging.getLogger("recorder.loop")

STEP_NS = 20_000_000  # how long inputs may wait at most: well inside the 200 ms budget


class RunLoop:
    def __init__(self, body, machine, controls, indicators, clock, pull_up: bool = True, stop_requested=None):
        self.body, self.machine, self.controls = body, machine, controls
        self.indicators, self.clock = indicators, clock
        self.pull_up = pull_up
        # Set from any thread (a signal handler, a bench) to end the run.
        self.stop_requested = stop_requested or threading.Event()

    def run(self, timeline: Timeline | None, end_ns: int | None = None):
        """Run until the timeline's end (or end_ns); times in the timeline count from body.origin_ns."""
        origin = self.body.origin_ns
        pins = list(timeline.pins) if timeline else []
        commands = list(timeline.commands) if timeline else []
        if timeline and end_ns is None:
            end_ns = origin + timeline.end_ns
        now = self.clock.monotonic_ns()
        while not self.stop_requested.is_set() and (end_ns is None or now < end_ns):
            due = [
                origin + pins[0].at_ns if pins else None,
                origin + commands[0].at_ns if commands else None,
                self.controls.next_deadline_ns(),
                self.machine.next_deadline_ns(),
                self.indicators.next_deadline_ns(),
                end_ns,
            ]
            target = min([now + STEP_NS] + [d for d in due if d is not None and d > now])
            self.body.advance_to(target)
            self.clock.sleep_until(target)
            now = self.clock.monotonic_ns()
            while pins and origin + pins[0].at_ns <= now:
                self._drive(pins.pop(0))
            while commands and origin + commands[0].at_ns <= now:
                command = commands.pop(0)
                at = origin + command.at_ns
                (self.machine.start if command.name == "start" else self.machine.stop)("command", at)
            for event in self.controls.poll(now):
                self.machine.handle(event)
            self.machine.tick(now)
            self.indicators.tick(now)

    def _drive(self, change):
        """Scripted fingers: move the real (mock) input pin as a contact would."""
        pin = self.controls.pin_of(change.input)
        if change.pressed == self.pull_up:
            pin.drive_low()
        else:
            pin.drive_high()


def finish(machine, body, agent, cause: str, at_ns: int):
    """End of a run: stop recording, push out every packet, close the session, go dark."""
    machine.stop(cause, at_ns)
    try:
        body.flush()
    except CaptureError as exc:  # the source is gone; what it delivered is still sealed below
        log.error("capture could not be flushed: %s", exc)
    agent.router.flush()
    machine.power_off(cause, at_ns)
