"""The pipeline monitor: a segment that could not be written, a seal that failed.

The recording router and the sealer report failures through a callback the moment
they happen, on their own threads (picamera2's PyavOutput reports mux errors the same
way rather than raising into the encoder); this monitor hands them to the state
machine on the loop's next tick, which interrupts recording: cause `storage` for a full
disk, `fault` for anything else.
"""

import errno

from ..errors import CaptureError
from .base import CAPTURE_FAILED, SEAL_FAILED, STORAGE_FULL, WRITE_FAILED, ReportedFailures


class PipelineMonitor(ReportedFailures):
    name = "pipeline"

    def write_failed(self, exc: BaseException) -> None:
        # A CaptureError here is bad input found while writing (a camera's broken
        # timestamps): the source failed, not the disk.
        if isinstance(exc, CaptureError):
            self.report(CAPTURE_FAILED, exc)
        else:
            self.report(STORAGE_FULL if _disk_full(exc) else WRITE_FAILED, exc)

    def seal_failed(self, exc: BaseException) -> None:
        self.report(SEAL_FAILED, exc)

    def storage_full(self, exc: BaseException) -> None:
        """Sealing met a full disk and went on in the ballast's room: stop recording into it."""
        self.report(STORAGE_FULL, exc)


def _disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC
