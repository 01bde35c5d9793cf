"""A camera whose timestamps stop advancing: a clear error naming the cause (the MP4 muxer
would only say EINVAL), and everything written before it stays sealed and verifies."""

from recorder.agent.recording import SessionRecorder
from recorder.capture.encoders import VideoEncoder
from recorder.capture.synthetic import SyntheticCamera
from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.errors import CaptureError
from recorder.sim.doubles import CollectingOutput
from recorder.evidence.verifier import verify_store


def test_timestamps_that_stop_advancing_are_named_and_evidence_is_kept(tmp_path):
    config = config_from_dict({
        "video": {"width": 160, "height": 120, "fps": 30, "bitrate": 200_000},
        "audio": {"enabled": False}, "prerecord": {"seconds": 0},
    })
    clock = SimulatedClock()
    collected = CollectingOutput()
    encoder = VideoEncoder(config.video, [collected])
    camera = SyntheticCamera(160, 120)
    origin_us = clock.monotonic_ns() // 1000
    for index in range(45):
        encoder.encode(camera.frame(index), origin_us + index * 33_333)
    encoder.flush()

    errors = []
    recorder = SessionRecorder(config, tmp_path, clock, on_write_error=errors.append)
    router = recorder.router
    for stream in collected.streams:
        router._add_stream(*stream[:2], **stream[2])
    recorder.start_recording("command", origin_us * 1000)
    frames = collected.packets
    for timestamp, keyframe, _, frame in frames[:40]:
        router.outputframe(frame, keyframe, timestamp)
    # the same instant as the frame before; released by the interleaver once a later packet comes
    router.outputframe(frames[40].data, frames[40].keyframe, frames[39].timestamp)
    router.outputframe(frames[41].data, frames[41].keyframe, frames[41].timestamp)
    router.flush()
    [session] = recorder.sessions
    assert session["cause"] == "fault"  # an interruption: the state machine names it in the ledger
    recorder.record_interruption(session["session_id"], "fault", "capture-failed: broken timestamps",
                                 clock.monotonic_ns())
    recorder.close("test")
    [error] = errors  # reported by the pipeline at once, from its own thread
    assert isinstance(error, CaptureError) and "video timestamps do not advance" in str(error)
    report = verify_store(tmp_path)
    assert report.ok, report.summary_text()
    assert report.sessions[0]["frames"] >= 30, "the frames before the broken one are sealed"
