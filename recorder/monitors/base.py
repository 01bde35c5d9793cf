"""The monitor interface.

A monitor is ticked by the agent's run loop, on the loop's thread and the agent's
clock, and reports what it finds as `MonitorEvent`s through `on_event` (the state
machine's handler, set when the agent is assembled):

  next_deadline_ns()   when the monitor next needs a tick (None: the loop's own pace,
                       at most 20 ms, is enough)
  tick(now_ns)         look, and emit events; must be quick and never block (the loop
                       reads the buttons between ticks)
  close()              release what it holds; idempotent

Events carry a `kind` the state machine knows (below), the time of the cause and a
human-readable `detail` that goes into the ledger. A condition is reported once,
not on every tick. Work that may block (reading a slow sysfs file, a socket) runs
on the monitor's own thread and is only picked up in `tick`.
"""

import queue
from typing import NamedTuple

# Kinds of event the state machine acts on.
CAPTURE_FAILED = "capture-failed"  # a camera or microphone failed or vanished
CAPTURE_STALLED = "capture-stalled"  # no video frame for [recovery] stall_seconds
WRITE_FAILED = "write-failed"  # writing a segment failed (an I/O error, an encoder or muxer exception)
STORAGE_FULL = "storage-full"  # a write met a full disk (ENOSPC) despite the reserve
SEAL_FAILED = "seal-failed"  # hashing, signing or the ledger failed
# Battery (monitors/battery.py): the estimated recording time left fell to a warning level
# (detail says which and how many minutes), or to the critical level (seal, interrupt, shut down).
BATTERY_LOW = "battery-low"
BATTERY_CRITICAL = "battery-critical"
# Storage (monitors/storage.py): the recording time the free space allows (above the reserve)
# fell to the warning level; reached the floor (seal and stop); came back above it (resume).
STORAGE_LOW = "storage-low"
STORAGE_FLOOR = "storage-floor"
STORAGE_RECOVERED = "storage-recovered"


class MonitorEvent(NamedTuple):
    kind: str
    at_ns: int
    detail: str
    source: str  # the monitor's name
    error: BaseException | None = None  # the exception behind it, when there is one


class Monitor:
    name = "monitor"

    def __init__(self):
        self.on_event = None  # on_event(MonitorEvent), set by the agent's assembly
        self._closed = False

    def next_deadline_ns(self) -> int | None:
        return None

    def tick(self, now_ns: int) -> None:
        raise NotImplementedError

    def emit(self, kind: str, at_ns: int, detail: str, error: BaseException | None = None) -> None:
        if self.on_event is not None:
            self.on_event(MonitorEvent(kind, at_ns, detail, self.name, error))

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True


class ReportedFailures(Monitor):
    """Failures reported from other threads (a callback), handed to the loop in order.

    `report(kind, exc)` is safe to call from any thread and never blocks: it is the
    callback the pipeline and the sealer call the moment something fails."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self._reported: queue.SimpleQueue = queue.SimpleQueue()

    def report(self, kind: str, exc: BaseException) -> None:
        self._reported.put((kind, self.clock.monotonic_ns(), exc))

    def tick(self, now_ns: int) -> None:
        while True:
            try:
                kind, at_ns, exc = self._reported.get_nowait()
            except queue.Empty:
                return
            self.emit(kind, at_ns, f"{type(exc).__name__}: {exc}", exc)
