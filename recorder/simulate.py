"""Run the agent on the simulated body for one scripted recording."""

from .agent import Agent
from .capture.select import open_body
from .clock import SimulatedClock, SystemClock
from .config import Config


def run_simulated(config: Config, store_root, start_at_s: float, duration_s: float, fast: bool):
    """Pre-record from launch, record from start_at for duration, then seal and exit."""
    clock = SimulatedClock() if fast else SystemClock()
    agent = Agent(config, store_root, clock)
    try:
        body = open_body(config, clock, [agent.router], agent.identity.device_id, simulate=True)
        start_ns = body.origin_ns + int(start_at_s * 1e9)
        stop_ns = start_ns + int(duration_s * 1e9)
        body.advance_to(start_ns)
        agent.start_recording("command", at_ns=start_ns)
        body.advance_to(stop_ns)
        agent.stop_recording("command", at_ns=stop_ns)
        body.flush()
    finally:
        agent.shutdown("run-complete")
    return agent
