"""Drive the agent on a live body in tests, as recorder/simulate.py does on the simulated one
(until the live run loop exists): pre-record, record, stop, flush, shutdown."""

from dataclasses import dataclass, field

from recorder.agent import Agent
from recorder.capture.live import LiveBody
from recorder.clock import SystemClock
from recorder.errors import CaptureError


@dataclass
class LiveRun:
    agent: Agent
    body: object
    clock: SystemClock
    start_ns: int = 0
    error: CaptureError | None = None
    marks: dict = field(default_factory=dict)  # name -> monotonic ns, for the test's own events


def record_live(config, store, make_sources, prerecord_s=0.3, record_s=3.0, during=None) -> LiveRun:
    """make_sources(config) -> (camera, microphone). `during(run)` is called right after the
    press (e.g. to play a sound); the recording lasts record_s from the press. A CaptureError
    from the body ends the recording at once with the error as the stop cause (kept in run.error)."""
    clock = SystemClock()
    agent = Agent(config, store, clock)
    run = None
    try:
        camera, microphone = make_sources(config, agent.identity.device_id)
        body = LiveBody(clock, camera, microphone, [agent.router])
        run = LiveRun(agent, body, clock)
        try:
            run.start_ns = body.origin_ns + int(prerecord_s * 1e9)
            body.advance_to(run.start_ns)
            agent.start_recording("command", at_ns=run.start_ns)
            if during is not None:
                during(run)
            body.advance_to(run.start_ns + int(record_s * 1e9))
            agent.stop_recording("command", at_ns=clock.monotonic_ns())
        except CaptureError as exc:
            run.error = exc
            if agent.recording:
                agent.stop_recording("capture-error", at_ns=clock.monotonic_ns())
        finally:
            try:
                body.flush()
            except CaptureError as exc:
                run.error = run.error or exc
    finally:
        agent.shutdown("run-complete")
    return run
