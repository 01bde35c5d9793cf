"""Cues on real gpiozero output devices (LED, Buzzer, DigitalOutputDevice) over MockFactory pins,
timed by a SimulatedClock. Every assertion reads the pins' electrical state, not what the
Indicators object says it did."""

import re
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.io.indicators import Indicators
from recorder.io.patterns import CUES, MODES, table_rows
from recorder.clock import SimulatedClock
from recorder.errors import ConfigError
from recorder.sim.doubles import ClockedMockFactory

MS = 1_000_000
PINS = {"green": 17, "red": 27, "amber": 22, "buzzer": 23, "vibration": 24}
LEDS = {"green", "red", "amber"}
ALL_CUES = ("start", "stop", "mark", "hold_reached", "still_recording", "reminder", "status", "warning", "error",
            "unrecoverable", "stealth_on", "stealth_off")
ALL_MODES = ("booting", "ready", "recording", "resuming", "stopping", "interrupted", "unrecoverable", "off")


def make(pins=PINS, factory=None, **kw):
    clock = SimulatedClock()
    factory = factory or ClockedMockFactory(clock)
    return Indicators(pins, clock, pin_factory=factory, **kw), clock, factory


def lit(factory, pins=PINS, active_high=None):
    """Outputs whose pin is at its active level right now."""
    active_high = active_high or {}
    return frozenset(name for name, pin in pins.items()
                     if pin not in (None, "") and factory.pin(pin).state == active_high.get(name, True))


def sample(ind, clock, factory, duration_ms, step_ms=1, **kw):
    """Tick every `step_ms` (not trusting next_deadline_ns) and return the edges:
    [(ms since start, outputs lit)] each time the lit set changes."""
    t0 = clock.monotonic_ns()
    edges = [(0, lit(factory, **kw))]
    for ms in range(step_ms, duration_ms + 1, step_ms):
        clock.sleep_until(t0 + ms * MS)
        ind.tick()
        now = lit(factory, **kw)
        if now != edges[-1][1]:
            edges.append((ms, now))
    return edges


def follow(ind, clock, factory, duration_ms, **kw):
    """The same edges, ticking only when next_deadline_ns asks (as the run loop does)."""
    t0 = clock.monotonic_ns()
    edges = [(0, lit(factory, **kw))]
    while (due := ind.next_deadline_ns()) is not None and due <= t0 + duration_ms * MS:
        clock.sleep_until(due)
        ind.tick()
        now = lit(factory, **kw)
        if now != edges[-1][1]:
            edges.append(((due - t0) // MS, now))
    clock.sleep_until(t0 + duration_ms * MS)
    return edges


def S(*names):
    return frozenset(names)


BV = ("buzzer", "vibration")

# What the officer gets for each cue from the "ready" mode (green steady), written out by hand:
# (ms, outputs lit from then on).
EXPECTED_FROM_READY = {
    "start": [(0, S("green", *BV)), (600, S("green"))],
    "stop": [(0, S("green", *BV)), (500, S("green")), (700, S("green", *BV)), (1200, S("green"))],
    "hold_reached": [(0, S("green", "red", "amber", *BV))]
    + [edge for k in range(1, 6)
       for edge in ((100 * k - 50, S("green")), (100 * k, S("green", "red", "amber", *BV)))]
    + [(550, S("green"))],
    "mark": [(0, S("green", *BV)), (120, S("green"))],
    "still_recording": [(0, S("green", *BV)), (100, S("green")), (250, S("green", *BV)), (350, S("green"))],
    "reminder": [(0, S("green", "vibration")), (100, S("green")), (250, S("green", "vibration")),
                 (350, S("green"))],
    "status": [(0, S("green", *BV)), (100, S("green")), (250, S("green", *BV)), (650, S("green"))],
    "warning": [(0, S("green", "amber", *BV)), (250, S("green")), (400, S("green", "amber", *BV)),
                (650, S("green")), (800, S("green", "amber", *BV)), (1050, S("green"))],
    "error": [(0, S("green", "amber", *BV)), (1500, S("green"))],
    "unrecoverable": [(0, S("green", "amber", *BV)), (2000, S("green")), (2300, S("green", "amber", *BV)),
                      (4300, S("green"))],
    "stealth_on": [(0, S("green", "vibration")), (100, S("green")), (200, S("green", "vibration")),
                   (300, S("green")), (400, S("green", "vibration")), (500, S("green"))],
    "stealth_off": [(0, S("green", *BV)), (400, S("green")), (550, S("green", *BV)), (650, S("green"))],
}


def cue_from(mode, name, **kw):
    ind, clock, factory = make(**kw)
    ind.show(mode)
    ind.cue(name)
    return ind, clock, factory


@pytest.mark.parametrize("name", ALL_CUES)
def test_each_cue_plays_its_rhythm(name):
    ind, clock, factory = cue_from("ready", name)
    assert sample(ind, clock, factory, 5000) == EXPECTED_FROM_READY[name]
    ind.close()


def test_every_cue_is_listed():
    assert set(CUES) == set(ALL_CUES) == set(EXPECTED_FROM_READY)
    assert set(MODES) == set(ALL_MODES)


def test_all_cue_patterns_are_distinct():
    seen = {}
    for name in ALL_CUES:
        ind, clock, factory = cue_from("ready", name)
        seen[name] = tuple(sample(ind, clock, factory, 2000))
        ind.close()
    assert len(set(seen.values())) == len(ALL_CUES)


def test_cues_can_be_told_apart_by_touch_alone():
    """In stealth only the motor speaks: every cue must still be recognisable, except the
    reminder, which deliberately feels like the still-recording answer (same meaning)."""
    felt = {}
    for name in ALL_CUES:
        ind, clock, factory = cue_from("ready", name, stealth=True)
        felt[name] = tuple(sample(ind, clock, factory, 2000))
        assert all(on <= S("vibration") for _, on in felt[name])
        ind.close()
    assert felt["reminder"] == felt["still_recording"]
    del felt["reminder"]
    assert len(set(felt.values())) == len(felt)


def test_hold_reached_is_unlike_start_and_stop():
    def pulses(name):
        ind, clock, factory = cue_from("ready", name)
        edges = sample(ind, clock, factory, 2000)
        ind.close()
        return sum(1 for _, on in edges if "vibration" in on)

    assert pulses("hold_reached") == 6 and pulses("start") == 1 and pulses("stop") == 2


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("name", ALL_CUES)
def test_mode_indication_returns_after_each_cue(mode, name):
    ind, clock, factory = make()
    ind.show(mode)
    before = follow(ind, clock, factory, 1000)
    ind.cue(name)
    follow(ind, clock, factory, CUES[name].duration_ms)
    after = follow(ind, clock, factory, 1000)
    # A blinking mode keeps its rhythm; compare the sets lit over a whole second.
    assert {on for _, on in after} == {on for _, on in before}
    assert all(on <= LEDS for _, on in after)
    ind.close()


@pytest.mark.parametrize("name", sorted(set(ALL_CUES) - {"hold_reached"}))
def test_red_light_stays_on_through_cues_while_recording(name):
    """The red light tells the public they are recorded; only the hold-to-stop trill blinks it."""
    ind, clock, factory = cue_from("recording", name)
    assert all("red" in on for _, on in sample(ind, clock, factory, 2000))
    ind.close()


def test_a_new_cue_cuts_the_playing_one_cleanly():
    ind, clock, factory = make()
    ind.show("recording")
    ind.cue("warning")
    clock.advance(100 * MS)
    ind.tick()
    assert lit(factory) == S("red", "amber", *BV)
    ind.cue("mark")  # amber is the warning's, mark does not drive it: it must go dark at once
    assert lit(factory) == S("red", "green", *BV)
    edges = follow(ind, clock, factory, 2000)
    assert edges == [(0, S("red", "green", *BV)), (120, S("red"))]
    ind.close()


def test_stop_waits_for_the_hold_trill():
    """The state machine stops at the hold threshold and cues both at once; the officer must
    feel the whole trill and then the stop."""
    ind, clock, factory = make(pins={"vibration": 24}, factory=None)
    ind.show("recording")
    ind.cue("hold_reached")
    ind.cue("stop")
    pins = {"vibration": 24}
    edges = follow(ind, clock, factory, 3000, pins=pins)
    starts = [ms for ms, on in edges if on]
    assert starts == [0, 100, 200, 300, 400, 500, 850, 1550]
    assert edges[-1] == (2050, S())
    ind.close()


def test_any_other_cue_cuts_a_waiting_stop():
    ind, clock, factory = make()
    ind.show("ready")
    ind.cue("hold_reached")
    ind.cue("stop")
    clock.advance(200 * MS)
    ind.cue("error")
    edges = follow(ind, clock, factory, 3000)
    assert edges == [(0, S("green", "amber", *BV)), (1500, S("green"))]
    ind.close()


def test_stealth_darkens_and_silences_at_once_and_keeps_vibration():
    ind, clock, factory = make()
    ind.show("recording")
    ind.cue("start")
    clock.advance(100 * MS)
    ind.tick()
    assert lit(factory) == S("red", *BV)
    ind.set_stealth(True)
    assert ind.stealth and lit(factory) == S("vibration")  # buzzer cut mid-beep, red dark
    ind.cue("mark")
    assert follow(ind, clock, factory, 1000) == [(0, S("vibration")), (120, S())]
    ind.show("stopping")  # a blinking mode stays dark too
    assert follow(ind, clock, factory, 1000) == [(0, S())]
    ind.show("recording")
    ind.set_stealth(False)
    assert lit(factory) == S("red")
    ind.close()


def test_stealth_without_vibration_is_silent_and_dark():
    ind, clock, factory = make(stealth=True, stealth_vibration=False)
    ind.show("recording")
    for name in ALL_CUES:
        ind.cue(name)
        assert follow(ind, clock, factory, 2000) == [(0, S())]
    ind.set_stealth(False)
    assert lit(factory) == S("red")
    ind.close()


def test_active_low_outputs_are_inverted_on_the_pins():
    active_high = dict.fromkeys(PINS, False)
    ind, clock, factory = make(active_high=active_high)
    assert all(factory.pin(pin).state for pin in PINS.values())  # all idle = all pins high
    ind.show("ready")
    ind.cue("start")
    assert {n for n, p in PINS.items() if not factory.pin(p).state} == {"green", *BV}
    edges = sample(ind, clock, factory, 1000, active_high=active_high)
    assert edges == EXPECTED_FROM_READY["start"]
    ind.close()


def test_absent_outputs_are_skipped():
    pins = {"green": None, "red": 27, "amber": "", "buzzer": None, "vibration": 24}
    ind, clock, factory = make(pins=pins)
    assert ind.outputs == ("red", "vibration")
    ind.show("recording")
    for name in ALL_CUES:
        ind.cue(name)
        follow(ind, clock, factory, 2000, pins=pins)
    ind.cue("mark")
    assert lit(factory, pins=pins) == S("red", "vibration")
    assert {pin.info.name for pin in factory.pins.values() if pin.history} == {"GPIO27", "GPIO24"}
    ind.close()


def test_reminder_every_two_minutes_is_felt_not_heard():
    """The state machine calls cue('reminder') every N minutes; between reminders the run
    loop has nothing to wake for."""
    ind, clock, factory = make()
    ind.show("recording")
    t0 = clock.monotonic_ns()
    for k in range(1, 4):
        assert ind.next_deadline_ns() is None
        clock.sleep_until(t0 + k * 120_000 * MS)
        ind.cue("reminder")
        assert follow(ind, clock, factory, 1000) == [
            (0, S("red", "vibration")), (100, S("red")), (250, S("red", "vibration")), (350, S("red"))]
    ind.close()


@pytest.mark.parametrize("name", ALL_CUES)
def test_next_deadline_wakes_the_loop_exactly_on_time(name):
    """Ticking only at next_deadline_ns gives the same pin edges as ticking every millisecond."""
    runs = []
    for walk in (sample, follow):
        ind, clock, factory = make()
        ind.show("booting")
        ind.cue(name)
        runs.append(walk(ind, clock, factory, 2500))
        ind.close()
    assert runs[0] == runs[1]


def test_blinking_modes():
    ind, clock, factory = make()
    ind.show("stopping")
    assert follow(ind, clock, factory, 900) == [(0, S("red")), (250, S()), (500, S("red")), (750, S())]
    ind.show("stopping")  # showing the same mode again keeps the phase (no restart lit)
    assert follow(ind, clock, factory, 100) == [(0, S()), (100, S("red"))]
    ind.show("interrupted")
    assert follow(ind, clock, factory, 1000) == [(0, S("amber")), (500, S()), (1000, S("amber"))]
    ind.close()


def test_cue_anchored_at_the_event_time_and_written_at_once():
    ind, clock, factory = make()
    ind.show("recording")
    pressed = clock.monotonic_ns()
    clock.advance(150 * MS)  # the state machine got round to it 150 ms after the press
    ind.cue("start", at_ns=pressed)
    now = clock.monotonic_ns()
    assert lit(factory) == S("red", *BV)
    assert (now, True) in factory.pin(PINS["buzzer"]).history
    assert ind.next_deadline_ns() == pressed + 600 * MS
    ind.close()


def test_close_turns_everything_off_and_releases_the_pins():
    ind, clock, factory = make()
    ind.show("recording")
    ind.cue("error")
    ind.close()
    ind.close()
    assert all(factory.pin(pin).function == "input" for pin in PINS.values())
    again, _, _ = make(factory=factory)  # the pins are free again
    again.close()


@pytest.mark.parametrize("pins, active_high, setting", [
    ({**PINS, "red": 99}, None, "cues.red"),
    ({**PINS, "amber": "GPIO99"}, None, "cues.amber"),
    ({**PINS, "buzzer": "BOARD1"}, None, "cues.buzzer"),  # a 3V3 power pin
    ({**PINS, "vibration": 17}, None, "cues.vibration"),  # same pin as green
    ({**PINS, "green": True}, None, "cues.green"),
    ({**PINS, "siren": 5}, None, "cues.siren"),
    (PINS, {"red": "yes"}, "cues.red"),
])
def test_invalid_pins_name_the_setting_and_release_what_was_opened(pins, active_high, setting):
    factory = MockFactory()
    with pytest.raises(ConfigError, match=re.escape(setting) + ":"):
        Indicators(pins, SimulatedClock(), pin_factory=factory, active_high=active_high)
    ok = Indicators(PINS, SimulatedClock(), pin_factory=factory)  # nothing left reserved
    ok.close()


def test_unknown_mode_or_cue_is_a_programming_error():
    ind, _, _ = make()
    with pytest.raises(ValueError):
        ind.show("dancing")
    with pytest.raises(ValueError):
        ind.cue("fanfare")
    ind.close()


def test_docs_table_matches_the_patterns():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "CUES.md").read_text()
    missing = [row for row in table_rows() if row not in doc]
    assert not missing


STEADY = {"off": S(), "ready": S("green"), "recording": S("red"), "unrecoverable": S("amber")}
BLINKING = {"booting": S("green"), "stopping": S("red"), "interrupted": S("amber"),
            "resuming": S("red", "amber")}
BLINKING_OFF = {"resuming": S("red")}  # lit between blinks

operations = st.lists(st.one_of(
    st.tuples(st.just("show"), st.sampled_from(ALL_MODES)),
    st.tuples(st.just("cue"), st.sampled_from(ALL_CUES)),
    st.tuples(st.just("stealth"), st.booleans()),
    st.tuples(st.just("wait"), st.integers(0, 2000)),
), max_size=25)


@settings(max_examples=150, deadline=None)
@given(operations, st.booleans())
def test_no_light_in_stealth_and_always_back_to_the_mode(ops, stealth_vibration):
    ind, clock, factory = make(stealth_vibration=stealth_vibration)
    stealth, mode = False, "off"

    def check():
        if stealth:
            allowed = S("vibration") if stealth_vibration else S()
            assert lit(factory) <= allowed

    for op, arg in ops:
        if op == "show":
            ind.show(arg)
            mode = arg
        elif op == "cue":
            ind.cue(arg)
        elif op == "stealth":
            ind.set_stealth(arg)
            stealth = arg
        else:
            end = clock.monotonic_ns() + arg * MS
            while (due := ind.next_deadline_ns()) is not None and due <= end:
                clock.sleep_until(due)
                ind.tick()
                check()
            clock.sleep_until(end)
            ind.tick()
        check()

    clock.advance(5000 * MS)  # longer than any cue, or hold_reached with the stop waiting behind it
    ind.tick()
    seen = {on for _, on in follow(ind, clock, factory, 1000)}
    if stealth:
        assert seen == {S()}
    elif mode in STEADY:
        assert seen == {STEADY[mode]}
    else:
        assert seen == {BLINKING_OFF.get(mode, S()), BLINKING[mode]}
    ind.close()
