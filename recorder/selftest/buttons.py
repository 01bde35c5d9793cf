"""Each of the officer's inputs (RECORD, MARK, the trigger), through the agent's own
Controls (io/controls.py: gpiozero Buttons, debounced on the clock): a press is asked for
and must arrive, as that input's event, within the timeout.

FAIL when the input reads pressed before it is asked for (stuck, or shorted to ground), when
no press comes in time (a broken switch, a cut wire), when another input answers instead
(wires swapped), or when the press is never released.
"""

from ..io.controls import Controls
from .results import FAIL, PASS, Result, Text

POLL_NS = 10_000_000
RELEASE_TIMEOUT_S = 3.0  # a press held longer than this after being asked for one sticks

NAMES = {"record": Text("录像键", "RECORD"), "mark": Text("标记键", "MARK"), "trigger": Text("触发器", "the trigger")}


def press_prompt(name: str, timeout_s: float) -> Text:
    label = NAMES[name]
    return Text(f"请按一下{label.zh}（{timeout_s:g} 秒内）", f"Press {label.en} once (within {timeout_s:g} s)")


def check_buttons(config, clock, pin_factory, technician, timeout_s: float) -> list[Result]:
    controls = Controls(config.buttons, clock, pin_factory)
    try:
        technician.attach(controls)
        controls.poll(clock.monotonic_ns())  # what came before the first question is not an answer
        stuck = {name for name, device in controls.devices.items() if device.is_pressed}
        return [_stuck(name) if name in stuck else _check_one(name, controls, clock, technician, timeout_s, stuck)
                for name in controls.devices]
    finally:
        controls.close()


def _event_of(name: str) -> str:
    return "trigger" if name == "trigger" else f"{name}_press"


def _stuck(name: str) -> Result:
    label = NAMES[name]
    return Result(f"button.{name}", FAIL, Text(f"{label.zh}未按就读为按下：卡住或短路", f"{label.en} reads pressed "
                                               "before anyone pressed it: stuck or shorted"),
                  Text("检查按键和线路；更换卡住的按键", "check the switch and its wiring; replace a stuck switch"),
                  {"stuck": True})


def _check_one(name, controls, clock, technician, timeout_s, stuck) -> Result:
    """A press asked for and waited for; the inputs found stuck have failed already and
    answer nothing."""
    check, label = f"button.{name}", NAMES[name]
    device = controls.devices[name]
    controls.poll(clock.monotonic_ns())
    if device.is_pressed:  # stuck since the test began
        return _stuck(name)
    fingers = technician.ask_to_press(name, press_prompt(name, timeout_s), controls)
    asked = clock.monotonic_ns()
    deadline = asked + round(timeout_s * 1e9)
    others = {_event_of(other): other for other in controls.devices if other != name and other not in stuck}
    pressed_at = None
    while pressed_at is None:
        now = clock.monotonic_ns()
        if now >= deadline:
            return Result(check, FAIL, Text(f"{timeout_s:g} 秒内没有按下{label.zh}", f"no press of {label.en} "
                                            f"within {timeout_s:g} s"),
                          Text("再按一次重试；仍无反应则检查按键和线路",
                               "run again and press it; if nothing comes, check the switch and its wiring"),
                          {"pressed": False, "timeout_s": timeout_s})
        _tick(fingers, now)
        for event in controls.poll(now):
            if event.kind == _event_of(name):
                pressed_at = event.at_ns
            elif event.kind in others:
                other = NAMES[others[event.kind]]
                return Result(check, FAIL, Text(f"要求按{label.zh}，却收到{other.zh}", f"asked for {label.en}, "
                                                f"{other.en} answered"),
                              Text("线路接反：对照 hw/pinout.md 检查", "wires swapped: check them against hw/pinout.md"),
                              {"pressed": False, "answered_by": others[event.kind]})
        clock.sleep_until(now + POLL_NS)
    reaction_s = max(pressed_at - asked, 0) / 1e9
    released_by = clock.monotonic_ns() + round(RELEASE_TIMEOUT_S * 1e9)
    while device.is_pressed:
        now = clock.monotonic_ns()
        if now >= released_by:
            return Result(check, FAIL, Text(f"{label.zh}按下后不弹起", f"{label.en} stays pressed after the press"),
                          Text("按键卡住：更换", "the switch sticks: replace it"),
                          {"pressed": True, "released": False, "reaction_s": round(reaction_s, 3)})
        _tick(fingers, now)
        clock.sleep_until(now + POLL_NS)
    return Result(check, PASS, Text(f"{reaction_s:.2f} 秒后按下并弹起", f"pressed after {reaction_s:.2f} s, released"),
                  measured={"pressed": True, "released": True, "reaction_s": round(reaction_s, 3)})


def _tick(participants, now_ns: int):
    for participant in participants:
        deadline = participant.next_deadline_ns()
        if deadline is not None and deadline <= now_ns:
            participant.tick(now_ns)
