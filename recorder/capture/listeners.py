"""Listeners on a microphone's samples: a tap for whoever needs to hear what is recorded
(the speech detector of docs/VOICE.md), beside the encoder.

    source.add_listener(callback)   # callback(samples, first_sample_ns, rate)

`samples` is float32 mono (channels averaged), a copy the listener may keep;
`first_sample_ns` is where its first sample sits on the agent's monotonic clock — the same
placement the encoder stamps into the recording. Listeners are called in capture order on
the thread that encodes (a live microphone's encoder thread, never PortAudio's callback
thread; the simulated body's loop), so they must be quick: hand heavy work to a thread of
their own. A listener that raises is logged and dropped; capture goes on. With no
listener the tap costs one truth test per block.
"""

import logging

import numpy as np

log = logging.getLogger(__name__)


class SampleListeners:
    def __init__(self):
        self._listeners: tuple = ()  # replaced, never mutated: safe to read from another thread

    def add(self, callback) -> None:
        self._listeners = self._listeners + (callback,)

    def discard(self, callback) -> None:
        self._listeners = tuple(cb for cb in self._listeners if cb is not callback)

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def deliver(self, block: np.ndarray, first_sample_ns: int, rate: int) -> None:
        """block: (channels, n) or (n,) float32."""
        listeners = self._listeners
        if not listeners or block.shape[-1] == 0:
            return
        mono = block.mean(axis=0, dtype=np.float32) if block.ndim == 2 else np.array(block, dtype=np.float32)
        for callback in listeners:
            try:
                callback(mono.copy() if len(listeners) > 1 else mono, first_sample_ns, rate)
            except Exception:
                log.exception("microphone listener %r failed; removed", callback)
                self.discard(callback)
