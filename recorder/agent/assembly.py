"""The agent: store, sealer, pipeline, capture body, inputs, cues, monitors, state machine,
run loop — the composition root.

The same assembly runs on a Pi (gpiozero's default pin factory, real capture sources)
and on the simulated body (MockFactory pins, synthetic capture, recorder/sim/): only
the pin factory and the function that opens the body differ. Everything it opens is
closed on every path, the sealer last, so queued seals always reach the disk.
"""

import logging
import signal
import sys
import threading
import warnings
from contextlib import ExitStack, contextmanager

from ..config import Config
from ..errors import CaptureError, PowerOffRequired, RecorderError, RestartRequired
from ..io.controls import Controls
from ..io.indicators import Indicators
from ..monitors.base import CAPTURE_FAILED, STORAGE_FULL
from ..monitors.battery import BatteryMonitor
from ..monitors.capture import CaptureMonitor
from ..monitors.pipeline import PipelineMonitor
from ..monitors.storage import StorageMonitor
from ..power import open_power
from ..sdnotify import Notifier, watchdog_interval_ns
from ..telemetry.receivers import open_receiver
from ..telemetry.track import Track
from ..voice.output import open_player
from .explaining import Explainer
from .loop import RunLoop, finish
from .recording import SessionRecorder
from .state import StateMachine
from .timekeeping import TimeKeeper
from .watchdog import ServiceWatchdog, status_line

log = logging.getLogger("recorder")

# Why a run ended: the `reason` of its `agent_stop` entry (docs/FORMATS.md). Besides these,
# `signal:<NAME>` (signal:SIGTERM, signal:SIGINT), and for an interruption that ends the run
# `restart:<event>` (restart:capture-stalled: a fault, start again) or `shutdown:<event>`
# (shutdown:battery-critical: power off).
RUN_COMPLETE = "run-complete"  # the run's end time came (a script or a duration ended)
STOP_REQUESTED = "stop-requested"  # stop_requested set with no reason given (a bench, a test)
CLOSED = "closed"  # the agent was closed without running


def end_reason(off_cause: str, event) -> str:
    """The agent_stop reason for a MonitorEvent that ended the run."""
    return f"{off_cause}:{event.kind}"


def error_reason(exc: BaseException) -> str:
    """The agent_stop reason for an exception that ended the run."""
    if isinstance(exc, KeyboardInterrupt):  # SIGINT with Python's own handler
        return "signal:SIGINT"
    if isinstance(exc, CaptureError):  # a source that could not be opened
        return CAPTURE_FAILED
    return f"error:{type(exc).__name__}"


class Agent:
    def __init__(self, config: Config, store_root, clock, pin_factory, open_body, identity_dir=None,
                 create_identity: bool = True):
        """open_body(config, clock, outputs, device_id) -> a capture body (recorder/capture/body.py);
        identity_dir, create_identity: the device's keys (SessionRecorder)."""
        self.config, self.clock, self.open_body = config, clock, open_body
        self.pin_factory = pin_factory
        self.body = None
        self.started = threading.Event()  # the loop runs: inputs are being read
        self.stop_requested = threading.Event()  # ends the run (signals, the state machine, benches)
        self.end_event = None  # the MonitorEvent that ended the run, if one did
        self.stop_reason = None  # why the run ended (agent_stop's reason); the first cause wins
        self.announce = log.info  # says which capture sources were chosen, and why
        # systemd's notifications (READY, STATUS, WATCHDOG, STOPPING): nothing off systemd.
        self.notifier = Notifier.from_environment()
        self.watchdog = None
        self._closed = False
        cues = config.cues
        with ExitStack() as opened:  # unwound only when assembly fails half-way
            self.indicators = Indicators.from_config(cues, clock, pin_factory)
            opened.callback(self.indicators.close)
            self.controls = Controls(config.buttons, clock, pin_factory)
            opened.callback(self.controls.close)
            self.power = open_power(config.power, clock)
            opened.callback(self.power.close)
            self.pipeline_monitor = PipelineMonitor(clock)
            self.recorder = SessionRecorder(config, store_root, clock,
                                            on_write_error=self.pipeline_monitor.write_failed,
                                            on_seal_error=self.pipeline_monitor.seal_failed,
                                            identity_dir=identity_dir, create_identity=create_identity)
            self._resources = opened.pop_all()
        self.recorder.on_storage_full = self.pipeline_monitor.storage_full
        self.machine = StateMachine(self.recorder, self.indicators, clock, cues.reminder_seconds,
                                    request_end=self._end_requested, resume=config.recovery.resume)
        self.controls.on_event = self.machine.handle
        self.pipeline_monitor.on_event = self.machine.on_monitor_event

    def request_stop(self, reason: str):
        """End the run (from any thread: a signal handler, a bench); `reason` goes into the
        ledger's agent_stop entry unless something else ended the run first."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_requested.set()

    def _end_requested(self, event):
        if self.end_event is None:
            self.end_event = event
        self.request_stop(end_reason(self.machine.off_cause, event))

    def run(self, drive=None, end_ns: int | None = None) -> "Agent":
        """Run until end_ns, the end of what `drive` plays, or stop_requested; everything is
        sealed and closed on return.

        drive(agent) -> (participants, end_ns): extra loop participants that play the
        device (recorder/sim/fingers.py), ticked before the inputs are read.
        An interruption that ends the run raises, once everything is sealed and closed:
        RestartRequired for a fault (a lost or stalled source, a write or seal failure),
        PowerOffRequired for the battery. The run's agent_stop entry says why it ended
        (stop_reason: run-complete, signal:…, restart:…, shutdown:…)."""
        try:
            try:
                self.body = self.open_body(self.config, self.clock, self.recorder.outputs,
                                           self.recorder.identity.device_id)
            except BaseException:
                self.recorder.agent_started(None)  # the run is in the ledger, without sources
                self.recorder.recover()  # what a dead run left is sealed even so
                raise
            self.recorder.agent_started(self.body.capture_record())
            self.announce(self.body.description)
            self.machine.explainer = self._explainer()
            resume = self.recorder.recover()
            self.machine.booted(self.body.origin_ns, resume=resume)
            capture_monitor = CaptureMonitor(self.body, lambda: self.recorder.router.last_video_us,
                                             self.config.recovery.stall_seconds, self.body.origin_ns)
            monitors = [capture_monitor, self.pipeline_monitor, *self._health_monitors()]
            for monitor in monitors:
                monitor.on_event = self.machine.on_monitor_event
            self._watch_for_space(monitors)
            whereabouts = self._where_and_when()
            players, drive_end_ns = drive(self) if drive else ([], None)
            router = self.recorder.router
            self.watchdog = ServiceWatchdog(self.notifier, watchdog_interval_ns(), router,
                                            lambda: status_line(self.machine, router))
            loop = RunLoop(self.clock, self.body, [
                *players, *whereabouts, *self.power.participants, self.controls, *monitors, self.machine,
                self.indicators, self.watchdog,  # last: it vouches for a whole step
            ], self.stop_requested)
            self.started.set()
            self.watchdog.start()  # READY=1: recovered, the loop about to run
            loop.run(end_ns if end_ns is not None else drive_end_ns)
            if self.stop_reason is None:  # the loop saw the end time, or a bare stop_requested
                self.stop_reason = STOP_REQUESTED if self.stop_requested.is_set() else RUN_COMPLETE
            finish(self.machine, self.body, self.recorder, "shutdown", self.clock.monotonic_ns())
        except BaseException as exc:
            if self.stop_reason is None:
                self.stop_reason = error_reason(exc)
            raise
        finally:
            self.notifier.stopping(f"stopping ({self.stop_reason or CLOSED})")
            self.close()
            self.notifier.close()
        self._raise_end_cause()
        return self

    def _where_and_when(self) -> list:
        """The receiver (the body's own on the simulated body, else [gnss]'s), the track it
        feeds to the sealer and the marks, and the keeper of the clock and the OSD; the loop
        participants that run them, the body's (its sky) first."""
        gnss = self.config.gnss
        own = getattr(self.body, "gnss_receiver", None)
        self.receiver = (own() if own is not None else None) or open_receiver(gnss, self.clock)
        self._resources.callback(self.receiver.close)
        self.announce(f"GNSS: {self.receiver.description}")
        self.track = Track(self.receiver, self.clock, round(gnss.max_age_seconds * 1e9))
        self.recorder.sealer.track_between = self.track.between
        self.recorder.position_at = self.track.position_at
        body_participants = getattr(self.body, "participants", [])
        return [*body_participants, self.track, TimeKeeper(self.clock, self.track, self.body.osd_status)]

    def _health_monitors(self) -> list:
        """The battery (when there is one) and the store's free space (unless the reserve is
        disabled)."""
        monitors = []
        if self.power.supply is not None:
            self.announce(self.power.description)
            monitors.append(BatteryMonitor.from_config(self.power.supply, self.config.power))
        if self.config.storage.reserve_mb:
            monitors.append(StorageMonitor.from_config(self.recorder.store.root, self.config))
        return monitors

    def _explainer(self) -> Explainer:
        """The voice of a resume: the body's own speaker where it has one (the simulated body
        mixes prompts into its microphone), else the one `voice.output` names."""
        voice = self.config.voice
        speaker = getattr(self.body, "speaker", None)
        player = speaker() if speaker is not None else open_player(voice, self.clock)
        self.announce(f"voice prompts: {player.description} ({voice.language})")
        explainer = Explainer(player, self.body, voice.language, voice.explanation_seconds, self.clock,
                              quiet=lambda: self.indicators.stealth)
        self._resources.callback(explainer.close)
        return explainer

    def _watch_for_space(self, monitors: list):
        """A write that met a full disk counts as the storage floor for the storage monitor,
        which then reports the space coming back (and recording resumes)."""
        storage = next((m for m in monitors if isinstance(m, StorageMonitor)), None)
        if storage is None:
            return

        def on_pipeline_event(event):
            if event.kind == STORAGE_FULL:
                storage.disk_full(event.at_ns)
            self.machine.on_monitor_event(event)

        self.pipeline_monitor.on_event = on_pipeline_event

    def _raise_end_cause(self):
        event = self.end_event
        if event is None:
            return
        detail = f"{event.kind}: {event.detail}; what was recorded is sealed and the interruption is in the ledger"
        if self.machine.off_cause == "restart":
            raise RestartRequired(detail)
        raise PowerOffRequired(detail)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self):
        """Stop capture, seal everything queued (the agent_stop entry last, with stop_reason),
        release the pins. Idempotent; each step runs even if one before it fails, and the
        sealer drains before the pins go."""
        if self._closed:
            return
        self._closed = True
        with ExitStack() as stack:
            stack.push(self._resources)  # pins and cues: released last
            stack.callback(self.recorder.close, self.stop_reason or CLOSED)
            if self.body is not None:
                stack.callback(self.body.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def default_pin_factory():
    """gpiozero's pin factory for this board, or a clear error where there is none."""
    from gpiozero import Device as GpioDevice
    from gpiozero.exc import BadPinFactory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gpiozero warns once per library it could not load
        try:
            return GpioDevice._default_pin_factory()
        except BadPinFactory:
            raise RecorderError(
                "no GPIO on this machine (gpiozero found no pin library): use `recorder run --simulate`, "
                "or set GPIOZERO_PIN_FACTORY=mock to record from real capture sources without buttons"
            ) from None


def run_on_device(config: Config, store_root, identity_dir) -> Agent:
    """The device's service: real pins, the capture sources [capture] selects, the system
    clock; runs until SIGTERM or SIGINT, then stops any recording and seals everything.
    A device without an identity refuses, as its pins or its store's filesystem would, before
    anything is written: it must be provisioned."""
    from ..capture.select import open_body
    from ..clock import SystemClock
    from ..evidence.layout import StoreLayout
    from ..seal.identity import require_identity
    from ..store.mounts import require_data_partition

    pins = default_pin_factory()
    if config.storage.require_data_partition:
        require_data_partition(store_root)  # before anything is written there
    require_identity(identity_dir, StoreLayout(store_root))
    agent = Agent(config, store_root, SystemClock(), pins, open_body, identity_dir, create_identity=False)
    agent.announce = lambda text: print(f"recorder: {text}", file=sys.stderr, flush=True)

    with stopped_by_signals(agent):
        return agent.run()


@contextmanager
def stopped_by_signals(agent: Agent):
    """SIGTERM (systemd's stop, a power off) and SIGINT end the run as a stop: recording
    stopped and everything sealed, `agent_stop` naming the signal."""

    def stop_on_signal(signum, _frame):
        agent.request_stop(f"signal:{signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, stop_on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield agent
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
