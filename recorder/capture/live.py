"""The live body: real capture sources running on their own, on the real clock.

Sources capture and deliver from their own threads from the moment the body
exists; `advance_to` only waits on the clock. A source that fails stores its
CaptureError, which the body exposes as `failure` for the agent's capture monitor.
"""

import logging

from ..clock import Clock
from ..errors import CaptureError
from .body import Body, capture_record
from .sources import CaptureSource

log = logging.getLogger(__name__)


class LiveBody(Body):
    def __init__(self, clock: Clock, camera: CaptureSource, microphone: CaptureSource | None, outputs,
                 description: str = "", why: dict | None = None):
        """why: {"camera": …, "microphone": …}, why each source was chosen (capture/select.py)."""
        super().__init__()
        self.clock = clock
        self.camera, self.microphone = camera, microphone
        self.description = description or self._describe()
        self.why = why or {}
        self.origin_ns = clock.monotonic_ns()
        self._started: list[CaptureSource] = []
        try:
            for source in self.sources:
                source.start(outputs, clock)
                self._started.append(source)
        except Exception:
            self.close()  # stop what did start; its packets are delivered
            raise

    @property
    def sources(self) -> list[CaptureSource]:
        return [s for s in (self.camera, self.microphone) if s is not None]

    def _describe(self) -> str:
        cam = getattr(self.camera, "description", self.camera.name)
        mic = getattr(self.microphone, "description", self.microphone.name) if self.microphone else "none"
        return f"camera: {cam}; microphone: {mic}"

    def capture_record(self) -> dict:
        def record(source, role):
            return {**source.describe(), "why": self.why.get(role, "given")} if source is not None else None

        return capture_record(record(self.camera, "camera"), record(self.microphone, "microphone"))

    @property
    def failure(self) -> CaptureError | None:
        return next((s.failure for s in self.sources if s.failure is not None), None)

    def add_listener(self, callback) -> bool:
        """A tap on the microphone's samples (capture/listeners.py), if it has one."""
        if self.microphone is None or not hasattr(self.microphone, "add_listener"):
            return False
        self.microphone.add_listener(callback)
        return True

    def remove_listener(self, callback) -> None:
        if self.microphone is not None and hasattr(self.microphone, "remove_listener"):
            self.microphone.remove_listener(callback)

    def advance_to(self, until_ns: int) -> None:
        self.clock.sleep_until(until_ns)

    def _stop(self) -> None:
        """Stop every started source; each delivers everything it captured."""
        errors = []
        while self._started:
            source = self._started.pop()
            try:
                source.stop()
            except Exception as exc:  # stop the others anyway, then report
                log.error("stopping %s failed: %s", source.name, exc)
                errors.append(exc if isinstance(exc, CaptureError) else source.fail(f"stop failed: {exc}", exc))
        if errors:
            raise errors[0]

    @property
    def counters(self) -> dict:
        return {source.name: source.counters for source in self.sources}
