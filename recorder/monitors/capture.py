"""The capture monitor: a camera or microphone that failed, vanished or stalled.

Sources record their first failure (a CaptureError) from whichever thread saw it; the
body exposes it as `failure`. A camera can also stall without an error (a wedged driver,
a loose ribbon cable): no frame reaches the pipeline for `stall_seconds`. Each is reported
to the state machine once, within one loop step.
"""

from .base import CAPTURE_FAILED, CAPTURE_STALLED, Monitor

NS = 1_000_000_000


class CaptureMonitor(Monitor):
    name = "capture"

    def __init__(self, body, last_video_us=None, stall_seconds: float = 2.0, started_ns: int = 0):
        """last_video_us(): monotonic µs of the newest video frame the pipeline received
        (None before the first); timed from started_ns until then."""
        super().__init__()
        self.body = body
        self.last_video_us = last_video_us or (lambda: None)
        self.stall_ns = int(stall_seconds * NS)
        self.started_ns = started_ns
        self.reported = None

    def _last_frame_ns(self) -> int:
        last = self.last_video_us()
        return self.started_ns if last is None else max(last * 1000, self.started_ns)

    def next_deadline_ns(self) -> int | None:
        return None if self.reported is not None else self._last_frame_ns() + self.stall_ns

    def tick(self, now_ns: int) -> None:
        if self.reported is not None:
            return
        failure = self.body.failure
        if failure is not None:
            self.reported = failure
            self.emit(CAPTURE_FAILED, now_ns, str(failure), failure)
            return
        last = self._last_frame_ns()
        if now_ns - last >= self.stall_ns:
            self.reported = CAPTURE_STALLED
            self.emit(CAPTURE_STALLED, last + self.stall_ns,
                      f"no video frame for {(now_ns - last) / NS:.1f} s (the camera stalled)")
