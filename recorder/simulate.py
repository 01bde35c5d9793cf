"""Run the agent on the simulated body: buttons on MockFactory pins, a scripted shift."""

import threading

from gpiozero.pins.mock import MockFactory

from .agent import Agent
from .buttons.controls import Controls
from .buttons.indicators import Indicators
from .capture.body import SimulatedBody
from .clock import SimulatedClock, SystemClock
from .config import Config
from .errors import CaptureError
from .runloop import RunLoop, finish
from .script import Timeline, parse_timeline
from .state import StateMachine

CUE_OUTPUTS = ("green", "red", "amber", "buzzer", "vibration")


def command_timeline(start_at_s: float, duration_s: float) -> Timeline:
    """--start-at/--duration: recording started and stopped by command, then the run ends."""
    stop_s = start_at_s + duration_s
    return parse_timeline(f"start @{start_at_s:.6f}s; stop @{stop_s:.6f}s; end @{stop_s:.6f}s")


class SimulatedDevice:
    """Agent + simulated body + gpiozero inputs and outputs on MockFactory pins."""

    def __init__(self, config: Config, store_root, clock, pin_factory=None):
        self.config, self.clock = config, clock
        self.pin_factory = pin_factory or MockFactory()
        cues = config.cues
        self.indicators = Indicators(
            {name: getattr(cues, name) or None for name in CUE_OUTPUTS},
            clock,
            pin_factory=self.pin_factory,
            active_high={name: cues.active_high for name in CUE_OUTPUTS},
            stealth=cues.stealth,
            stealth_vibration=cues.stealth_vibration,
        )
        self.controls = Controls(config.buttons, clock, self.pin_factory)
        self.agent = Agent(config, store_root, clock)
        self.machine = StateMachine(self.agent, self.indicators, clock, cues.reminder_seconds)
        self.body = None
        self.loop: RunLoop | None = None
        self.started = threading.Event()  # the loop runs: inputs are being read

    def run(self, timeline: Timeline | None, end_ns: int | None = None):
        agent, machine = self.agent, self.machine
        try:
            self.body = SimulatedBody(self.config, self.clock, [agent.router])
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


def run_simulated(config: Config, store_root, timeline: Timeline, fast: bool) -> Agent:
    clock = SimulatedClock() if fast else SystemClock()
    return SimulatedDevice(config, store_root, clock).run(timeline)
