"""Playing a scripted shift: fingers that move the real (mock) input pins, commands, sounds
the microphone hears, and the faults the body is told to have (a stalled camera, a hung
pipeline).

Both are participants of the agent's run loop (recorder/agent/loop.py), ticked before
the inputs are read, so a scripted press goes through the same debouncing, hold and
chord logic as an officer's finger.
"""

from .doubles import HungWriter
from .script import ScriptError, Timeline


class ScriptedFingers:
    """Move the gpiozero input pins (MockFactory) at the timeline's moments, as a contact would."""

    def __init__(self, changes, controls, origin_ns: int, pull_up: bool = True):
        self.changes = list(changes)
        self.controls, self.origin_ns, self.pull_up = controls, origin_ns, pull_up

    def next_deadline_ns(self) -> int | None:
        return self.origin_ns + self.changes[0].at_ns if self.changes else None

    def tick(self, now_ns: int) -> None:
        while self.changes and self.origin_ns + self.changes[0].at_ns <= now_ns:
            change = self.changes.pop(0)
            pin = self.controls.pin_of(change.input)
            if change.pressed == self.pull_up:  # a pulled-up button reads low when pressed
                pin.drive_low()
            else:
                pin.drive_high()


class ScriptedCommands:
    """Start and stop by command (cause `command`) at the timeline's moments."""

    def __init__(self, commands, machine, origin_ns: int):
        self.commands, self.machine, self.origin_ns = list(commands), machine, origin_ns

    def next_deadline_ns(self) -> int | None:
        return self.origin_ns + self.commands[0].at_ns if self.commands else None

    def tick(self, now_ns: int) -> None:
        while self.commands and self.origin_ns + self.commands[0].at_ns <= now_ns:
            command = self.commands.pop(0)
            action = self.machine.start if command.name == "start" else self.machine.stop
            action("command", self.origin_ns + command.at_ns)


class ScriptedSounds:
    """Sounds (`say`, `speak`) played into the simulated body's microphone at the timeline's
    moments, to the sample (SimulatedBody.play_into_microphone)."""

    def __init__(self, sounds, body, origin_ns: int):
        if sounds and not hasattr(body, "play_into_microphone"):
            raise ScriptError("say and speak steps need the simulated body")
        self.sounds, self.body, self.origin_ns = list(sounds), body, origin_ns
        self.played: list[tuple[str, int]] = []  # (step, monotonic ns of its first sample)

    def next_deadline_ns(self) -> int | None:
        return self.origin_ns + self.sounds[0].at_ns if self.sounds else None

    def tick(self, now_ns: int) -> None:
        while self.sounds and self.origin_ns + self.sounds[0].at_ns <= now_ns:
            sound = self.sounds.pop(0)
            started = self.body.play_into_microphone(sound.samples, sound.rate, self.origin_ns + sound.at_ns)
            self.played.append((sound.step, started))


class ScriptedStalls:
    """Stall the simulated camera at the timeline's moments; a stall under way when the run
    starts (a restart after it) holds from the start."""

    def __init__(self, stalls, body, origin_ns: int, now_ns: int):
        self.stalls, self.body, self.origin_ns = list(stalls), body, origin_ns
        self.tick(now_ns)  # under way already: from the body's first frame

    def next_deadline_ns(self) -> int | None:
        return self.origin_ns + self.stalls[0].at_ns if self.stalls else None

    def tick(self, now_ns: int) -> None:
        while self.stalls and self.origin_ns + self.stalls[0].at_ns <= now_ns:
            stall = self.stalls.pop(0)
            end = None if stall.end_ns is None else self.origin_ns + stall.end_ns
            self.body.stall_camera(max(self.origin_ns + stall.at_ns, now_ns), end)


class ScriptedHang:
    """`hang pipeline`: from the timeline's moment the router's segment writer blocks the
    pipeline's thread for good at its next call (a muxer stuck in a write). Only the service
    watchdog sees it: the thread's heartbeat stops (agent/watchdog.py)."""

    def __init__(self, hangs, router, origin_ns: int):
        self.hangs, self.router, self.origin_ns = list(hangs), router, origin_ns

    def next_deadline_ns(self) -> int | None:
        return self.origin_ns + self.hangs[0].at_ns if self.hangs else None

    def tick(self, now_ns: int) -> None:
        if self.hangs and self.origin_ns + self.hangs[0].at_ns <= now_ns:
            self.hangs.clear()
            self.router.writer = HungWriter(self.router.writer)


class PipelineInStep:
    """On simulated time the pipeline's thread would fall behind the clock by however long
    it takes in real time; this participant waits for it at every step, so a fast run
    sees the pipeline as a device sees a pipeline that keeps up (and replays exactly)."""

    def __init__(self, router):
        self.router = router

    def next_deadline_ns(self) -> int | None:
        return None

    def tick(self, now_ns: int) -> None:
        self.router.wait_idle()


def scripted(timeline: Timeline, in_step: bool = False, origin_ns: int | None = None):
    """What Agent.run(drive=...) takes: the timeline played from the body's origin (or from
    origin_ns: a restarted run goes on with the script its predecessor was playing, and
    what was due before it started is not played again), the run ending where the
    timeline ends. in_step: keep the pipeline in step with a simulated clock (PipelineInStep)."""

    def drive(agent):
        origin = agent.body.origin_ns if origin_ns is None else origin_ns
        # a restarted run does not play again what was due before it started
        now = agent.clock.monotonic_ns() if origin_ns is not None else origin
        due = [change for change in timeline.pins if origin + change.at_ns >= now]
        players = [
            ScriptedFingers(due, agent.controls, origin, agent.config.buttons.pull_up),
            ScriptedCommands([c for c in timeline.commands if origin + c.at_ns >= now], agent.machine, origin),
        ]
        stalls = [s for s in timeline.stalls if s.end_ns is None or origin + s.end_ns > now]
        if stalls:
            players.insert(0, ScriptedStalls(stalls, agent.body, origin, agent.clock.monotonic_ns()))
        hangs = [hang for hang in timeline.hangs if origin + hang.at_ns >= now]
        if hangs:
            players.insert(0, ScriptedHang(hangs, agent.recorder.router, origin))
        sounds = [sound for sound in timeline.sounds if origin + sound.at_ns >= now]
        if sounds:
            players.insert(0, ScriptedSounds(sounds, agent.body, origin))
        if in_step:
            players.insert(0, PipelineInStep(agent.recorder.router))
        if getattr(agent.body, "sky", None) is not None:
            agent.body.sky.follow(timeline.path, origin)
        return players, origin + timeline.end_ns

    return drive
