"""The body: what the agent records from — a camera and a microphone with their encoders.

Every body (the live one here, the simulated one in recorder/sim/) implements this
interface, so the agent, its loop and its monitors drive either the same way:

  origin_ns          monotonic time the body started capturing (scripts count from it)
  description        which sources were chosen, and why (logged, and later in the ledger)
  advance_to(t)      capture up to monotonic time t: the simulated body produces every
                     frame and sample due by t; a live body, whose sources run on their
                     own threads, just waits for t. Never raises for a source failure:
  failure            the first CaptureError of any source (a monitor reports it), or None
  add_listener(cb)   cb(samples float32 mono, first_sample_ns, rate) for every block the
                     microphone captures, placed on the monotonic clock as recorded
                     (capture/listeners.py); False when there is no microphone to hear
  osd_status         the OSD's position and clock line (capture/osd.py OsdStatus), set by
                     the agent once a second; None when there is no OSD
  capture_record()   what made the pictures and the sound, for the evidence:
                     {"simulated": bool, "camera": {kind, …, why}, "microphone": {…} | None}
  close()            stop capturing and deliver everything captured to the outputs;
                     idempotent (gpiozero's GPIOBase.close is the model); a failure while
                     stopping is raised, after every source was stopped
"""

from ..errors import CaptureError


class Body:
    description = ""
    osd_status = None  # capture/osd.py OsdStatus when the OSD shows position and clock
    origin_ns = 0

    def __init__(self):
        self._closed = False

    def advance_to(self, until_ns: int) -> None:
        raise NotImplementedError

    @property
    def failure(self) -> CaptureError | None:
        return None

    def add_listener(self, callback) -> bool:
        return False

    def remove_listener(self, callback) -> None:
        pass

    def capture_record(self) -> dict:
        raise NotImplementedError

    @property
    def counters(self) -> dict:
        return {}

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop()

    def _stop(self) -> None:
        """Stop capturing; deliver everything captured (once)."""
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def capture_record(camera: dict, microphone: dict | None) -> dict:
    """The sources as the evidence records them; `simulated` when either is synthetic."""
    kinds = [camera["kind"]] + ([microphone["kind"]] if microphone else [])
    return {"simulated": "synthetic" in kinds, "camera": camera, "microphone": microphone}
