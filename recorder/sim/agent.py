"""The simulated body's agent: synthetic capture, gpiozero devices on mock pins whose
history is kept on the agent's clock, shifts played from a script."""

from ..clock import CLOCK_SOURCES, SimulatedClock, SystemClock, TimeMapping
from ..config import Config
from ..agent.assembly import Agent, stopped_by_signals
from ..evidence.layout import StoreLayout
from ..evidence.ledger import last_entry
from ..seal.recovery import written_extent
from .body import open_simulated_body
from .doubles import ClockedMockFactory
from .fingers import scripted
from .script import Timeline, parse_timeline


def command_timeline(start_at_s: float, duration_s: float) -> Timeline:
    """--start-at/--duration: recording started and stopped by command, then the run ends."""
    stop_s = start_at_s + duration_s
    return parse_timeline(f"start @{start_at_s:.6f}s; stop @{stop_s:.6f}s; end @{stop_s:.6f}s")


class SimulatedAgent(Agent):
    def __init__(self, config: Config, store_root, clock, pin_factory=None, identity_dir=None):
        """identity_dir: the device's keys (default: [device] identity, or beside the store),
        made there when there are none: the simulated body needs no provisioning."""
        super().__init__(config, store_root, clock, pin_factory or ClockedMockFactory(clock), open_simulated_body,
                         identity_dir)

    def play(self, timeline: Timeline, origin_ns: int | None = None) -> "SimulatedAgent":
        """Run the shift the timeline describes (on a simulated clock, with the pipeline kept
        in step with it); origin_ns: where the timeline's zero is (a restarted run's
        predecessor's start), by default the body's start."""
        self.run(scripted(timeline, in_step=isinstance(self.clock, SimulatedClock), origin_ns=origin_ns))
        return self

    def pin(self, name: str):
        """The mock pin behind a cue output or an input (by its setting's name), for reading
        its history; still there after the agent closed."""
        section = self.config.buttons if hasattr(self.config.buttons, name) else self.config.cues
        return self.pin_factory.pin(getattr(section, name))


def continued_clock(store_root, after_s: float = 1.0) -> SimulatedClock:
    """A simulated clock that goes on `after_s` after the store's last ledger entry (its
    monotonic and wall time), as a device's clocks go on after a restart; a fresh clock for
    a store without one. Successive fast runs on one store never run time backwards."""
    layout = StoreLayout(store_root)
    last = last_entry(layout.ledger_path)
    at = last.get("at") if last is not None else None
    if not isinstance(at, dict) or not isinstance(at.get("mono_us"), int) or not isinstance(at.get("wall_us"), int):
        return SimulatedClock()
    # A run that died recorded on after its last entry: what its unsealed files hold counts too.
    extents = [written_extent(path) for pattern in ("*/*.mp4.partial", "*/*.mp4.age.partial")
               for path in layout.media_dir.glob(pattern)]
    mono_us = max([at["mono_us"]] + [end for _, end in filter(None, extents)])
    wall_us = at["wall_us"] + mono_us - at["mono_us"]
    gap_ns = round(after_s * 1e9)
    # The device's clock went on as it was (a restart is not a reboot): the same source, its
    # bound grown by the drift since the last entry; a store written before format 4 (or a
    # clock that stated no bound) starts from the RTC's.
    source, error_us = at.get("clock"), at.get("error_us")
    if source not in CLOCK_SOURCES or (error_us is None and source != "none"):
        source, error_ns = "rtc", SimulatedClock.RTC_ERROR_NS
    else:
        error_ns = TimeMapping(at["mono_us"] * 1000, 0, source, None if error_us is None else error_us * 1000
                               ).error_at(mono_us * 1000 + gap_ns)
    return SimulatedClock(start_wall_ns=wall_us * 1000 + gap_ns, start_monotonic_ns=mono_us * 1000 + gap_ns,
                          source=source, error_ns=error_ns)


def run_simulated(config: Config, store_root, timeline: Timeline, fast: bool, origin_ns: int | None = None,
                  after_s: float = 1.0, identity_dir=None) -> SimulatedAgent:
    clock = continued_clock(store_root, after_s) if fast else SystemClock()
    agent = SimulatedAgent(config, store_root, clock, identity_dir=identity_dir)
    # Under a service manager (the image's boot test) a stop or a power off is SIGTERM: seal
    # and stop as the device's run does.
    with stopped_by_signals(agent):
        return agent.play(timeline, origin_ns)
