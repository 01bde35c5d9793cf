"""Test doubles that ship with the recorder, as gpiozero ships MockFactory and MockPin.

  CollectingOutput      a picamera2-style Output that keeps every packet it is given
                        (tests, benches: what an encoder delivered, in order)
  ClockedMockFactory    gpiozero's MockFactory whose pins log their state changes on
                        the agent's clock (`history`: [(mono_ns, state)], bounded), so a
                        test reads what the pins did at simulated times, not what the
                        code says it wrote
  HungWriter            a segment writer whose every call blocks for good: the hung
                        pipeline of `hang pipeline` (sim/script.py)
"""

import logging
import threading
from collections import deque

from gpiozero.pins.mock import MockFactory, MockPin

from ..pipeline.packets import Output, Packet

log = logging.getLogger(__name__)

HISTORY = 100_000  # pin changes kept per pin (a blinking LED changes ~4 times a second)


class CollectingOutput(Output):
    def __init__(self):
        super().__init__()
        self.packets: list[Packet] = []
        self.streams: list[tuple] = []  # (encoder_stream, codec_name, kwargs) as announced

    def _add_stream(self, encoder_stream, codec_name, **kwargs):
        self.streams.append((encoder_stream, codec_name, kwargs))

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        self.packets.append(Packet(timestamp, bool(keyframe), bool(audio), bytes(frame)))

    def of_kind(self, audio: bool) -> list[Packet]:
        return [p for p in self.packets if p.audio == audio]


class ClockedMockPin(MockPin):
    clock = None  # set per factory

    def __init__(self, factory, info):
        self.history = deque(maxlen=HISTORY)
        super().__init__(factory, info)
        # gpiozero's own log (`states`) grows for ever and is stamped in real time: keep it short.
        self.states = deque(self.states, maxlen=16)

    def clear_states(self):
        super().clear_states()
        self.states = deque(self.states, maxlen=16)

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed:
            self.history.append((self.clock.monotonic_ns(), bool(value)))
        return changed

    def values(self, since_ns: int = 0) -> list[tuple[int, bool]]:
        """[(mono_ns, state)] of the changes at or after since_ns."""
        return [(t, v) for t, v in self.history if t >= since_ns]


class ClockedMockFactory(MockFactory):
    def __init__(self, clock, revision=None):
        pin_class = type("ClockedMockPin", (ClockedMockPin,), {"clock": clock})
        super().__init__(revision=revision, pin_class=pin_class)


class HungWriter:
    """The router's segment writer once the pipeline hangs (`hang pipeline`, sim/script.py):
    every call blocks the calling thread, the pipeline's, for good, as a muxer stuck in a
    write would; attributes still read through."""

    def __init__(self, writer):
        self._writer = writer
        self._never = threading.Event()

    def __getattr__(self, name):
        value = getattr(self._writer, name)
        if not callable(value):
            return value

        def blocked(*args, **kwargs):
            log.warning("simulated fault: the pipeline's thread hangs in the writer's %s()", name)
            self._never.wait()

        return blocked
