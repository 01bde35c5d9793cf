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
    say FILE.wav @T           the microphone hears a WAV file (integer PCM; a path from the
                              working directory) from T on
    speak [LANG] "TEXT" @T    the microphone hears TEXT spoken by espeak-ng from T on (LANG
                              zh-CN or en, by default zh-CN when TEXT has CJK characters, else
                              en; espeak-ng must be installed: a test tool). TEXT cannot hold
                              `;`, `#` or a double quote (use the full-width ；).
    stall camera [D] @T       the camera delivers no frame from T on, for D or for good (a
                              run restarted after the stall finds it still stalled)
    hang pipeline @T          the pipeline's thread blocks for good at its next write from T on
                              (a muxer stuck in a write): its heartbeat stops, the service
                              watchdog withholds WATCHDOG=1 and systemd kills the agent; off
                              systemd nothing ends the run (agent/watchdog.py)
    at LAT,LON @T             the body stands there from T on (GNSS: sim/path.py)
    walk LAT,LON D @T         it walks there from where it is, arriving after D
    indoors [D] @T            in a building: no fix from T for D, or for good
    end @T                    end of the run (default: 2 s after the last step or sound)
Button steps drive the real gpiozero input pins (MockFactory), so a script goes
through the same debouncing, hold and chord logic as an officer's fingers; sounds go
into the simulated body's microphone (SimulatedBody.play_into_microphone), so they are
recorded and heard by its listeners, as an officer's voice would be.
"""

import io
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..config.settings import INPUTS
from ..errors import RecorderError
from .path import PathStep, parse_path_step

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


class Sound(NamedTuple):
    at_ns: int
    samples: np.ndarray  # float32 mono
    rate: int
    step: str

    @property
    def duration_ns(self) -> int:
        return len(self.samples) * 1_000_000_000 // self.rate


class Stall(NamedTuple):
    at_ns: int
    end_ns: int | None  # None: the camera never comes back


class Hang(NamedTuple):
    at_ns: int  # the pipeline's thread blocks for good at its next write from then on


class Timeline(NamedTuple):
    pins: list[PinChange]
    commands: list[Command]
    end_ns: int
    steps: list[str]
    sounds: tuple = ()  # Sound, in time order
    stalls: tuple = ()  # Stall, in time order
    path: tuple = ()  # sim/path.py PathStep, in time order
    hangs: tuple = ()  # Hang, in time order


def parse_duration(text: str, what: str) -> int:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{what} {text!r} is not a time like 5s, 250ms or 2min")
    return round(float(match.group(1)) * UNITS[match.group(2) or "s"])


def parse_timeline(text: str) -> Timeline:
    pins: list[PinChange] = []
    commands: list[Command] = []
    sounds: list[Sound] = []
    stalls: list[Stall] = []
    hangs: list[Hang] = []
    path: list[PathStep] = []
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
            if kind in ("say", "speak"):
                samples, rate = _say(action) if kind == "say" else _speak(action)
                sounds.append(Sound(at_ns, samples, rate, step))
                last_ns = max(last_ns, at_ns + len(samples) * 1_000_000_000 // rate)
                steps.append(step)
                continue
            if kind == "stall":
                stall = _stall(args, at_ns)
                stalls.append(stall)
                last_ns = max(last_ns, at_ns if stall.end_ns is None else stall.end_ns)
                steps.append(step)
                continue
            if kind == "hang":
                if args != ["pipeline"]:
                    raise ValueError("expected 'hang pipeline @T'")
                hangs.append(Hang(at_ns))
                last_ns = max(last_ns, at_ns)
                steps.append(step)
                continue
            if kind in ("at", "walk", "indoors"):
                move = parse_path_step(kind, args, at_ns, parse_duration)
                path.append(move)
                last_ns = max(last_ns, at_ns + (move.duration_ns or 0))
                steps.append(step)
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
    if not steps and end_ns is None:  # `end @T` alone is a shift in which nobody touches anything
        raise ScriptError("the script has no steps")
    end_ns = last_ns + TAIL_NS if end_ns is None else end_ns
    if end_ns < last_ns:
        raise ScriptError(f"script ends at {end_ns / 1e9:g}s, before its last step at {last_ns / 1e9:g}s")
    pins.sort(key=lambda change: (change.at_ns, change.pressed))  # a release before a press at one instant
    commands.sort()
    sounds.sort(key=lambda sound: sound.at_ns)
    return Timeline(pins, commands, end_ns, steps, tuple(sounds), tuple(sorted(stalls)),
                    tuple(sorted(path, key=lambda move: move.at_ns)), tuple(sorted(hangs)))


def _stall(args: list[str], at_ns: int) -> Stall:
    """`stall camera [D]`: no frame from at_ns for D, or for good."""
    if not args or args[0] != "camera" or len(args) > 2:
        raise ValueError("expected 'stall camera [D] @T' (D: how long; for good without it)")
    return Stall(at_ns, at_ns + parse_duration(args[1], "duration") if len(args) == 2 else None)


def _split_time(step: str) -> tuple[str, int]:
    action, sep, when = step.rpartition("@")
    if not sep or not action.strip():
        raise ValueError("needs an action and a time, like 'press record @5s'")
    return action.strip(), parse_duration(when, "time")


_SPEAK = re.compile(r'^speak\s+(?:(\S+)\s+)?"([^"]*)"$', re.I)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _say(action: str) -> tuple[np.ndarray, int]:
    from ..voice.wav import read_wav

    words = action.split(None, 1)
    if len(words) != 2:
        raise ValueError("say needs a WAV file, like 'say explanation.wav @40s'")
    path = Path(words[1].strip())
    try:
        return read_wav(path)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _speak(action: str) -> tuple[np.ndarray, int]:
    from ..voice.prompts import catalogue
    from ..voice.render import render
    from ..voice.wav import read_wav

    match = _SPEAK.match(action.strip())
    if not match or not match.group(2).strip():
        raise ValueError('speak needs a text in double quotes, like \'speak "换电池" @40s\'')
    language, text = match.group(1), match.group(2)
    if language is None:
        language = "zh-CN" if _CJK.search(text) else "en"
    languages = catalogue().languages
    if language not in languages:
        raise ValueError(f"unknown language {language!r} (languages: {', '.join(languages)})")
    try:
        spec = languages[language]
        wav = render(text, spec.espeak_voice, spec.espeak_speed, spec.espeak_amplitude)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        raise ValueError(str(exc)) from None
    return read_wav(io.BytesIO(wav))


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
    raise ValueError(f"unknown step {kind!r} (steps: press, hold, mark, trigger, chord, start, stop, "
                     "say, speak, stall, hang, at, walk, indoors, end)")


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
