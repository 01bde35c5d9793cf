"""The simulated body's agent: synthetic capture, gpiozero devices on mock pins whose
history is kept on the agent's clock, shifts played from a script."""

from ..clock import SimulatedClock, SystemClock
from ..config import Config
from ..agent.assembly import Agent
from .body import open_simulated_body
from .doubles import ClockedMockFactory
from .fingers import scripted
from .script import Timeline, parse_timeline


def command_timeline(start_at_s: float, duration_s: float) -> Timeline:
    """--start-at/--duration: recording started and stopped by command, then the run ends."""
    stop_s = start_at_s + duration_s
    return parse_timeline(f"start @{start_at_s:.6f}s; stop @{stop_s:.6f}s; end @{stop_s:.6f}s")


class SimulatedAgent(Agent):
    def __init__(self, config: Config, store_root, clock, pin_factory=None):
        super().__init__(config, store_root, clock, pin_factory or ClockedMockFactory(clock), open_simulated_body)

    def play(self, timeline: Timeline) -> "SimulatedAgent":
        """Run the shift the timeline describes (on a simulated clock, with the pipeline kept
        in step with it)."""
        self.run(scripted(timeline, in_step=isinstance(self.clock, SimulatedClock)))
        return self

    def pin(self, name: str):
        """The mock pin behind a cue output or an input (by its setting's name), for reading
        its history; still there after the agent closed."""
        section = self.config.buttons if hasattr(self.config.buttons, name) else self.config.cues
        return self.pin_factory.pin(getattr(section, name))


def run_simulated(config: Config, store_root, timeline: Timeline, fast: bool) -> SimulatedAgent:
    clock = SimulatedClock() if fast else SystemClock()
    return SimulatedAgent(config, store_root, clock).play(timeline)
