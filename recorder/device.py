"""The whole device: agent, capture body, gpiozero inputs and cues, state machine, run loop.

The same assembly runs on a Pi (gpiozero's default pin factory, real capture
sources) and on the simulated body (MockFactory pins, synthetic capture): only
the pin factory and the function that opens the body differ.
"""

import logging
import signal
import sys
import threading
import warnings

from .agent import Agent
from .buttons.controls import Controls
from .buttons.indicators import Indicators
from .config import Config
from .errors import CaptureError, RecorderError
from .runloop import RunLoop, finish
from .script import Timeline
from .state import StateMachine

log = logging.getLogger("recorder")

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
        self.stop_requested = threading.Event()  # ends the run (signals, benches)
        self.announce = log.info  # says which capture sources were chosen, and why

    def run(self, timeline: Timeline | None = None, end_ns: int | None = None) -> Agent:
        """Run until the timeline ends, end_ns, or loop.stop_requested; everything is sealed
        on return. A capture failure closes the session with cause capture-failed and is re-raised."""
        agent, machine = self.agent, self.machine
        try:
            self.body = self.open_body(self.config, self.clock, [agent.router], agent.identity.device_id)
            self.announce(getattr(self.body, "description", ""))
            machine.booted(self.body.origin_ns)
            self.loop = RunLoop(self.body, machine, self.controls, self.indicators, self.clock,
                                self.config.buttons.pull_up, self.stop_requested)
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


def default_pin_factory():
    """gpiozero's pin factory for this board, or a clear error where there is none."""
    from gpiozero import Device as GpioDevice
    from gpiozero.exc import BadPinFactory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gpiozero warns once per library it could not load
        try:
            return GpioDevice._default_pin_factory()
        except BadPinFactory:
            raise RecorderError(
                "no GPIO on this machine (gpiozero found no pin library): use `recorder run --simulate`, "
                "or set GPIOZERO_PIN_FACTORY=mock to record from real capture sources without buttons"
            ) from None


def run_on_device(config: Config, store_root) -> Agent:
    """The device's service: real pins, the capture sources [capture] selects, the system
    clock; runs until SIGTERM or SIGINT, then stops any recording and seals everything."""
    from functools import partial

    from .capture.select import open_body
    from .clock import SystemClock

    device = Device(config, store_root, SystemClock(), default_pin_factory(), partial(open_body, simulate=False))
    device.announce = lambda text: print(f"recorder: {text}", file=sys.stderr, flush=True)
    previous = {sig: signal.signal(sig, lambda *_: device.stop_requested.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return device.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
