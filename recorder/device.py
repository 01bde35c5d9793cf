"""The whole device: agent, capture body, gpiozero inputs and cues, state machine, run loop.

The same assembly runs on a Pi (gpiozero's default pin factory, real capture
sources) and on the simulated body (MockFactory pins, synthetic capture): only
the pin factory and the function that opens the body differ.
"""

import threading

from .agent import Agent
from .buttons.controls import Controls
from .buttons.indicators import Indicators
from .config import Config
from .errors import CaptureError
from .runloop import RunLoop, finish
from .script import Timeline
from .state import StateMachine

CUE_OUTPUTS = ("green", "red", "amber", "buzzer", "vibration")


class Device:
    def __init__(self, config: Config, store_root, clock, pin_factory, open_body):
        """open_body(config, clock, outputs, device_id) -> a body (SimulatedBody's interface)."""
        self.config, self.clock, self.open_body = config, clock, open_body
        self.pin_factory = pin_factory
        cues = config.cues
        self.indicators = Indicators(
            {name: getattr(cues, name) or None for name in CUE_OUTPUTS},
            clock,
            pin_factory=pin_factory,
            active_high={name: cues.active_high for name in CUE_OUTPUTS},
            stealth=cues.stealth,
            stealth_vibration=cues.stealth_vibration,
        )
        try:
            self.controls = Controls(config.buttons, clock, pin_factory)
            try:
                self.agent = Agent(config, store_root, clock)
            except BaseException:
                self.controls.close()
                raise
        except BaseException:
            self.indicators.close()
            raise
        self.machine = StateMachine(self.agent, self.indicators, clock, cues.reminder_seconds)
        self.body = None
        self.loop: RunLoop | None = None
        self.started = threading.Event()  # the loop runs: inputs are being read

    def run(self, timeline: Timeline | None = None, end_ns: int | None = None) -> Agent:
        """Run until the timeline ends, end_ns, or loop.stop_requested; everything is sealed
        on return. A capture failure closes the session with cause capture-failed and is re-raised."""
        agent, machine = self.agent, self.machine
        try:
            self.body = self.open_body(self.config, self.clock, [agent.router], agent.identity.device_id)
            machine.booted(self.body.origin_ns)
            self.loop = RunLoop(self.body, machine, self.controls, self.indicators, self.clock,
                                self.config.buttons.pull_up)
            self.started.set()
            try:
                self.loop.run(timeline, end_ns)
            except CaptureError:
                finish(machine, self.body, agent, "capture-failed", self.clock.monotonic_ns())
                raise
            finish(machine, self.body, agent, "shutdown", self.clock.monotonic_ns())
        finally:
            agent.shutdown("run-complete")
            self.controls.close()
            self.indicators.close()
        return agent
