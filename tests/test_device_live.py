"""The whole device on a live body: real gpiozero devices (MockFactory pins moved by a script),
the state machine and the OpenCV source reading a real video file on the system clock.
When the file ends the camera is gone: the session closes with cause capture-failed,
the ledger says so, and everything recorded before verifies, frame by frame."""

import pytest

from media import frame_indices, segments_of
from recorder.agent.assembly import Agent
from recorder.capture.select import open_body
from recorder.clock import SystemClock
from recorder.errors import RestartRequired
from recorder.sim.doubles import ClockedMockFactory
from recorder.sim.fingers import scripted
from recorder.sim.script import parse_timeline
from recorder.evidence.verifier import verify_store
from shifts import ledger, of_type, transitions
from test_opencv_source import FPS, opencv_config, video_file


def test_camera_lost_while_recording_closes_the_session_and_keeps_the_evidence(tmp_path):
    path = video_file(tmp_path / "scene.mp4", 3 * FPS)  # the "camera" delivers 3 s, then is gone
    store = tmp_path / "store"
    clock = SystemClock()
    agent = Agent(opencv_config(path), store, clock, ClockedMockFactory(clock), open_body)
    with pytest.raises(RestartRequired, match="capture-failed: .*opencv"):
        agent.run(scripted(parse_timeline("press record @1s; mark @1.5s; end @10s")))
    assert transitions(store) == [
        ("booting", "ready", "boot"),
        ("ready", "recording", "button:record"),
        ("recording", "interrupted", "fault"),  # sealed at once; a fresh process resumes
        ("interrupted", "off", "restart"),
    ]
    [stop] = of_type(ledger(store), "session_stop")
    assert stop["body"]["cause"] == "fault" and stop["body"]["marks"] == 1
    [cut] = of_type(ledger(store), "interruption")
    assert cut["body"]["session_id"] == stop["body"]["session_id"] and "opencv" in cut["body"]["detail"]
    assert ledger(store)[-1]["body"] == {"reason": "restart:capture-failed"}, "agent_stop says why the agent stopped"
    [start] = of_type(ledger(store), "agent_start")
    camera = start["body"]["capture"]["camera"]
    assert start["body"]["capture"]["simulated"] is False and start["body"]["capture"]["microphone"] is None
    assert camera == {"kind": "opencv", "device": str(path), "file": True, "why": "capture.camera = opencv"}
    [session_start] = of_type(ledger(store), "session_start")
    assert session_start["body"]["capture"] == start["body"]["capture"], "each session names its sources"
    report = verify_store(store)
    assert report.ok, report.summary_text()
    assert report.sessions[0]["simulated"] is False and "camera opencv" in report.sessions[0]["sources"]
    indices = [i for segment in segments_of(store) for i in frame_indices(segment)]
    assert indices == list(range(indices[0], indices[-1] + 1)), "contiguous up to the loss"
    assert indices[-1] >= 3 * FPS - 2, "frames up to the end of the file are kept"
