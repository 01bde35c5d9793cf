"""The pipeline monitor: a segment that could not be written, a seal that failed.

The recording router and the sealer report failures through a callback the moment
they happen, on their own threads (picamera2's PyavOutput reports mux errors the same
way rather than raising into the encoder); this monitor hands them to the state
machine on the loop's next tick, which puts the recorder in `fault`.
"""

from ..errors import CaptureError
from .base import CAPTURE_FAILED, SEAL_FAILED, WRITE_FAILED, ReportedFailures


class PipelineMonitor(ReportedFailures):
    name = "pipeline"

    def write_failed(self, exc: BaseException) -> None:
        # A CaptureError here is bad input found while writing (a camera's broken
        # timestamps): the source failed, not the disk.
        self.report(CAPTURE_FAILED if isinstance(exc, CaptureError) else WRITE_FAILED, exc)

    def seal_failed(self, exc: BaseException) -> None:
        self.report(SEAL_FAILED, exc)
