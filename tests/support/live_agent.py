"""Record from a live body in tests through the same road as `recorder run`: the Agent,
its state machine, run loop and monitors, with buttons on mock pins and the recording
started and stopped by command at set times.

    run = record_live(config, store, make_sources, prerecord_s=0.3, record_s=3.0,
                      during=..., at={seconds_after_the_start: action})

make_sources(config, device_id) -> (camera, microphone). `during(run)` runs right after
the start; `at` runs actions later on the loop's thread. A lost source ends the run as
on the device (an interruption: the session sealed with cause `fault`, the run ended for a
restart): its RestartRequired (or the CaptureError of a source that never opened) is kept
in run.error.
"""

from dataclasses import dataclass, field

from recorder.agent.assembly import Agent
from recorder.capture.live import LiveBody
from recorder.clock import SystemClock
from recorder.errors import CaptureError, RestartRequired
from recorder.sim.doubles import ClockedMockFactory
from recorder.sim.fingers import ScriptedCommands
from recorder.sim.script import Command


@dataclass
class LiveRun:
    agent: Agent
    clock: SystemClock
    start_ns: int = 0
    error: CaptureError | RestartRequired | None = None
    marks: dict = field(default_factory=dict)  # name -> monotonic ns, for the test's own events

    @property
    def body(self):
        return self.agent.body

    @property
    def sessions(self) -> list[dict]:
        return self.agent.recorder.sessions


class At:
    """A loop participant that runs `action()` once, at `at_ns`."""

    def __init__(self, at_ns: int, action):
        self.at_ns, self.action = at_ns, action

    def next_deadline_ns(self):
        return self.at_ns

    def tick(self, now_ns):
        if self.at_ns is not None and now_ns >= self.at_ns:
            self.at_ns = None
            self.action()


def live_body_opener(make_sources, wrap_outputs=lambda outputs: outputs):
    def open_live(config, clock, outputs, device_id):
        camera, microphone = make_sources(config, device_id)
        return LiveBody(clock, camera, microphone, wrap_outputs(outputs))
    return open_live


def record_live(config, store, make_sources, prerecord_s=0.3, record_s=3.0, during=None, at=None,
                wrap_outputs=lambda outputs: outputs) -> LiveRun:
    clock = SystemClock()
    agent = Agent(config, store, clock, ClockedMockFactory(clock), live_body_opener(make_sources, wrap_outputs))
    run = LiveRun(agent, clock)

    def drive(agent):
        origin = agent.body.origin_ns
        start_ns, stop_ns = int(prerecord_s * 1e9), int((prerecord_s + record_s) * 1e9)
        run.start_ns = origin + start_ns
        players = [ScriptedCommands([Command(start_ns, "start"), Command(stop_ns, "stop")], agent.machine, origin)]
        if during is not None:
            players.append(At(run.start_ns, lambda: during(run)))
        for after_s, action in (at or {}).items():
            players.append(At(run.start_ns + int(after_s * 1e9), lambda action=action: action(run)))
        return players, origin + stop_ns

    try:
        agent.run(drive)
    except (CaptureError, RestartRequired) as exc:
        run.error = exc
    return run
