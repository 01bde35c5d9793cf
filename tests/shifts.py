"""Running a simulated agent in-process on a SimulatedClock, and reading its ledger and pins."""

import json
from pathlib import Path

from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.sim.script import Timeline, parse_timeline
from recorder.sim.agent import SimulatedAgent

# Tiny and quick: the state machine is under test here, not the picture.
TINY = {
    "video": {"width": 64, "height": 48, "fps": 10, "bitrate": 100_000, "preset": "ultrafast"},
    "audio": {"enabled": False},
    "prerecord": {"seconds": 2},
    "segments": {"seconds": 10},
}


def run_device(store: Path, timeline: Timeline | str, overrides: dict | None = None) -> SimulatedAgent:
    settings = {section: dict(values) for section, values in TINY.items()}
    for section, values in (overrides or {}).items():
        settings.setdefault(section, {}).update(values)
    agent = SimulatedAgent(config_from_dict(settings), store, SimulatedClock())
    return agent.play(parse_timeline(timeline) if isinstance(timeline, str) else timeline)


def pin_writes(agent: SimulatedAgent, output: str) -> list[tuple[float, bool]]:
    """[(seconds since launch, level)] of every change the output's pin went through, read
    from the mock pin's own history (on the agent's clock), active-high or not."""
    origin = agent.body.origin_ns
    active_high = agent.config.cues.active_high
    return [(round((t - origin) / 1e9, 3), level == active_high)
            for t, level in agent.pin(output).values(since_ns=origin)]


def ledger(store: Path) -> list[dict]:
    return [json.loads(line) for line in (store / "ledger" / "ledger.jsonl").read_text().splitlines()]


def of_type(entries: list[dict], kind: str) -> list[dict]:
    return [e for e in entries if e["type"] == kind]


def transitions(store: Path) -> list[tuple[str, str, str]]:
    return [(e["body"]["from"], e["body"]["to"], e["body"]["cause"]) for e in of_type(ledger(store), "transition")]


def since_launch_s(entry: dict, origin_mono_us: int) -> float:
    return (entry["at"]["mono_us"] - origin_mono_us) / 1e6


def origin_us(store: Path) -> int:
    """The body's origin: the boot transition is dated at it."""
    boot = next(e for e in ledger(store) if e["type"] == "transition" and e["body"]["cause"] == "boot")
    return boot["at"]["mono_us"]
