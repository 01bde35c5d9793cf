"""The capture monitor: a camera or microphone that failed or vanished.

Sources record their first failure (a CaptureError) from whichever thread saw it;
the body exposes it as `failure`. This monitor reports it to the state machine once,
within one loop step of the failure.
"""

from .base import CAPTURE_FAILED, Monitor


class CaptureMonitor(Monitor):
    name = "capture"

    def __init__(self, body):
        super().__init__()
        self.body = body
        self.reported = None

    def tick(self, now_ns: int) -> None:
        failure = self.body.failure
        if failure is not None and self.reported is None:
            self.reported = failure
            self.emit(CAPTURE_FAILED, now_ns, str(failure), failure)
