"""Measurement 5, outputframe hold time: how long the recorder keeps a capture thread.

picamera2 calls `outputframe` from its camera loop: whatever the call does, the camera
waits for. The agent runs on the simulated body in real time (SystemClock, 1280x720
30 fps with audio, the default 30 s pre-record, 10 s segments so that a run crosses
several boundaries), RECORD is pressed with a full pre-record ring and held to stop,
twice. Every `outputframe` call is timed from the caller's side.

Baseline, measured in the same run: the work the pipeline's own thread did for the
same events — draining the ring into the writer at each press, closing a segment
(container close + fsync) at each boundary — which a router doing that work inline
would have held the capture thread for (the design before the pipeline had a thread).
"""

import statistics
import tempfile
import time
from pathlib import Path

from recorder.agent.assembly import Agent
from recorder.clock import SystemClock
from recorder.config import config_from_dict
from recorder.pipeline.router import RecordingRouter
from recorder.pipeline.writer import SegmentWriter
from recorder.sim.body import open_simulated_body
from recorder.sim.doubles import ClockedMockFactory
from recorder.sim.fingers import scripted
from recorder.sim.script import parse_timeline

SCRIPT = "press record @31s; hold record 3.5s @52s; press record @56s; hold record 3.5s @79s; end @84s"
NEAR_NS = 500_000_000  # a call this close to a press or a boundary counts as "at" it


class TimedOutputs:
    """Between the encoders and the router: each outputframe call, timed by its caller."""

    def __init__(self, router):
        self.router = router
        self.calls: list[tuple[int, int]] = []  # (monotonic ns of the call, ns it held the caller)

    def _add_stream(self, *args, **kwargs):
        self.router._add_stream(*args, **kwargs)

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        start = time.perf_counter_ns()
        self.router.outputframe(frame, keyframe, timestamp, packet, audio)
        self.calls.append((time.monotonic_ns(), time.perf_counter_ns() - start))


def _timing(cls, name: str, spans: list):
    """Wrap cls.name to record (start monotonic ns, duration ns) of every call."""
    original = getattr(cls, name)

    def timed(self, *args, **kwargs):
        start = time.monotonic_ns()
        try:
            return original(self, *args, **kwargs)
        finally:
            spans.append((start, time.monotonic_ns() - start))

    setattr(cls, name, timed)
    return lambda: setattr(cls, name, original)


def measure() -> dict:
    config = config_from_dict({"segments": {"seconds": 10}})
    clock = SystemClock()
    timed = {}

    def open_timed_body(config, clock, outputs, device_id):
        timed["outputs"] = TimedOutputs(outputs[0])
        return open_simulated_body(config, clock, [timed["outputs"]], device_id)

    drains, closes = [], []
    restore = [_timing(RecordingRouter, "_begin", drains), _timing(SegmentWriter, "_close", closes)]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-hold-", dir="/tmp") as scratch:
            agent = Agent(config, Path(scratch) / "store", clock, ClockedMockFactory(clock), open_timed_body)
            agent.run(scripted(parse_timeline(SCRIPT)))
            backlog = agent.recorder.router.backlog_max
            sync_max = agent.recorder.writer.sync_ns_max
    finally:
        for undo in restore:
            undo()
    calls = timed["outputs"].calls
    held = sorted(h for _, h in calls)
    events = [start for start, _ in drains] + [start for start, _ in closes]
    near = [h for t, h in calls if any(abs(t - e) <= NEAR_NS for e in events)]
    return {
        "calls": len(calls),
        "p50_ms": statistics.median(held) / 1e6,
        "p99_ms": held[int(0.99 * (len(held) - 1))] / 1e6,
        "max_ms": held[-1] / 1e6,
        "near_events_max_ms": max(near) / 1e6 if near else 0.0,
        "near_events_calls": len(near),
        "drain_ms": [d / 1e6 for _, d in drains],
        "close_ms": [d / 1e6 for _, d in closes],
        "inline_max_ms": max(d for _, d in drains + closes) / 1e6,
        "backlog_max_packets": backlog,
        "fragment_sync_max_ms": sync_max / 1e6,
    }
