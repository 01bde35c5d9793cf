"""The simulated body's bench for `recorder selftest --simulate`: the simulated body, mock
pins, the simulated sky, and fingers that press the mock pins when the self-test asks — so
the presses go through gpiozero, the debouncing and the Controls the agent uses.

Faults the body can be told to have, so that a test sees each check fail for the reason a
device would: a black or a stalled camera, a silent microphone, a stuck button, a button
nobody presses.
"""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..selftest.bench import Bench, Technician
from ..telemetry.receivers import open_receiver as open_receiver_of_device
from .body import open_simulated_body, simulated_receiver
from .doubles import ClockedMockFactory
from .fingers import ScriptedFingers
from .script import parse_timeline

PRESS_AFTER = "200ms"  # a finger answers the prompt this long after it


@dataclass(frozen=True)
class Faults:
    camera: str = ""  # "" | "black" (dark frames) | "stalled" (no frames at all)
    microphone: str = ""  # "" | "silent" (digital zero)
    stuck: frozenset = frozenset()  # inputs held pressed before anyone asks (stuck switches)
    unpressed: frozenset = frozenset()  # inputs nobody presses (a broken switch, a cut wire)


class SimulatedTechnician(Technician):
    """Fingers on the mock pins: each input pressed once, shortly after it is asked for."""

    def __init__(self, pull_up: bool, faults: Faults = Faults()):
        self.pull_up, self.faults = pull_up, faults

    def attach(self, controls) -> None:
        for name in self.faults.stuck & set(controls.devices):
            pin = controls.pin_of(name)
            pin.drive_low() if self.pull_up else pin.drive_high()  # pressed, and held

    def ask_to_press(self, name, prompt, controls) -> list:
        if name in self.faults.unpressed:
            return []
        press = parse_timeline(f"press {name} @{PRESS_AFTER}")
        return [ScriptedFingers(press.pins, controls, controls.clock.monotonic_ns(), self.pull_up)]


def simulated_store() -> Path:
    """Where the self-test on the simulated body times the disk when no store is named: a
    directory of this user's in the temporary directory (no root needed), the same on every
    run, so the probe is overwritten rather than left again."""
    return Path(tempfile.gettempdir()) / f"recorder-selftest-{os.getuid()}"


def simulated_bench(config, clock, faults: Faults = Faults()) -> Bench:
    def open_body(config, clock, outputs, device_id):
        body = open_simulated_body(config, clock, outputs, device_id)
        if faults.camera == "black":
            body.darken_camera()
        elif faults.camera == "stalled":
            body.stall_camera(body.origin_ns)
        if faults.microphone == "silent":
            body.silence_microphone()
        return body

    def open_receiver(gnss, clock):
        """The body's own receiver, as the simulated agent has it (agent/assembly.py)."""
        receiver, participants = simulated_receiver(gnss, clock)
        return (receiver, participants) if receiver is not None else (open_receiver_of_device(gnss, clock), [])

    return Bench(True, open_body, ClockedMockFactory(clock), open_receiver,
                 SimulatedTechnician(config.buttons.pull_up, faults))
