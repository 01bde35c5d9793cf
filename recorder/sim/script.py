"""Scripted shifts for the simulated body: a timeline of presses, holds, marks, triggers.

    press record @5s; mark @20s; hold record 1s @30s; hold record 3.5s @65s

Steps are separated by `;` or new lines; `#` starts a comment. Times are from
launch; numbers take `ms`, `s` (default) or `min`. Steps:
    press INPUT @T            a short press (150 ms) of record | mark | trigger
    hold INPUT D @T           held down for D
    mark @T                   = press mark
    trigger [D] @T            the trigger input active for D (default 200 ms)
    chord D @T                RECORD and MARK held together for D
    start @T / stop @T        commands (not buttons): recording started or stopped by command
    end @T                    end of the run (default: 2 s after the last step)
Button steps drive the real gpiozero input pins (MockFactory), so a script goes
through the same debouncing, hold and chord logic as an officer's fingers.
"""

import re
from pathlib import Path
from typing import NamedTuple

from ..config.settings import INPUTS
from ..errors import RecorderError

SHORT_PRESS_NS = 150_000_000
TRIGGER_PULSE_NS = 200_000_000
TAIL_NS = 2_000_000_000
UNITS = {"ms": 1_000_000, "s": 1_000_000_000, "min": 60_000_000_000}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|min)?$")


class ScriptError(RecorderError):
    """A timeline that cannot be run; the message names the step."""


class PinChange(NamedTuple):
    at_ns: int
    input: str
    pressed: bool


class Command(NamedTuple):
    at_ns: int
    name: str  # start | stop


class Timeline(NamedTuple):
    pins: list[PinChange]
    commands: list[Command]
    end_ns: int
    steps: list[str]


def parse_duration(text: str, what: str) -> int:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{what} {text!r} is not a time like 5s, 250ms or 2min")
    return round(float(match.group(1)) * UNITS[match.group(2) or "s"])


def parse_timeline(text: str) -> Timeline:
    pins: list[PinChange] = []
    commands: list[Command] = []
    busy: dict[str, list[tuple[int, int, str]]] = {name: [] for name in INPUTS}
    end_ns, last_ns, steps = None, 0, []
    raw_steps = [part.split("#", 1)[0].strip() for line in text.splitlines() for part in line.split(";")]
    for number, step in enumerate((s for s in raw_steps if s), start=1):
        try:
            action, at_ns = _split_time(step)
            words = action.split()
            kind, args = words[0].lower(), words[1:]
            if kind == "end":
                _expect(args, 0)
                end_ns = at_ns
                continue
            if kind in ("start", "stop"):
                _expect(args, 0)
                commands.append(Command(at_ns, kind))
                last_ns = max(last_ns, at_ns)
                steps.append(step)
                continue
            for name, down_ns in _presses(kind, args):
                for start, stop, other in busy[name]:
                    if at_ns < stop and start < at_ns + down_ns:
                        raise ValueError(f"{name} is already held then by step '{other}'")
                busy[name].append((at_ns, at_ns + down_ns, step))
                pins += [PinChange(at_ns, name, True), PinChange(at_ns + down_ns, name, False)]
                last_ns = max(last_ns, at_ns + down_ns)
            steps.append(step)
        except ValueError as exc:
            raise ScriptError(f"script step {number} '{step}': {exc}") from None
    if not steps:
        raise ScriptError("the script has no steps")
    end_ns = last_ns + TAIL_NS if end_ns is None else end_ns
    if end_ns < last_ns:
        raise ScriptError(f"script ends at {end_ns / 1e9:g}s, before its last step at {last_ns / 1e9:g}s")
    pins.sort(key=lambda change: (change.at_ns, change.pressed))  # a release before a press at one instant
    commands.sort()
    return Timeline(pins, commands, end_ns, steps)


def _split_time(step: str) -> tuple[str, int]:
    action, sep, when = step.rpartition("@")
    if not sep or not action.strip():
        raise ValueError("needs an action and a time, like 'press record @5s'")
    return action.strip(), parse_duration(when, "time")


def _expect(args: list[str], count: int):
    if len(args) != count:
        raise ValueError(f"expected {count} argument(s), got {len(args)}")


def _input(name: str) -> str:
    if name.lower() not in INPUTS:
        raise ValueError(f"unknown input {name!r} (inputs: {', '.join(INPUTS)})")
    return name.lower()


def _presses(kind: str, args: list[str]) -> list[tuple[str, int]]:
    """(input, held for ns) pairs a button step makes."""
    if kind == "press":
        _expect(args, 1)
        return [(_input(args[0]), SHORT_PRESS_NS)]
    if kind == "hold":
        _expect(args, 2)
        return [(_input(args[0]), parse_duration(args[1], "hold"))]
    if kind == "mark":
        _expect(args, 0)
        return [("mark", SHORT_PRESS_NS)]
    if kind == "trigger":
        if len(args) > 1:
            raise ValueError("trigger takes at most a duration")
        return [("trigger", parse_duration(args[0], "pulse") if args else TRIGGER_PULSE_NS)]
    if kind == "chord":
        _expect(args, 1)
        held = parse_duration(args[0], "chord")
        return [("record", held), ("mark", held)]
    raise ValueError(f"unknown step {kind!r} (steps: press, hold, mark, trigger, chord, start, stop, end)")


def load_timeline(value: str) -> Timeline:
    """--script: a file name, or the timeline itself."""
    path = Path(value)
    if "@" not in value and path.exists():
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScriptError(f"cannot read script {path}: {exc}") from None
    elif "@" not in value:
        raise ScriptError(f"--script {value!r} is neither a file nor a timeline like 'press record @5s'")
    return parse_timeline(value)
