"""The simulated body's device: synthetic capture, gpiozero devices on MockFactory pins."""

from functools import partial

from gpiozero.pins.mock import MockFactory

from .agent import Agent
from .capture.select import open_body
from .clock import SimulatedClock, SystemClock
from .config import Config
from .device import Device
from .script import Timeline, parse_timeline


def command_timeline(start_at_s: float, duration_s: float) -> Timeline:
    """--start-at/--duration: recording started and stopped by command, then the run ends."""
    stop_s = start_at_s + duration_s
    return parse_timeline(f"start @{start_at_s:.6f}s; stop @{stop_s:.6f}s; end @{stop_s:.6f}s")


class SimulatedDevice(Device):
    def __init__(self, config: Config, store_root, clock, pin_factory=None):
        super().__init__(config, store_root, clock, pin_factory or MockFactory(),
                         partial(open_body, simulate=True))


def run_simulated(config: Config, store_root, timeline: Timeline, fast: bool) -> Agent:
    clock = SimulatedClock() if fast else SystemClock()
    return SimulatedDevice(config, store_root, clock).run(timeline)
