"""Merge the video and audio packet streams into one timestamp-ordered stream.

Encoders deliver late and at different rates (x264 frame threads hold several
frames; audio comes in 21 ms blocks). Downstream decisions — which segment a
packet belongs to, where the pre-record starts, where a stop cuts — are taken
by timestamp, so packets are released strictly in timestamp order: a packet
leaves only once every other stream has shown a packet at least as late. A
stream that falls silent (a vanished microphone) holds the others back for at
most `max_lag_us`, then is treated as lagging and no longer waited for.
"""

from collections import deque

from .packets import Packet


class Interleaver:
    def __init__(self, release, max_lag_us: int = 1_000_000):
        self._release = release
        self._queues: dict[bool, deque] = {}
        self._max_lag_us = max_lag_us
        self._newest = None
        self.late_packets = 0  # packets of a lagging stream that arrived out of order
        self._last_released = None

    def add_stream(self, audio: bool):
        self._queues.setdefault(audio, deque())

    def push(self, packet: Packet):
        self._queues.setdefault(packet.audio, deque()).append(packet)
        if self._newest is None or packet.timestamp > self._newest:
            self._newest = packet.timestamp
        self._drain(final=False)

    def flush(self):
        self._drain(final=True)

    def _drain(self, final: bool):
        queues = self._queues.values()
        while True:
            heads = [q for q in queues if q]
            if not heads:
                return
            oldest = min(heads, key=lambda q: q[0].timestamp)
            every_stream_ahead = len(heads) == len(self._queues)
            lag_exceeded = self._newest - oldest[0].timestamp > self._max_lag_us
            if not (final or every_stream_ahead or lag_exceeded):
                return
            packet = oldest.popleft()
            if self._last_released is not None and packet.timestamp < self._last_released:
                self.late_packets += 1
            else:
                self._last_released = packet.timestamp
            self._release(packet)
