"""Audio samples on the monotonic clock when the sound device's clock is off.

A device whose 48 kHz runs fast or slow against CLOCK_MONOTONIC (every real one does,
by tens to hundreds of ppm) is simulated by its block arrival times; its samples are the
synthetic microphone's signal indexed by the device's own sample count, so every stretch of
the decoded output can be located in it. The output goes through the real AAC encoder and
is decoded back."""

import av
import numpy as np
import pytest

from media import locate
from recorder.capture.audio_clock import ClockMapper
from recorder.capture.encoders import AudioEncoder
from recorder.capture.synthetic import reference_samples
from recorder.config import AudioConfig
from recorder.sim.doubles import CollectingOutput

RATE, BLOCK = 48_000, 1024
FRAME_MS = 1000 / 30


def capture(ppm: float, seconds: float, lose_at_s=None, lose_ms=0, **mapper_options):
    """Returns (decoded output, mapper). Device sample d is taken at d / (RATE * (1 + ppm))."""
    device_rate = RATE * (1 + ppm * 1e-6)
    mapper = ClockMapper(RATE, 1, **mapper_options)
    out = CollectingOutput()
    encoder = AudioEncoder(AudioConfig(), [out])
    jitter = np.random.default_rng(7)
    position, pending, origin_us = 0, [], None
    while position < seconds * device_rate:
        if lose_at_s is not None and position >= lose_at_s * device_rate:
            position += int(lose_ms * device_rate / 1000)  # an overrun: these never arrive
            lose_at_s = None
        block = reference_samples(position, BLOCK)[None, :]
        position += BLOCK
        arrival = 1e12 + position / device_rate * 1e9 + 300_000 + jitter.exponential(2e6)
        mapper.observe(BLOCK, int(arrival))
        if origin_us is None:
            pending.append(block)
            if mapper.samples_in >= RATE // 2:
                origin_us = mapper.place_origin() // 1000
                for held in pending:
                    encoder.encode(mapper.resample(held), origin_us)
            continue
        encoder.encode(mapper.resample(block), origin_us)
    encoder.flush()
    decoder = av.CodecContext.create("aac", "r")
    decoder.extradata = out.streams[0][0].codec_context.extradata
    frames = [f for packet in out.packets for f in decoder.decode(av.Packet(packet.data))]
    return np.concatenate([f.to_ndarray()[0] for f in frames]), mapper


def alignment_ms(decoded, ppm, at_s: list[float]) -> list[float]:
    """For output second t: where its sound was taken on the device, minus where the device
    was at monotonic time t, in ms. Constant when audio follows the monotonic clock."""
    device_rate = RATE * (1 + ppm * 1e-6)
    result = []
    for t in at_s:
        j = int(t * RATE)
        # A short window: resampled white noise decorrelates once the stretch nears a sample.
        found, score = locate(decoded[j:], guess=int(t * device_rate), search=12_000, window=1024)
        assert score > 0.5  # a chance match of 1024 noise samples scores ~0.03
        result.append((found / device_rate - j / RATE) * 1000)
    return result


@pytest.mark.parametrize("ppm", [-500, 300])
def test_a_drifting_device_stays_within_a_frame_of_the_monotonic_clock(ppm):
    seconds = 120  # uncompensated, 300-500 ppm would be 36-60 ms off by the end
    decoded, mapper = capture(ppm, seconds)
    checkpoints = [2, 30, 60, 90, 118]
    offsets = alignment_ms(decoded, ppm, checkpoints)
    assert max(offsets) - min(offsets) < FRAME_MS / 4, offsets  # dead band 5 ms + drift x 3 s
    assert mapper.drift_ppm == pytest.approx(-ppm, abs=25)
    assert len(decoded) == pytest.approx(seconds * RATE, abs=RATE // 10)  # samples per monotonic s


def test_without_compensation_the_same_device_drifts_beyond_a_frame():
    decoded, _ = capture(500, 120, max_ppm=0, step_ms=1e9)  # no resampling, no gap filling
    offsets = alignment_ms(decoded, 500, [2, 118])
    assert abs(offsets[1] - offsets[0]) > FRAME_MS


def test_samples_lost_in_an_overrun_become_counted_silence_of_the_same_length():
    decoded, mapper = capture(0, 30, lose_at_s=10, lose_ms=100)
    assert mapper.gap_samples == pytest.approx(0.1 * RATE, abs=0.005 * RATE)
    offsets = alignment_ms(decoded, 0, [5, 9, 13, 20, 29])
    assert max(offsets) - min(offsets) < FRAME_MS / 4, offsets  # dead band 5 ms + drift x 3 s
