"""The agent's main loop: capture advances, then every participant gets its tick.

One thread drives everything in time order on the agent's clock. A participant is
anything with `next_deadline_ns()` (when it next needs a tick, or None) and
`tick(now_ns)`: the inputs (recorder/io/controls.py), the monitors, the state
machine, the cues, and on the simulated body the scripted fingers. The body
captures up to the earliest deadline, or at most STEP_NS ahead, so a press is acted
on within one step plus one frame on the device, and a fast scripted shift on a
SimulatedClock replays exactly the same sequence.
"""

import logging
import threading

from ..errors import CaptureError

log = logging.getLogger("recorder.loop")

STEP_NS = 20_000_000  # how long inputs may wait at most: well inside the 200 ms budget


class RunLoop:
    def __init__(self, clock, body, participants, stop_requested: threading.Event | None = None):
        """participants: ticked in this order at each step (inputs before the state machine,
        the state machine before the cues it drives)."""
        self.clock, self.body = clock, body
        self.participants = list(participants)
        # Set from any thread (a signal handler, the state machine, a bench) to end the run.
        self.stop_requested = stop_requested or threading.Event()

    def run(self, end_ns: int | None = None):
        now = self.clock.monotonic_ns()
        while not self.stop_requested.is_set() and (end_ns is None or now < end_ns):
            due = [p.next_deadline_ns() for p in self.participants] + [end_ns]
            target = min([now + STEP_NS] + [d for d in due if d is not None and d > now])
            self.body.advance_to(target)
            self.clock.sleep_until(target)
            now = self.clock.monotonic_ns()
            for participant in self.participants:
                participant.tick(now)


def finish(machine, body, recorder, cause: str, at_ns: int):
    """End of a run: stop recording, push out every packet, close the session, go dark."""
    machine.stop(cause, at_ns)
    try:
        body.close()
    except CaptureError as exc:  # the source is gone; what it delivered is still sealed below
        log.error("capture could not be flushed: %s", exc)
    recorder.router.flush()
    machine.power_off(cause, at_ns)
