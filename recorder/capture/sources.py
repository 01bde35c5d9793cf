"""The capture source interface every camera and microphone implements.

A source owns its device and its encoder. `start(outputs, clock)` announces the
stream(s) to the outputs (`_add_stream`) and then delivers encoded packets with
`outputframe(...)`, stamped in µs on the agent's monotonic clock. It may deliver
from its own threads (the router is thread-safe). `stop()` returns only after
every captured frame or sample has been delivered.

`describe()` says what the source is, for the evidence (agent_start and session_start
record it): its kind, and the device, model and encoder where it has them.

A source that fails or vanishes (device unplugged, driver error) never hides it:
it stores a CaptureError in `failure` (from whichever thread saw it) and stops
delivering; the body driving it raises that error to the agent.
"""

import threading

from ..errors import CaptureError


class CaptureSource:
    name = "source"

    def __init__(self):
        self.failure: CaptureError | None = None
        self._failure_lock = threading.Lock()

    def start(self, outputs, clock) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def counters(self) -> dict:
        return {}

    def describe(self) -> dict:
        return {"kind": self.name}

    def fail(self, message: str, cause: BaseException | None = None) -> CaptureError:
        """Record the first failure (later ones are consequences of it) and return it."""
        with self._failure_lock:
            if self.failure is None:
                error = CaptureError(f"{self.name}: {message}")
                error.__cause__ = cause
                self.failure = error
            return self.failure

    def check(self) -> None:
        """Raise the source's failure, if any."""
        if self.failure is not None:
            raise self.failure
