"""The bench a self-test runs on: what opens the parts, and who presses the buttons.

The device's bench (`device_bench`) opens the same parts the agent opens, through the same
factories: the capture sources [capture] selects (capture/select.py), gpiozero's pin factory,
the receiver [gnss] names, the speaker [voice] names; its technician is a person reading
prompts on the terminal. The simulated body's bench (recorder/sim/bench.py) gives the
simulated body, mock pins and fingers that press them when asked — so that every check
goes through the same code on both, as the agent does (agent/assembly.py, sim/agent.py).
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass

from .results import Text


class Technician:
    """Whoever presses the buttons when asked."""

    def attach(self, controls) -> None:
        """Called once the inputs are open, before any is checked."""

    def tell(self, text: Text) -> None:
        """What to watch, listen or feel for next (a person needs telling; fingers do not)."""

    def ask_to_press(self, name: str, prompt: Text, controls) -> list:
        """Ask for a press of input `name`; returns loop participants (next_deadline_ns,
        tick) that the wait ticks — fingers on mock pins — or [] when a person presses."""
        raise NotImplementedError


class PersonAtTheBench(Technician):
    """The prompt on the terminal (stderr: --json keeps stdout for the report)."""

    def __init__(self, language: str, stream=None):
        self.language, self.stream = language, stream or sys.stderr

    def tell(self, text: Text) -> None:
        print(f">>> {text.in_language(self.language)}", file=self.stream, flush=True)

    def ask_to_press(self, name: str, prompt: Text, controls) -> list:
        self.tell(prompt)
        return []


@dataclass
class Bench:
    simulated: bool
    open_body: Callable  # (config, clock, outputs, device_id) -> capture body (capture/body.py)
    pin_factory: object  # gpiozero's
    open_receiver: Callable  # (gnss, clock) -> (receiver, loop participants that feed it)
    technician: Technician


def device_bench(language: str, pin_factory) -> Bench:
    """The device as the agent opens it (agent/assembly.py run_on_device)."""
    from ..capture.select import open_body
    from ..telemetry.receivers import open_receiver

    return Bench(False, open_body, pin_factory, lambda gnss, clock: (open_receiver(gnss, clock), []),
                 PersonAtTheBench(language))
