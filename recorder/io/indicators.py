"""Cues an officer sees, hears and feels: LEDs, buzzer and vibration motor through gpiozero.

Every output value is a pure function of (mode, cues playing, stealth, time) on the injected
clock; `tick` writes whatever differs from what the devices hold. No gpiozero blink()/beep()
threads and no sleeping, so patterns play the same on a SimulatedClock in a fast scripted run
as on the device, and the run loop knows when to wake (`next_deadline_ns`).
"""

import threading

from gpiozero import LED, Buzzer, DigitalOutputDevice
from gpiozero.exc import GPIOZeroError

from ..errors import ConfigError
from .patterns import CUES, LEDS, MODES, OUTPUTS, WAITS_FOR

DEVICE_CLASSES = {
    "green": LED, "red": LED, "amber": LED, "buzzer": Buzzer, "vibration": DigitalOutputDevice,
}


class Indicators:
    @classmethod
    def from_config(cls, cues, clock, pin_factory=None, stealth: bool | None = None) -> "Indicators":
        """The device's cue outputs as `[cues]` names them (recorder.config CuesConfig);
        stealth: as configured unless given."""
        return cls({name: getattr(cues, name) or None for name in OUTPUTS}, clock, pin_factory=pin_factory,
                   active_high=dict.fromkeys(OUTPUTS, cues.active_high),
                   stealth=cues.stealth if stealth is None else stealth, stealth_vibration=cues.stealth_vibration)

    def __init__(self, pins, clock, *, pin_factory=None, active_high=None, stealth=False, stealth_vibration=True):
        self._clock = clock
        self._lock = threading.RLock()
        self._devices = _open_devices(pins, active_high or {}, pin_factory)
        self._written = dict.fromkeys(self._devices, False)  # gpiozero starts them inactive
        self._stealth = bool(stealth)
        self._stealth_vibration = bool(stealth_vibration)
        now = clock.monotonic_ns()
        self._mode, self._mode_since = "off", now
        self._cues = []  # [(name, start_ns, end_ns)]: the playing cue, then any waiting behind it
        self._last_ns = now
        self._closed = False

    @property
    def mode(self):
        return self._mode

    @property
    def stealth(self):
        return self._stealth

    @property
    def outputs(self):
        """Names of the outputs actually present."""
        return tuple(self._devices)

    def show(self, mode):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            now = self._clock.monotonic_ns()
            if mode != self._mode:  # re-showing the same mode keeps a blink's phase
                self._mode, self._mode_since = mode, now
            self._apply(now)

    def cue(self, name, at_ns=None):
        """Play a transient cue from `at_ns` (the moment of the event; default now). It cuts
        whatever cue is playing, except where patterns.WAITS_FOR makes it wait its turn."""
        if name not in CUES:
            raise ValueError(f"unknown cue {name!r}")
        with self._lock:
            now = self._clock.monotonic_ns()
            start = now if at_ns is None else at_ns
            self._cues = [c for c in self._cues if c[2] > min(now, start)]
            waits = WAITS_FOR.get(name, frozenset())
            if self._cues and self._cues[-1][0] in waits and self._cues[-1][2] > start:
                start = self._cues[-1][2]
                self._cues.append((name, start, start + CUES[name].duration_ns))
            else:
                self._cues = [(name, start, start + CUES[name].duration_ns)]
            self._apply(now)

    def set_stealth(self, on: bool):
        with self._lock:
            self._stealth = bool(on)
            self._apply(self._clock.monotonic_ns())

    def tick(self, now_ns=None):
        with self._lock:
            self._apply(self._clock.monotonic_ns() if now_ns is None else now_ns)

    def next_deadline_ns(self):
        """When `tick` must next run for the outputs to change on time; None if nothing is
        scheduled (steady mode, no cue)."""
        with self._lock:
            ref = self._last_ns
            due = []
            mode = MODES[self._mode]
            if not self._stealth:  # a mode only drives LEDs, all dark in stealth
                change = mode.next_change_ns(ref - self._mode_since)
                if change is not None:
                    due.append(self._mode_since + change)
            for name, start, end in self._cues:
                if start > ref:
                    due.append(start)
                elif end > ref:
                    due.append(start + CUES[name].next_change_ns(ref - start))
            return min(due, default=None)

    def drive(self, name, on: bool) -> bool:
        """Switch one fitted output directly, outside modes and cues, and read its pin back
        (the self-test, recorder/selftest/cues.py): whether the pin reads active. The next
        show, cue or tick puts the output back to what they say."""
        with self._lock:
            device = self._devices[name]
            device.on() if on else device.off()
            self._written[name] = bool(on)
            return bool(device.value)

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for name, device in self._devices.items():
                if self._written[name]:
                    device.off()
                    self._written[name] = False
                device.close()

    # -- internals

    def desired(self, now_ns):
        """What every output (present or not) should be at `now_ns`."""
        mode = MODES[self._mode]
        on = mode.on_at(now_ns - self._mode_since)
        values = {name: name in on for name in OUTPUTS}
        for name, start, end in self._cues:
            if start <= now_ns < end:
                pattern = CUES[name]
                on = pattern.on_at(now_ns - start)
                values.update((out, out in on) for out in pattern.controls)
                break
        if self._stealth:
            values.update(dict.fromkeys(LEDS + ("buzzer",), False))
            if not self._stealth_vibration:
                values["vibration"] = False
        return values

    def _apply(self, now_ns):
        if self._closed:
            return
        self._cues = [c for c in self._cues if c[2] > now_ns]
        values = self.desired(now_ns)
        for name, device in self._devices.items():
            if values[name] != self._written[name]:
                device.on() if values[name] else device.off()
                self._written[name] = values[name]
        self._last_ns = max(self._last_ns, now_ns)


def _open_devices(pins, active_high, pin_factory):
    unknown = sorted(set(pins) - set(OUTPUTS)) + sorted(set(active_high) - set(OUTPUTS))
    if unknown:
        raise ConfigError(f"cues.{unknown[0]}: unknown output (known: {', '.join(OUTPUTS)})")
    devices = {}
    try:
        for name in OUTPUTS:
            spec = pins.get(name)
            if spec is None or spec == "":
                continue  # not fitted on this body (the config writes "" for that)
            high = active_high.get(name, True)
            if not isinstance(high, bool):
                raise ConfigError(f"cues.{name}: active_high must be true or false, not {high!r}")
            if isinstance(spec, bool) or not isinstance(spec, (int, str)):
                raise ConfigError(
                    f"cues.{name}: pin must be a GPIO number or a name like 'GPIO17', not {spec!r}")
            try:
                devices[name] = DEVICE_CLASSES[name](
                    spec, active_high=high, initial_value=False, pin_factory=pin_factory)
            except (GPIOZeroError, ValueError, TypeError) as exc:
                raise ConfigError(f"cues.{name}: {exc}") from exc
    except BaseException:
        for device in devices.values():
            device.close()
        raise
    return devices
