"""Measurement 3, responsiveness: RECORD press -> recording mode and first cue, in real time.

A SimulatedAgent runs on the SystemClock (real time, capture and encoding
loading the machine as on the device). A second thread plays the officer: it
presses RECORD on the gpiozero MockFactory pin at random moments, then holds it
to stop, over and over. Latencies are measured from the instant the pin moves
to (a) the moment the state machine enters `recording` and (b) the first value
written to a cue output. The debounce (30 ms by default) is part of both, by design.
"""

import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from recorder.clock import SystemClock
from recorder.config import config_from_dict
from recorder.io.patterns import OUTPUTS as CUE_OUTPUTS
from recorder.evidence.modes import READY, RECORDING
from recorder.sim.agent import SimulatedAgent

HOLD_SECONDS = 1.0  # the shortest allowed, so each press-stop cycle is quick


def _officer(device, presses: int, latencies: list, entered: dict, rng: random.Random):
    device.started.wait()
    pin = device.controls.pin_of("record")
    try:
        for _ in range(presses):
            time.sleep(rng.uniform(0.3, 0.7))
            entered.clear()
            pressed = time.monotonic_ns()
            pin.drive_low()
            time.sleep(0.15)
            pin.drive_high()
            deadline = time.monotonic() + 5
            while RECORDING not in entered and time.monotonic() < deadline:
                time.sleep(0.005)
            cue = _first_cue_after(device, pressed)
            if RECORDING in entered and cue is not None:
                latencies.append(((entered[RECORDING] - pressed) / 1e6, (cue - pressed) / 1e6))
            time.sleep(0.3)
            pin.drive_low()  # hold to stop
            time.sleep(HOLD_SECONDS + 0.2)
            pin.drive_high()
            while device.machine.mode != READY and time.monotonic() < deadline + 5:
                time.sleep(0.01)
    finally:
        device.stop_requested.set()


def _first_cue_after(device, pressed_ns: int):
    """The first change of any cue output's pin at or after the press (pin history, on the
    agent's clock, which is the system clock here)."""
    changes = [t for name in CUE_OUTPUTS for t, _ in device.pin(name).values(since_ns=pressed_ns)]
    return min(changes, default=None)


def measure(width: int, height: int, presses: int, seed: int = 1) -> list[tuple[float, float]]:
    config = config_from_dict(
        {
            "video": {"width": width, "height": height},
            "buttons": {"hold_seconds": HOLD_SECONDS, "chord_seconds": 0.5},
        }
    )
    latencies: list[tuple[float, float]] = []
    entered: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-press-") as scratch:
        device = SimulatedAgent(config, Path(scratch) / "store", SystemClock())
        record_transition = device.recorder.record_transition

        def observed(source, target, *args):
            entered[target] = time.monotonic_ns()
            record_transition(source, target, *args)

        device.recorder.record_transition = observed
        officer = threading.Thread(
            target=_officer, args=(device, presses, latencies, entered, random.Random(seed)), daemon=True
        )
        officer.start()
        device.run()
        officer.join()
    return latencies


def summary(latencies: list[tuple[float, float]]) -> dict:
    state = [s for s, _ in latencies]
    cue = [c for _, c in latencies]
    return {
        "presses": len(latencies),
        "state_median": statistics.median(state), "state_max": max(state),
        "cue_median": statistics.median(cue), "cue_max": max(cue),
    }
