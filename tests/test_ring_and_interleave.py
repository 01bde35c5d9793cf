"""Pre-record ring bounds and the timestamp interleaver, on generated packet streams."""

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.packets import Packet
from recorder.segments.interleave import Interleaver
from recorder.segments.ring import PrerecordRing

FRAME_US, GOP = 33_333, 30


def video(i, size=1000):
    return Packet(i * FRAME_US, i % GOP == 0, False, bytes(size))


def audio(j):
    return Packet(j * 21_333, False, True, b"a" * 200)


def test_ring_starts_on_keyframe_and_spans_window_to_window_plus_gop():
    ring = PrerecordRing(seconds=3, max_bytes=1 << 30, keep_audio=False)
    for i in range(5, 400):  # starts mid-GOP: frames before the first keyframe are not kept
        ring.add(video(i))
        packets = list(ring._packets)
        assert not packets or packets[0].keyframe
        assert bool(packets) == (i >= GOP)
    now = 400 * FRAME_US
    ring.trim(now)
    held = ring.drain()
    span = now - held[0].timestamp
    assert 3_000_000 <= span < 3_000_000 + GOP * FRAME_US
    assert [p.timestamp for p in held] == sorted(p.timestamp for p in held)
    assert len(ring) == 0 and ring.bytes == 0


def test_ring_byte_bound_drops_whole_gops():
    ring = PrerecordRing(seconds=30, max_bytes=100_000, keep_audio=False)
    for i in range(300):
        ring.add(video(i, size=1000))  # 30 kB per GOP
    assert ring.bytes <= 100_000 + GOP * 1000
    assert ring._packets[0].keyframe
    assert ring.dropped_for_bytes > 0


def test_ring_keeps_audio_only_when_configured():
    for keep in (False, True):
        ring = PrerecordRing(seconds=3, max_bytes=1 << 30, keep_audio=keep)
        ring.add(video(0))
        ring.add(audio(1))
        assert any(p.audio for p in ring.drain()) is keep


def test_zero_second_ring_still_holds_the_current_gop():
    ring = PrerecordRing(seconds=0, max_bytes=1 << 30, keep_audio=False)
    for i in range(95):
        ring.add(video(i))
    held = ring.drain()
    assert held[0].timestamp == 90 * FRAME_US and len(held) == 5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=300))
def test_interleaver_releases_in_timestamp_order_whatever_the_arrival_order(arrivals):
    """Each stream arrives in its own order; arrival between streams is arbitrary."""
    out = []
    inter = Interleaver(out.append)
    inter.add_stream(False)
    inter.add_stream(True)
    v = a = 0
    for pick_audio in arrivals:
        if pick_audio:
            inter.push(audio(a))
            a += 1
        else:
            inter.push(video(v))
            v += 1
    inter.flush()
    assert len(out) == len(arrivals)
    released = [p.timestamp for p in out]
    # Late packets of a stream that fell more than max_lag behind may come out of order, and
    # are counted; everything else is in order.
    if inter.late_packets == 0:
        assert released == sorted(released)


def test_interleaver_stops_waiting_for_a_silent_stream():
    out = []
    inter = Interleaver(out.append, max_lag_us=1_000_000)
    inter.add_stream(False)
    inter.add_stream(True)
    for i in range(60):  # two seconds of video, no audio at all (microphone gone)
        inter.push(video(i))
    newest = 59 * FRAME_US
    assert out and out[-1].timestamp >= newest - 1_000_000 - FRAME_US
