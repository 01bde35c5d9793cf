"""`recorder export --gpx`: a session's track as GPX 1.1, valid against the published schema
(tests/data/gpx-1.1.xsd, checked by libxml2's xmllint, a validator independent of ours),
with a new trkseg where the fix was lost, marks and the interruption as waypoints, and a
session with no fix at all still a valid file that says why."""

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import recorder, require_tool
from media import ledger_entries, manifest_of, segments_of
from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.errors import RestartRequired
from recorder.sim.agent import SimulatedAgent
from recorder.sim.script import parse_timeline

XSD = Path(__file__).parent / "data" / "gpx-1.1.xsd"
NS = {"g": "http://www.topografix.com/GPX/1/1"}
TINY = {
    "video": {"width": 64, "height": 48, "fps": 10, "bitrate": 100_000, "preset": "ultrafast"},
    "audio": {"enabled": False},
    "prerecord": {"seconds": 2},
    "segments": {"seconds": 10},
}


def record(store, script, **gnss):
    config = config_from_dict({**TINY, "gnss": gnss})
    try:
        SimulatedAgent(config, store, SimulatedClock()).play(parse_timeline(script))
    except RestartRequired:  # a stalled camera: sealed, interrupted, the run ends for a restart
        pass
    return next(e["body"]["session_id"] for e in ledger_entries(store) if e["type"] == "session_start")


def export(store, session, tmp_path, *extra) -> tuple[ET.Element, Path]:
    out = tmp_path / f"{session}.gpx"
    recorder("export", "--gpx", session, "--store", store, "-o", out, *extra)
    xmllint = require_tool("xmllint")
    checked = subprocess.run([xmllint, "--noout", "--schema", str(XSD), str(out)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    return ET.parse(out).getroot(), out


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    require_tool("gpsd")
    store = tmp_path_factory.mktemp("gpx") / "store"
    session = record(store, "press record @1s; walk 31.2313,121.4752 12s @4s; mark @8s; indoors 5s @17s; "
                            "mark @19s; hold record 3.5s @26s")
    return store, session


def test_the_track_validates_and_splits_where_the_fix_was_lost(walked, tmp_path):
    store, session = walked
    root, _ = export(store, session, tmp_path)
    segments = root.findall("g:trk/g:trkseg", NS)
    assert len(segments) == 2  # before the building and after it
    points = root.findall("g:trk/g:trkseg/g:trkpt", NS)
    sealed = [p for s in segments_of(store) for p in manifest_of(s)["track"]["points"] if p["fix"] != "none"]
    assert len(points) == len(sealed)
    first = points[0]
    assert first.get("lat") == f"{sealed[0]['lat_e7'] // 10_000_000}.{sealed[0]['lat_e7'] % 10_000_000:07d}"
    assert first.find("g:fix", NS).text == "3d" and first.find("g:sat", NS).text == "9"
    times = [p.find("g:time", NS).text for p in points]
    assert times == sorted(times)


def test_marks_are_waypoints_where_they_were_made(walked, tmp_path):
    store, session = walked
    root, _ = export(store, session, tmp_path, "--language", "en")
    names = [w.find("g:name", NS).text for w in root.findall("g:wpt", NS)]
    assert names == ["Mark 1"]  # mark 2 was made indoors: no fix, so no waypoint
    assert "mark 2: no fix" in root.find("g:metadata/g:desc", NS).text


def test_an_interruption_is_a_waypoint_at_the_last_fix_before_it(tmp_path):
    require_tool("gpsd")
    store = tmp_path / "store"
    session = record(store, "press record @1s; walk 31.2313,121.4752 10s @3s; stall camera 3s @10s; end @20s")
    root, _ = export(store, session, tmp_path)
    [waypoint] = root.findall("g:wpt", NS)
    assert waypoint.find("g:name", NS).text.startswith("中断")


def test_a_session_without_any_fix_is_a_valid_gpx_that_says_why(tmp_path):
    store = tmp_path / "store"
    session = record(store, "start @1s; stop @8s", receiver="none")
    root, out = export(store, session, tmp_path, "--language", "en")
    assert root.findall(".//g:trkpt", NS) == [] and root.findall("g:wpt", NS) == []
    assert "no fix during the whole session" in root.find("g:metadata/g:desc", NS).text
    assert "no-receiver" in root.find("g:metadata/g:desc", NS).text
    again = recorder("export", "--gpx", session, "--store", store, "-o", out, check=False)
    assert again.returncode == 2 and "exists already" in again.stderr  # never overwritten


def test_an_unknown_session_is_a_clear_error(walked):
    store, _ = walked
    result = recorder("export", "--gpx", "no-such-session", "--store", store, check=False)
    assert result.returncode == 2 and "no session no-such-session" in result.stderr


def test_a_tampered_manifest_is_left_out_and_named(tmp_path):
    require_tool("gpsd")
    store = tmp_path / "store"
    session = record(store, "start @1s; stop @22s")
    manifest = sorted(store.glob("media/*/00001.manifest.json"))[0]
    manifest.chmod(0o644)
    manifest.write_bytes(manifest.read_bytes().replace(b'"lat_e7":312304000', b'"lat_e7":312404000'))
    root, _ = export(store, session, tmp_path, "--language", "en")
    assert "left out: segment 1" in root.find("g:metadata/g:desc", NS).text
    assert all(p.get("lat") != "31.2404000" for p in root.findall(".//g:trkpt", NS))
