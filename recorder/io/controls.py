"""The officer's inputs: RECORD, MARK and an optional trigger, read through gpiozero.

gpiozero devices report raw edges (from its own threads on the device, or
synchronously when a test or script drives MockFactory pins); each edge is
stamped with the agent's clock and queued. `poll(now)` turns the queue into
debounced input events and adds the timed ones (hold threshold, chord), so
the state machine sees the same events on the device and in a fast scripted run.

Events (all dated on the monotonic clock, ns):
  record_press / record_release / record_held             RECORD down, up, held >= hold_seconds
  mark_press                                              MARK down
  trigger                                                 trigger input became active
  chord                                                   RECORD + MARK held together >= chord_seconds
A chord consumes the RECORD press: no record_held follows it.

As a participant of the agent's run loop, `tick(now)` hands the events to `on_event`
(the state machine's `handle`).
"""

from collections import deque
from typing import NamedTuple

from gpiozero import Button

from ..clock import Clock
from ..config.settings import INPUTS, ButtonsConfig
from ..errors import ConfigError
from .debounce import Debouncer


class InputEvent(NamedTuple):
    kind: str
    at_ns: int


class Controls:
    def __init__(self, config: ButtonsConfig, clock: Clock, pin_factory=None, on_event=None):
        self.clock = clock
        self.on_event = on_event  # on_event(InputEvent), called from tick()
        self.hold_ns = int(config.hold_seconds * 1e9)
        self.chord_ns = int(config.chord_seconds * 1e9)
        self._edges: deque[tuple[int, str, bool]] = deque()
        self.devices: dict[str, Button] = {}
        self._debounce: dict[str, Debouncer] = {}
        stable_ns = config.debounce_ms * 1_000_000
        for name in INPUTS:
            spec = getattr(config, name)
            if spec in ("", None):
                continue
            try:
                device = Button(spec, pull_up=config.pull_up, bounce_time=None, pin_factory=pin_factory)
            except Exception as exc:  # gpiozero raises many types; all mean this pin is unusable
                raise ConfigError(f"buttons.{name} = {spec!r} cannot be opened: {exc}") from None
            device.when_pressed = lambda _device=None, n=name: self._raw_edge(n, True)
            device.when_released = lambda _device=None, n=name: self._raw_edge(n, False)
            self.devices[name] = device
            self._debounce[name] = Debouncer(stable_ns, bool(device.is_pressed))
        self._pressed_at: dict[str, int | None] = {name: None for name in self.devices}
        self._record_hold_due: int | None = None  # press time + hold, until released or fired
        self._chord_due: int | None = None

    def pin_of(self, name: str):
        """The gpiozero pin behind an input (scripts and tests drive MockFactory pins)."""
        return self.devices[name].pin

    def _raw_edge(self, name: str, pressed: bool):
        self._edges.append((self.clock.monotonic_ns(), name, pressed))  # deque: thread-safe append

    # -- turning raw edges into events ----------------------------------------------------
    def poll(self, now_ns: int) -> list[InputEvent]:
        events: list[InputEvent] = []
        while self._edges and self._edges[0][0] <= now_ns:
            at, name, pressed = self._edges.popleft()
            self._timed(at, events)
            for level, since in self._debounce[name].edge(pressed, at):
                self._accepted(name, level, since, events)
        for name, debouncer in self._debounce.items():
            for level, since in debouncer.poll(now_ns):
                self._accepted(name, level, since, events)
        self._timed(now_ns, events)
        events.sort(key=lambda event: event.at_ns)
        return events

    def _accepted(self, name: str, pressed: bool, at_ns: int, events: list):
        if pressed:
            self._pressed_at[name] = at_ns
            events.append(InputEvent("trigger" if name == "trigger" else f"{name}_press", at_ns))
            if name == "record":
                self._record_hold_due = at_ns + self.hold_ns
            if name in ("record", "mark") and self._both_pressed():
                self._chord_due = max(self._pressed_at["record"], self._pressed_at["mark"]) + self.chord_ns
            return
        self._pressed_at[name] = None
        if name in ("record", "mark"):
            self._chord_due = None
        if name == "record":
            self._record_hold_due = None
            events.append(InputEvent("record_release", at_ns))

    def _both_pressed(self) -> bool:
        return all(self._pressed_at.get(name) is not None for name in ("record", "mark"))

    def _settled(self, at_ns: int, *names: str) -> bool:
        return not any(self._debounce[name].unsettled_since(at_ns) for name in names)

    def _timed(self, now_ns: int, events: list):
        # A release just before the threshold is known only `debounce` later: a threshold
        # is decided once every input it depends on is settled, so releasing earlier never stops.
        chord = self._chord_due
        if chord is not None and now_ns >= chord and self._settled(chord, "record", "mark"):
            events.append(InputEvent("chord", chord))
            self._chord_due, self._record_hold_due = None, None  # the chord consumes the press
        hold = self._record_hold_due
        if hold is not None and now_ns >= hold and self._settled(hold, "record"):
            events.append(InputEvent("record_held", self._record_hold_due))
            self._record_hold_due = None

    def next_deadline_ns(self) -> int | None:
        deadlines = [d.deadline_ns() for d in self._debounce.values()]
        deadlines += [self._record_hold_due, self._chord_due]
        if self._edges:
            deadlines.append(self._edges[0][0])
        deadlines = [d for d in deadlines if d is not None]
        return min(deadlines) if deadlines else None

    def tick(self, now_ns: int) -> None:
        for event in self.poll(now_ns):
            self.on_event(event)

    def close(self):
        """Release the pins. Idempotent (gpiozero's close is)."""
        for device in self.devices.values():
            device.close()
