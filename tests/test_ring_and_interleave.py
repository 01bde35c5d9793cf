"""Pre-record ring bounds and the timestamp interleaver, on generated packet streams."""

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.pipeline.packets import Packet
from recorder.pipeline.interleave import Interleaver
from recorder.pipeline.ring import PrerecordRing

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
    widest = 0  # how far one stream's newest packet ever was behind the other's
    newest = {False: None, True: None}
    for pick_audio in arrivals:
        packet = audio(a) if pick_audio else video(v)
        a, v = (a + 1, v) if pick_audio else (a, v + 1)
        newest[pick_audio] = packet.timestamp
        if None not in newest.values():
            widest = max(widest, abs(newest[True] - newest[False]))
        inter.push(packet)
    inter.flush()
    assert sorted(out) == sorted([audio(j) for j in range(a)] + [video(i) for i in range(v)]), "lost or doubled"
    for kind in (False, True):  # each stream keeps its own order
        stamps = [p.timestamp for p in out if p.audio == kind]
        assert stamps == sorted(stamps)
    # Released in timestamp order, except packets of a stream that fell more than max_lag
    # behind: those come out late, each one counted.
    running, late = None, 0
    for packet in out:
        if running is not None and packet.timestamp < running:
            late += 1
        else:
            running = packet.timestamp
    assert late == inter.late_packets
    if widest <= 1_000_000:
        assert late == 0


def test_interleaver_stops_waiting_for_a_silent_stream():
    out = []
    inter = Interleaver(out.append, max_lag_us=1_000_000)
    inter.add_stream(False)
    inter.add_stream(True)
    for i in range(60):  # two seconds of video, no audio at all (microphone gone)
        inter.push(video(i))
    newest = 59 * FRAME_US
    assert out and out[-1].timestamp >= newest - 1_000_000 - FRAME_US
