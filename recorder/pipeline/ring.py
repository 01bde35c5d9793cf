"""The pre-record ring: the last N seconds of encoded packets before a press.

It always starts on a video keyframe, holds whole GOPs, and keeps the latest
keyframe at or before (newest - N seconds), so the span handed over on a press
is between N and N + one GOP. It is bounded by bytes too: past `max_bytes` the
oldest GOP goes even if it is younger than N seconds. Audio is kept only when
configured (off by default, for privacy). Packets are stored as compact tuples
of bytes: the bench measures resident memory against the bytes held.
"""

from collections import deque

from .packets import Packet


class PrerecordRing:
    def __init__(self, seconds: float, max_bytes: int, keep_audio: bool):
        self.window_us = int(seconds * 1_000_000)
        self.max_bytes = max_bytes
        self.keep_audio = keep_audio
        self._packets: deque[Packet] = deque()
        self._keyframes: deque[tuple[int, int]] = deque()  # (sequence number, timestamp)
        self._first_seq = 0  # sequence number of _packets[0]
        self.bytes = 0
        self.dropped_for_bytes = 0  # GOPs dropped early because of max_bytes

    def __len__(self):
        return len(self._packets)

    def add(self, packet: Packet):
        if packet.audio and not self.keep_audio:
            return
        is_keyframe = packet.keyframe and not packet.audio
        if not self._packets and not is_keyframe:
            return  # a ring always starts on a keyframe
        if is_keyframe:
            self._keyframes.append((self._first_seq + len(self._packets), packet.timestamp))
        self._packets.append(packet)
        self.bytes += len(packet.data)
        self.trim(packet.timestamp)

    def trim(self, now_us: int):
        """Drop whole GOPs from the front while the next keyframe is at least a window old
        at now_us (or while the ring is over its byte bound)."""
        while len(self._keyframes) >= 2:
            next_seq, next_ts = self._keyframes[1]
            too_old = now_us - next_ts >= self.window_us
            too_big = self.bytes > self.max_bytes
            if not (too_old or too_big):
                return
            if too_big and not too_old:
                self.dropped_for_bytes += 1
            self._drop_before(next_seq)

    def _drop_before(self, seq: int):
        packets = self._packets
        for _ in range(seq - self._first_seq):
            self.bytes -= len(packets.popleft().data)
        self._first_seq = seq
        self._keyframes.popleft()

    def span_us(self) -> int:
        if not self._packets:
            return 0
        return self._packets[-1].timestamp - self._packets[0].timestamp

    def drain(self) -> list[Packet]:
        """Hand over everything (oldest first) and start empty."""
        packets = list(self._packets)
        self._packets.clear()
        self._keyframes.clear()
        self._first_seq = 0
        self.bytes = 0
        return packets
