"""Where and when in the evidence (format 4): the simulated body walks a scripted path, its
receiver's NMEA goes through a real gpsd, and the sealed manifests must carry the path —
at the right seconds, never a stale position as a fix — while the recording goes on frame
by frame; every time stamp states its source and bound, and a wall-clock step is in the
ledger without bending media time."""

import math

import pytest

from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.evidence.verifier import verify_store
from recorder.sim.agent import SimulatedAgent
from recorder.config.settings import parse_lat_lon as parse_place
from recorder.sim.path import Path as WalkPath
from recorder.sim.script import parse_timeline

from conftest import require_tool
from media import frame_indices, ledger_entries, manifest_of, segments_of

START = "31.2304,121.4737"
TINY = {
    "video": {"width": 160, "height": 120, "fps": 10, "bitrate": 200_000, "preset": "ultrafast"},
    "audio": {"enabled": False},
    "prerecord": {"seconds": 2},
    "segments": {"seconds": 10},
    "gnss": {"simulated_start": START},
}
WALK = "press record @2s; walk 31.2313,121.4752 20s @5s; mark @12s; indoors 6s @28s; hold record 3.5s @40s"
E7 = 10_000_000
# NMEA carries 5 decimals of minutes: 1/6 000 000 degree; a point is written in 1e-7 degree.
RESOLUTION_E7 = math.ceil(E7 / 6_000_000) + 1


def shift(store, script: str, clock=None, **overrides):
    settings = {section: dict(values) for section, values in TINY.items()}
    for section, values in overrides.items():
        settings.setdefault(section, {}).update(values)
    clock = clock or SimulatedClock()
    agent = SimulatedAgent(config_from_dict(settings), store, clock)
    return agent.play(parse_timeline(script)), clock


def track_points(store) -> list[dict]:
    return [p for segment in segments_of(store) for p in manifest_of(segment)["track"]["points"]]


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    require_tool("gpsd")
    store = tmp_path_factory.mktemp("walk") / "store"
    agent, clock = shift(store, WALK)
    return store, agent, clock


def test_the_sealed_track_follows_the_walked_path_at_the_right_seconds(walked):
    store, agent, clock = walked
    path = WalkPath(parse_place(START), parse_timeline(WALK).path)
    fixes = [p for p in track_points(store) if p["fix"] != "none"]
    assert len(fixes) >= 25
    for point in fixes:
        # the receiver's UTC of the fix is the world's time: where was the body then?
        mono_ns = point["utc_us"] * 1000 - clock.true_offset_ns
        truth = path.place(mono_ns - agent.body.origin_ns)
        assert abs(point["lat_e7"] - round(truth.lat * E7)) <= RESOLUTION_E7, point
        assert abs(point["lon_e7"] - round(truth.lon * E7)) <= RESOLUTION_E7, point
        # the fix arrived when the world's clock said so: its age is honest
        assert point["mono_us"] - point["age_ms"] * 1000 - 1000 <= mono_ns // 1000 <= point["mono_us"]
    moving = [p for p in fixes if p["speed_mm_s"] > 0]
    assert moving and all(abs(p["speed_mm_s"] - 8_630) < 200 for p in moving)  # ~173 m in 20 s


def test_no_position_older_than_its_stated_age_and_none_indoors(walked):
    store, agent, clock = walked
    points = track_points(store)
    indoors = [p for p in points if 29_000_000 <= p["mono_us"] - agent.body.origin_ns // 1000 < 34_000_000]
    assert indoors and all(p["fix"] == "none" and "lat_e7" not in p for p in indoors)
    for p in points:
        if p["fix"] != "none":
            assert 0 <= p["age_ms"] <= 2000
    statuses = [manifest_of(s)["track"]["status"] for s in segments_of(store)]
    assert "partial" in statuses


def test_recording_never_waited_for_the_receiver(walked):
    store, _, _ = walked
    frames = [i for segment in segments_of(store) for i in frame_indices(segment)]
    assert frames == list(range(frames[0], frames[0] + len(frames)))


def test_a_mark_carries_its_position_and_age(walked):
    store, agent, clock = walked
    mark = next(e for e in ledger_entries(store) if e["type"] == "mark")
    position = mark["body"]["position"]
    assert position["fix"] == "3d" and 0 <= position["age_ms"] <= 1000
    truth = WalkPath(parse_place(START), parse_timeline(WALK).path).place(
        position["utc_us"] * 1000 - clock.true_offset_ns - agent.body.origin_ns)
    assert abs(position["lat_e7"] - round(truth.lat * E7)) <= RESOLUTION_E7


def test_every_stamp_states_source_and_bound_and_the_verifier_sums_them(walked):
    store, _, clock = walked
    for entry in ledger_entries(store):
        assert entry["at"]["clock"] in ("rtc", "gnss") and isinstance(entry["at"]["error_us"], int)
        # the bound holds: the stated wall time is within it of the world's time
        truth_us = clock.true_wall_ns_at(entry["at"]["mono_us"] * 1000) // 1000
        assert abs(entry["at"]["wall_us"] - truth_us) <= entry["at"]["error_us"]
    report = verify_store(store)
    assert report.ok, report.summary_text()
    summary = report.sessions[0]["where_and_when"]
    assert 0.6 < summary["fix_share"] < 0.95  # the first fix after 2 s, 6 s indoors
    assert 2_000_000 <= summary["worst_clock_error_us"] < 2_001_000  # the RTC's stated 2 s, before the first sync
    assert "gnss" in summary["clock_sources"]


def test_without_a_receiver_every_segment_says_so(tmp_path):
    store = tmp_path / "store"
    shift(store, "start @1s; stop @12s", gnss={"receiver": "none"})
    for segment in segments_of(store):
        track = manifest_of(segment)["track"]
        assert track["status"] == "no-receiver" and track["points"] == [] and track["fix_ms"] == 0
    assert verify_store(store).ok


def test_a_dead_gpsd_costs_recording_nothing(tmp_path):
    """[gnss] receiver = gpsd on a port where nothing listens: the client keeps trying, the
    track says no-fix, and every frame is recorded."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    store = tmp_path / "store"
    shift(store, "start @1s; stop @13s", gnss={"receiver": "gpsd", "port": port, "simulated_sky": False})
    frames = [i for segment in segments_of(store) for i in frame_indices(segment)]
    assert len(frames) >= 120 and frames == list(range(frames[0], frames[0] + len(frames)))
    assert {manifest_of(s)["track"]["status"] for s in segments_of(store)} == {"no-fix"}
    assert verify_store(store).ok


def test_without_gpsd_installed_the_simulated_sky_hands_its_fixes_over_and_says_so(tmp_path, monkeypatch):
    import recorder.sim.sky as sky

    monkeypatch.setattr(sky, "gpsd_path", lambda: None)
    agent, clock = shift(tmp_path / "store", "start @1s; walk 31.2313,121.4752 6s @2s; stop @9s")
    assert "gpsd not installed" in agent.receiver.description
    fixes = [p for p in track_points(tmp_path / "store") if p["fix"] != "none"]
    assert len(fixes) >= 5 and fixes[0]["lat_e7"] < fixes[-1]["lat_e7"] <= 312313000  # walking north
    assert verify_store(tmp_path / "store").ok


class RestartGpsd:
    """A loop participant: at script time at_s gpsd dies (SIGKILL) and a new one starts on the
    same port, as systemd would restart it; the sky writes into the new one."""

    def __init__(self, sky, at_ns):
        self.sky, self.at_ns, self.done = sky, at_ns, False

    def next_deadline_ns(self):
        return None if self.done else self.at_ns

    def tick(self, now_ns):
        if self.done or now_ns < self.at_ns:
            return
        from recorder.sim.gpsd_feed import GpsdFeed

        self.done = True
        old = self.sky.feed
        old.kill()
        old.close()
        self.sky.feed = GpsdFeed(port=old.port)


def test_a_gpsd_restart_mid_recording_costs_no_frame_and_the_fixes_come_back(tmp_path):
    require_tool("gpsd")
    from recorder.sim.fingers import scripted

    settings = {section: dict(values) for section, values in TINY.items()}
    agent = SimulatedAgent(config_from_dict(settings), tmp_path / "store", SimulatedClock())
    play = scripted(parse_timeline("start @1s; walk 31.2313,121.4752 20s @2s; stop @24s"), in_step=True)

    def drive(agent):
        players, end_ns = play(agent)
        return [RestartGpsd(agent.body.sky, agent.body.origin_ns + 10_000_000_000), *players], end_ns

    agent.run(drive)
    store = tmp_path / "store"
    assert agent.receiver.client.reconnects >= 1
    points = track_points(store)
    origin_us = agent.body.origin_ns // 1000
    after = [p for p in points if p["mono_us"] - origin_us > 14_000_000]
    assert after and all(p["fix"] == "3d" for p in after)  # back within the backoff and a cycle
    frames = [i for segment in segments_of(store) for i in frame_indices(segment)]
    assert frames == list(range(frames[0], frames[0] + len(frames)))
    assert verify_store(store).ok
