"""RECORD, MARK, trigger and the chord on real gpiozero devices (MockFactory pins),
through the real state machine and agent on a SimulatedClock; checked in the ledger."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from recorder.sim.script import PinChange, Timeline
from shifts import ledger, of_type, origin_us, pin_writes, run_device, since_launch_s, transitions

SECOND = 1_000_000_000
MS = 1_000_000
BOOT = [("booting", "ready", "boot")]
SHUTDOWN_IDLE = [("ready", "off", "shutdown")]
SHUTDOWN_RECORDING = [
    ("recording", "stopping", "shutdown"), ("stopping", "ready", "session-closed"), ("ready", "off", "shutdown"),
]


def sessions(store):
    entries = ledger(store)
    starts = of_type(entries, "session_start")
    stops = {e["body"]["session_id"]: e for e in of_type(entries, "session_stop")}
    return [(s, stops.get(s["body"]["session_id"])) for s in starts]


def test_press_starts_and_drains_prerecord(tmp_path):
    run_device(tmp_path, "press record @3s; end @6s")
    assert transitions(tmp_path) == BOOT + [("ready", "recording", "button:record")] + SHUTDOWN_RECORDING
    [(start, stop)] = sessions(tmp_path)
    assert since_launch_s(start, origin_us(tmp_path)) == pytest.approx(3.0)
    assert start["body"]["cause"] == "button:record" and stop["body"]["cause"] == "shutdown"
    # Pre-record: 2 s before the press are in the session (first segment starts at t=1 s).
    [segment, *_] = of_type(ledger(tmp_path), "segment")
    assert (segment["body"]["start_mono_us"] - origin_us(tmp_path)) / 1e6 == pytest.approx(1.0)


def test_mark_while_recording_and_status_when_ready(tmp_path):
    run_device(tmp_path, "mark @1s; press record @2s; mark @3s; mark @4.5s; end @6s")
    marks = of_type(ledger(tmp_path), "mark")
    assert [m["body"]["number"] for m in marks] == [1, 2], "the mark while ready is a status cue only"
    assert [since_launch_s(m, origin_us(tmp_path)) for m in marks] == pytest.approx([3.0, 4.5])
    assert all(m["body"]["cause"] == "button:mark" for m in marks)
    [(_, stop)] = sessions(tmp_path)
    assert stop["body"]["marks"] == 2


def test_short_hold_never_stops(tmp_path):
    run_device(tmp_path, "press record @1s; hold record 2.9s @3s; hold record 1s @7s; end @10s")
    [(_, stop)] = sessions(tmp_path)
    assert stop["body"]["cause"] == "shutdown"


def test_long_hold_stops_at_the_threshold(tmp_path):
    run_device(tmp_path, "press record @1s; hold record 3.5s @4s; end @9s")
    [(_, stop)] = sessions(tmp_path)
    assert stop["body"]["cause"] == "button:record-hold"
    assert since_launch_s(stop, origin_us(tmp_path)) == pytest.approx(7.0), "stop at press + 3 s"
    assert transitions(tmp_path)[1:4] == [
        ("ready", "recording", "button:record"),
        ("recording", "stopping", "button:record-hold"),
        ("stopping", "ready", "session-closed"),
    ]


def test_hold_that_started_the_recording_never_stops_it(tmp_path):
    run_device(tmp_path, "hold record 5s @1s; end @8s")
    [(start, stop)] = sessions(tmp_path)
    assert start["body"]["cause"] == "button:record" and stop["body"]["cause"] == "shutdown"


def test_hold_threshold_is_configurable(tmp_path):
    run_device(tmp_path, "press record @1s; hold record 1.6s @3s; end @6s", {"buttons": {"hold_seconds": 1.5, "chord_seconds": 1.0}})
    [(_, stop)] = sessions(tmp_path)
    assert stop["body"]["cause"] == "button:record-hold"
    assert since_launch_s(stop, origin_us(tmp_path)) == pytest.approx(4.5)


def test_trigger_starts_like_a_press(tmp_path):
    run_device(tmp_path, "trigger @2s; trigger @4s; end @6s", {"buttons": {"trigger": "GPIO22"}})
    [(start, _)] = sessions(tmp_path)
    assert start["body"]["cause"] == "trigger"
    assert since_launch_s(start, origin_us(tmp_path)) == pytest.approx(2.0)


def test_press_while_stopping_is_kept_and_carried_out(tmp_path):
    # The hold stops at 5 s; the encoder still holds frames past it when RECORD is pressed
    # again 10 ms after the release: the start must happen, dated at the press.
    run_device(tmp_path, "press record @1s; hold record 3s @2s; press record @5.05s; end @8s")
    [(first_start, first_stop), (second_start, second_stop)] = sessions(tmp_path)
    assert first_stop["body"]["cause"] == "button:record-hold"
    assert second_start["body"]["cause"] == "button:record"
    assert since_launch_s(second_start, origin_us(tmp_path)) == pytest.approx(5.05)
    assert second_stop["body"]["cause"] == "shutdown"


def test_chord_toggles_stealth_and_never_stops(tmp_path):
    run_device(tmp_path, "press record @1s; chord 3.5s @2s; chord 2.2s @7s; end @11s")
    entries = ledger(tmp_path)
    assert [e["body"]["enabled"] for e in of_type(entries, "stealth")] == [True, False]
    [(_, stop)] = sessions(tmp_path)
    assert stop["body"]["cause"] == "shutdown", "a chord longer than the hold time must not stop"


def test_ledger_modes_follow_the_table(tmp_path):
    from recorder.evidence.verifier import verify_store

    run_device(tmp_path, "press record @1s; mark @2s; hold record 3s @3s; trigger @7s; end @9s",
               {"buttons": {"trigger": "GPIO22"}})
    report = verify_store(tmp_path)
    assert report.ok, report.summary_text()
    assert [s["start_cause"] for s in report.sessions] == ["button:record", "trigger"]
    assert [s["stop_cause"] for s in report.sessions] == ["button:record-hold", "shutdown"]
    assert [len(s["marks"]) for s in report.sessions] == [1, 0]


# --- contact chatter -----------------------------------------------------------------------
DEBOUNCE_MS = 30

bounces = st.lists(st.integers(min_value=1, max_value=DEBOUNCE_MS - 1), max_size=8)


def _press(at_ns, bounce_in, held_ms, bounce_out):
    """Raw edges of one press: contact bounce, a stable hold, bounce on release."""
    changes, t, level = [], at_ns, True
    for gap in bounce_in:
        changes.append(PinChange(t, "record", level))
        t, level = t + gap * MS, not level
    changes.append(PinChange(t, "record", True))  # settles pressed
    t += held_ms * MS
    level = False
    for gap in bounce_out:
        changes.append(PinChange(t, "record", level))
        t, level = t + gap * MS, not level
    changes.append(PinChange(t, "record", False))  # settles released
    return changes, t


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.tuples(bounces, st.integers(DEBOUNCE_MS + 1, 5000), bounces),
    second=st.tuples(bounces, st.integers(DEBOUNCE_MS + 1, 2900), bounces),
    noise=bounces,
)
def test_chatter_never_stops_and_never_loses_a_start(tmp_path_factory, start, second, noise):
    """A start press with any bounce starts once; a later press held less than the hold
    time, with any bounce, never stops; pure chatter shorter than the debounce does nothing.
    The contact counts as closed until its release bounce settles, so "held" includes the
    release bounce (2767 ms + 8 x 29 ms of bounce is a 3 s press, and stops)."""
    _, held_ms, bounce_out = second
    assume(held_ms + sum(bounce_out) < 2990)
    store = tmp_path_factory.mktemp("chatter")
    pins, t = _press(1 * SECOND, *start)
    more, t = _press(t + 500 * MS, *second)
    pins += more
    t += 500 * MS
    level = True
    for gap in noise:  # glitches, each shorter than the debounce
        pins.append(PinChange(t, "record", level))
        t, level = t + gap * MS, not level
    pins.append(PinChange(t, "record", False))
    run_device(store, Timeline(pins, [], t + 500 * MS, ["generated"]))
    modes = transitions(store)
    assert modes[1] == ("ready", "recording", "button:record"), modes
    assert modes[2:] == SHUTDOWN_RECORDING, modes


def test_hold_threshold_cue_the_moment_it_is_reached(tmp_path):
    device = run_device(tmp_path, "press record @1s; hold record 3.5s @4s; end @9s")
    vibration = pin_writes(device, "vibration")
    assert (7.0, True) in vibration, "the threshold is felt at press + 3 s, while still held"
    assert not [t for t, on in vibration if on and 4.5 < t < 7.0], "nothing between the still-recording cue and the threshold"


def test_stealth_darkens_and_silences_but_keeps_recording(tmp_path):
    device = run_device(tmp_path, "press record @1s; chord 2.5s @2s; mark @6s; end @8s")
    stealth_from = 2.0 + 2.0  # chord held 2 s
    for output in ("green", "red", "amber", "buzzer"):
        lit = [t for t, on in pin_writes(device, output) if on and stealth_from <= t]
        assert not lit, f"{output} lit in stealth at {lit}"
    assert (6.03, True) in pin_writes(device, "vibration"), "the mark is still felt"
    red = pin_writes(device, "red")
    assert red[-1][0] == stealth_from and red[-1][1] is False, "red goes dark when stealth begins"
    [(_, stop)] = sessions(tmp_path)
    assert stop["body"]["cause"] == "shutdown"
    assert stop["body"]["marks"] == 2, "the chord's MARK press is a mark too (docs/STATE_MACHINE.md)"


def test_simultaneous_presses_start_and_never_stop(tmp_path):
    run_device(tmp_path, "press record @1s; press mark @1s; press record @3s; press mark @3s; end @5s")
    [(start, stop)] = sessions(tmp_path)
    assert since_launch_s(start, origin_us(tmp_path)) == pytest.approx(1.0)
    assert stop["body"]["cause"] == "shutdown"
    assert stop["body"]["marks"] == 2, "a MARK pressed with the start marks the start: RECORD is acted on first"
