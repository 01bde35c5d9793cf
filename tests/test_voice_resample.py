"""Resampling without delay: a sound placed at a sample lands on the matching sample at the
other rate, block by block exactly as at once, and nothing above the new Nyquist folds back."""

import numpy as np
import pytest

from recorder.voice.resample import Resampler, resample

PAIRS = [(22_050, 48_000), (22_050, 44_100), (48_000, 16_000), (44_100, 16_000), (16_000, 48_000), (24_000, 16_000)]


@pytest.mark.parametrize("source, target", PAIRS)
def test_a_tone_keeps_its_phase(source, target):
    t = np.arange(2 * source) / source
    out = resample(np.sin(2 * np.pi * 440 * t + 0.3), source, target)
    assert len(out) == 2 * target
    expected = np.sin(2 * np.pi * 440 * np.arange(len(out)) / target + 0.3)
    middle = slice(target // 4, -target // 4)  # away from the silence before and after
    assert np.max(np.abs(out[middle] - expected[middle])) < 2e-4


@pytest.mark.parametrize("source, target", PAIRS)
def test_an_impulse_lands_on_its_sample(source, target):
    """An impulse at an input sample whose time is on both grids peaks at that output sample."""
    step = source // np.gcd(source, target)  # input samples between common instants
    x = np.zeros(source, dtype=np.float32)
    k = 37 * step
    x[k] = 1.0
    out = resample(x, source, target)
    assert int(np.argmax(out)) == k * target // source


@pytest.mark.parametrize("source, target", PAIRS)
def test_block_by_block_is_the_same_as_at_once(source, target):
    x = np.random.default_rng(3).standard_normal(source * 3).astype(np.float32)
    resampler, pieces, i = Resampler(source, target), [], 0
    for size in np.random.default_rng(4).integers(1, 3000, 10_000):
        if i >= len(x):
            break
        pieces.append(resampler.feed(x[i : i + size]))
        i += size
    pieces.append(resampler.flush())
    assert np.array_equal(np.concatenate(pieces), resample(x, source, target))


def test_nothing_folds_back_when_going_down():
    t = np.arange(48_000) / 48_000
    for freq, gain in ((3_000, 1.0), (9_000, 0.0), (12_000, 0.0), (20_000, 0.0)):
        out = resample(np.sin(2 * np.pi * freq * t), 48_000, 16_000)[2_000:-2_000]
        rms = np.sqrt(np.mean(out**2)) / np.sqrt(0.5)
        assert abs(rms - gain) < 1e-3, f"{freq} Hz: gain {rms:.4f}"


def test_same_rate_is_a_copy_and_bad_rates_are_refused():
    x = np.arange(5, dtype=np.float32)
    assert np.array_equal(resample(x, 16_000, 16_000), x)
    with pytest.raises(ValueError):
        Resampler(0, 16_000)
