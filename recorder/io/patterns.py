"""What each output does for each mode and cue, as data (docs/CUES.md shows the same table).

A pattern is a sequence of steps; each step lasts a number of milliseconds and names the
outputs that are on during it. A pattern *controls* every output it ever switches on; while
a cue plays, the outputs it does not control keep showing the steady mode indication, so the
red "recording" light stays lit through a mark or a reminder.

The rhythms form one small vocabulary felt on the vibration motor and heard on the buzzer
(which play in step): S = short pulse, L = long pulse. A piezo buzzer on a plain GPIO has no
pitch control, so cues differ by rhythm, never by tone.
"""

from dataclasses import dataclass

MS = 1_000_000  # ns per millisecond

LEDS = ("green", "red", "amber")
OUTPUTS = LEDS + ("buzzer", "vibration")

BUZZ = ("buzzer", "vibration")  # heard and felt together
FEEL = ("vibration",)  # felt only


@dataclass(frozen=True)
class Step:
    ms: int
    on: frozenset[str]


@dataclass(frozen=True)
class Pattern:
    steps: tuple[Step, ...]
    loop: bool = False  # modes loop; cues play once

    @property
    def controls(self) -> frozenset[str]:
        return frozenset().union(*(step.on for step in self.steps))

    @property
    def duration_ms(self) -> int:
        return sum(step.ms for step in self.steps)

    @property
    def duration_ns(self) -> int:
        return self.duration_ms * MS

    @property
    def constant(self) -> bool:
        """A mode that never changes (steady on, or all dark)."""
        return self.loop and len(self.steps) <= 1

    def on_at(self, elapsed_ns: int) -> frozenset[str] | None:
        """Outputs on `elapsed_ns` after the pattern began; None once a cue has ended."""
        if self.constant:
            return self.steps[0].on if self.steps else frozenset()
        if self.loop:
            elapsed_ns %= self.duration_ns
        for start, end, step in self._spans():
            if start <= elapsed_ns < end:
                return step.on
        return None

    def next_change_ns(self, elapsed_ns: int) -> int | None:
        """The first step boundary strictly after `elapsed_ns` (a cue's end counts)."""
        if self.constant:
            return None
        base = 0
        if self.loop:
            base = (elapsed_ns // self.duration_ns) * self.duration_ns
            elapsed_ns -= base
        for _, end, _ in self._spans():
            if end > elapsed_ns:
                return base + end
        return None

    def _spans(self):
        start = 0
        for step in self.steps:
            yield start, start + step.ms * MS, step
            start += step.ms * MS


def rhythm(outputs, *durations_ms, loop=False) -> Pattern:
    """Alternating on/off durations starting with 'on': rhythm(x, 100, 150, 100) is
    on 100 ms, off 150 ms, on 100 ms. An even count ends with a silent tail."""
    on = frozenset(outputs)
    steps = (Step(ms, on if i % 2 == 0 else frozenset()) for i, ms in enumerate(durations_ms))
    return Pattern(tuple(steps), loop)


def steady(*outputs) -> Pattern:
    return Pattern((Step(1, frozenset(outputs)),), loop=True)


# Steady indication of the state machine's mode: LEDs only, never sound (a recorder that
# beeps by itself all shift gets taped over).
MODES = {
    "off": steady(),
    "booting": rhythm(["green"], 250, 250, loop=True),  # blinking green: not ready yet
    "ready": steady("green"),  # pre-record ring running, one press away from recording
    "recording": steady("red"),  # also tells the public they are being recorded
    "stopping": rhythm(["red"], 250, 250, loop=True),  # sealing: do not switch off
    "interrupted": rhythm(["amber"], 500, 500, loop=True),  # recording cut (battery, storage, ...)
    # recording again after an interruption, the explanation window open: red as when
    # recording (the public must see it), amber blinking beside it until the window ends
    "resuming": Pattern((Step(500, frozenset({"red", "amber"})), Step(500, frozenset({"red"}))), loop=True),
    # the supervisor gave up restarting: nothing is recorded until a technician sees it
    "unrecoverable": steady("amber"),
}

TRILL = (50, 50) * 6  # six 50 ms pulses: nothing else feels like it

CUES = {
    "start": rhythm(BUZZ, 600),  # L
    "stop": rhythm(BUZZ, 500, 200, 500),  # L L
    # The hold threshold is reached: the stop is now certain. A trill (with the red and amber
    # LEDs) that no other cue resembles, then a silent tail so a following stop cue is felt apart.
    "hold_reached": rhythm(BUZZ + ("red", "amber"), *TRILL[:-1], 300),
    "mark": rhythm(BUZZ + ("green",), 120),  # S, with a green flash beside the red light
    "still_recording": rhythm(BUZZ, 100, 150, 100),  # S S: answer to a press while recording
    # Same meaning as still_recording, felt only: it comes unprompted every few minutes and
    # must not sound into the scene; the red light already tells the public.
    "reminder": rhythm(FEEL, 100, 150, 100),
    "status": rhythm(BUZZ, 100, 150, 400),  # S L: alive and not recording (the LEDs show the mode)
    "warning": rhythm(BUZZ + ("amber",), 250, 150, 250, 150, 250),  # M M M with amber
    "error": rhythm(BUZZ + ("amber",), 1500),  # one very long, amber
    # cannot continue (restarts gave up): two 2 s pulses with amber, nothing else this long
    "unrecoverable": rhythm(BUZZ + ("amber",), 2000, 300, 2000),
    "stealth_on": rhythm(FEEL, 100, 100, 100, 100, 100),  # S S S felt only: nothing visible or audible
    "stealth_off": rhythm(BUZZ, 400, 150, 100),  # L S
}

# A cue named here, requested while one of the listed cues is still playing, waits for it to
# end instead of cutting it: the state machine stops right at the hold threshold and cues the
# stop at once, and the officer must still feel the trill first.
WAITS_FOR = {
    "stop": frozenset({"hold_reached"}),
}


def describe(pattern: Pattern) -> str:
    """One table cell, e.g. 'buzzer+vibration: on 100, off 150, on 100' (ms)."""
    if pattern.constant:
        on = pattern.steps[0].on if pattern.steps else frozenset()
        return "steady " + "+".join(o for o in OUTPUTS if o in on) if on else "all dark"
    # outputs on through every step of a repeating pattern are steady (the resuming light)
    always = frozenset.intersection(*(step.on for step in pattern.steps)) if pattern.loop else frozenset()
    steady_part = ("steady " + "+".join(o for o in OUTPUTS if o in always) + "; ") if always else ""
    who = "+".join(o for o in OUTPUTS if o in pattern.controls - always)
    timing = ", ".join(f"{'on' if step.on - always else 'off'} {step.ms}" for step in pattern.steps)
    return f"{steady_part}{who}: {timing}" + (", repeat" if pattern.loop else "")


def table_rows() -> list[str]:
    """The rows docs/CUES.md must carry (a test holds the document to the data)."""
    rows = [f"| mode `{name}` | {describe(p)} |" for name, p in MODES.items()]
    rows += [f"| cue `{name}` | {describe(p)} |" for name, p in CUES.items()]
    return rows
