"""The explanation window: did the officer speak after the prompt?

    window = ExplanationWindow(start_ns, end_ns)   # start: when the prompt has ended
    body.add_listener(window)                      # the microphone's samples (capture/listeners.py)
    ...
    window.end_at(mark_ns)                         # a MARK ends it early
    if window.complete or now_ns > window.end_ns + grace: result = window.result()
    body.remove_listener(window); window.close()

The listener only copies the window's samples onto a queue; a thread of the window's own
runs the speech detector over them as they come (recorder/voice/vad.py, ~5 % of an x86 core
while a window is open), so the microphone's encoder thread is never held by the model.

Start the window when the prompt has finished playing: the microphone hears the prompt too
(it is in the evidence on purpose), and a prompt is speech. `result()` never waits for
samples that have not arrived (on the simulated body they come from the thread that would be
waiting); `complete` says whether the microphone has delivered up to the end yet.
"""

import logging
import queue
import threading
from typing import NamedTuple

import numpy as np

from .vad import CHUNK_SECONDS, SPOKE_SECONDS, SpeechDetector

log = logging.getLogger(__name__)

NS = 1_000_000_000


class Explanation(NamedTuple):
    start_ns: int
    end_ns: int
    heard_seconds: float  # audio judged within the window
    speech_seconds: float  # of which speech
    spoke: bool  # speech_seconds >= SPOKE_SECONDS

    def as_dict(self) -> dict:
        return {"start_ns": self.start_ns, "end_ns": self.end_ns, "heard_s": round(self.heard_seconds, 3),
                "speech_s": round(self.speech_seconds, 3), "spoke": self.spoke}


class ExplanationWindow:
    def __init__(self, start_ns: int, end_ns: int, detector: SpeechDetector | None = None):
        if end_ns <= start_ns:
            raise ValueError("an explanation window must end after it starts")
        self.start_ns, self.end_ns = start_ns, end_ns
        self.detector = detector or SpeechDetector()
        self.detector.reset()
        self.heard_until_ns = start_ns  # the microphone has delivered up to here
        self._first_ns: int | None = None  # time of the first sample fed to the detector
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._result: Explanation | None = None
        self._thread = threading.Thread(target=self._run, name="explanation-vad", daemon=True)
        self._thread.start()

    # --- the microphone's side (its encoder thread, or the simulated body's loop) -------
    def __call__(self, samples: np.ndarray, first_sample_ns: int, rate: int) -> None:
        n = len(samples)
        block_end_ns = first_sample_ns + n * NS // rate
        if self._result is None:
            begin = _index_at(self.start_ns, first_sample_ns, rate, n)
            end = _index_at(self.end_ns, first_sample_ns, rate, n)
            if begin < end:
                if self._first_ns is None:
                    self._first_ns = first_sample_ns + begin * NS // rate
                self._queue.put((samples[begin:end], rate))
        self.heard_until_ns = max(self.heard_until_ns, block_end_ns)

    @property
    def complete(self) -> bool:
        """The microphone has delivered every sample of the window."""
        return self.heard_until_ns >= self.end_ns

    def end_at(self, end_ns: int) -> None:
        """End the window early (a MARK): samples after end_ns no longer count."""
        self.end_ns = max(self.start_ns + 1, min(self.end_ns, end_ns))

    # --- the detector's thread -----------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            samples, rate = item
            try:
                self.detector.feed(samples, rate)
            except Exception:
                log.exception("speech detector failed; the window counts what it judged before")
                return

    # --- the result ------------------------------------------------------------------------
    def result(self) -> Explanation:
        """What was heard from start_ns to end_ns (or as far as the microphone delivered);
        waits only for the detector to judge what is queued. Final: later samples are ignored."""
        if self._result is None:
            self._queue.put(None)
            self._thread.join()
            self._result = self._count()
        return self._result

    def _count(self) -> Explanation:
        first = self._first_ns if self._first_ns is not None else self.start_ns
        # Chunk k covers [first + k x 32 ms, first + (k + 1) x 32 ms): it counts if inside the window.
        inside = max(0, int((self.end_ns - first) / NS // CHUNK_SECONDS))
        judged = self.detector.probabilities[:inside]
        speech = sum(1 for p in judged if p >= self.detector.threshold) * CHUNK_SECONDS
        return Explanation(self.start_ns, self.end_ns, len(judged) * CHUNK_SECONDS, speech, speech >= SPOKE_SECONDS)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


def _index_at(t_ns: int, first_ns: int, rate: int, n: int) -> int:
    """The first sample of a block (first at first_ns) at or after t_ns, within [0, n]."""
    index = -(-(t_ns - first_ns) * rate // NS)
    return min(max(index, 0), n)
