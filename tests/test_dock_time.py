"""The rules by which a dock's measured offset places a device's stamps (evidence/dock_time.py,
docs/TIME.md "Placed by the dock"), entry by entry. The end-to-end case — a device recorded,
docked at a real dock over TLS, read back from the dock's copy against the world's time — is
tests/test_clock_steps.py; these hold each rule that keeps a placement from being claimed
where it is not sound."""

from recorder.evidence.dock_time import DockTime

S_US = 1_000_000
BOOT = "boot:1111"


def entry(index, kind, mono_s, clock="rtc", body=None, offset_s=100):
    mono = round(mono_s * S_US)
    return {"index": index, "type": kind, "body": body or {},
            "at": {"mono_us": mono, "wall_us": mono + offset_s * S_US, "clock": clock, "error_us": 2 * S_US}}


def checkout(index, mono_s, offset_us=800_000, error_us=1_000, monotonic=BOOT, clock="rtc"):
    return entry(index, "clock_offset", mono_s, clock,
                 {"dock": "d" * 64, "offset_us": offset_us, "error_us": error_us, "monotonic": monotonic})


def fed(*entries):
    times = DockTime()
    for e in entries:
        times.add(e)
    return times


def test_a_stamp_is_carried_to_the_checkout_along_the_monotonic_clock_with_drift():
    run = entry(0, "agent_start", 10, body={"monotonic": BOOT})
    mark = entry(1, "mark", 20)
    times = fed(run, mark, checkout(2, 1020))
    placed = times.place(1, mark["at"])
    assert placed.wall_us == mark["at"]["wall_us"] + 800_000
    assert placed.error_us == 1_000 + 50_000 + 2  # 1000 s at 50 ppm, and the µs roundings
    assert placed.anchor.index == 2


def test_the_nearest_or_best_checkout_bounds_it():
    run = entry(0, "agent_start", 10, body={"monotonic": BOOT})
    mark = entry(1, "mark", 500)
    times = fed(run, checkout(2, 100, error_us=400_000), mark, checkout(3, 600, error_us=1_000))
    assert times.place(1, mark["at"]).anchor.index == 3  # 100 s away at ±1 ms beats 400 s at ±400 ms


def test_a_checkout_on_another_monotonic_clock_places_nothing():
    run = entry(0, "agent_start", 10, body={"monotonic": "simulated:abc"})
    mark = entry(1, "mark", 20)
    assert fed(run, mark, checkout(2, 30, monotonic=BOOT)).place(1, mark["at"]) is None
    unnamed = entry(0, "agent_start", 10, body={})  # written before the clock was named
    assert fed(unnamed, mark, checkout(2, 30)).place(1, mark["at"]) is None
    assert fed(run, mark, checkout(2, 30, monotonic=None)).place(1, mark["at"]) is None


def test_a_reboot_ends_the_stretch_and_a_restart_in_the_same_boot_does_not():
    first = entry(0, "agent_start", 10, body={"monotonic": BOOT})
    mark = entry(1, "mark", 20)
    restart = entry(2, "agent_start", 40, body={"monotonic": BOOT})
    reboot = entry(2, "agent_start", 5, body={"monotonic": "boot:2222"})
    assert fed(first, mark, restart, checkout(3, 50)).place(1, mark["at"]) is not None
    assert fed(first, mark, reboot, checkout(3, 50, monotonic="boot:2222")).place(1, mark["at"]) is None


def test_a_disciplined_clock_between_ends_the_stretch():
    run = entry(0, "agent_start", 10, body={"monotonic": BOOT})
    before, synced, after = entry(1, "mark", 20), entry(2, "transition", 30, "gnss"), entry(3, "mark", 40)
    times = fed(run, before, synced, after, checkout(4, 50))
    assert times.place(1, before["at"]) is None  # chrony may have slewed the monotonic clock since
    assert times.place(2, synced["at"]) is None
    assert times.place(3, after["at"]) is not None  # back to free running, then checked out
    assert fed(run, before, checkout(2, 50, clock="ntp")).place(1, before["at"]) is None


def test_a_step_to_gnss_or_a_segment_placed_with_a_disciplined_mapping_ends_it():
    run = entry(0, "agent_start", 10, body={"monotonic": BOOT})
    mark = entry(1, "mark", 20)
    step = entry(2, "clock_step", 25, "rtc", {"before": {"source": "rtc"}, "after": {"source": "gnss"}})
    assert fed(run, mark, step, checkout(3, 30)).place(1, mark["at"]) is None
    segment = entry(2, "segment", 25)
    times = DockTime()
    for e in (run, mark, segment):
        times.add(e)
    times.saw(2, {"clock": [{"source": "rtc"}, {"source": "ntp"}], "start": {"clock": "rtc"}, "end": {"clock": "ntp"}})
    times.add(checkout(3, 30))
    assert times.place(1, mark["at"]) is None and times.place(2, segment["at"]) is None


def test_offload_entries_neither_join_nor_break_a_stretch():
    run = entry(0, "agent_start", 10, body={"monotonic": BOOT})
    mark = entry(1, "mark", 20)
    release = entry(2, "release", 999_999, "ntp")  # the offload's own clock, whatever it says
    times = fed(run, mark, release, checkout(3, 30))
    assert times.place(1, mark["at"]) is not None and times.place(2, release["at"]) is None
