"""The simulated body's sensors: a camera and a microphone whose output is known.

SyntheticCamera: every frame carries its index as a machine-readable block code
(framecode) and as visible text, over a moving scene with a noise band so the
encoder sees realistic motion and detail (and produces a realistic bitrate).

SyntheticMicrophone: deterministic noise generated per block of samples from the
block's index, so any stretch of recorded audio can be located by correlating it
against `reference_samples` — a test recovers the exact sample position.
"""

import numpy as np

from . import framecode, glyphs

AUDIO_BLOCK = 1024
AUDIO_SEED = 0x5EC0
AUDIO_LEVEL = 0.1


class SyntheticCamera:
    """Frames as yuv420p arrays of shape (height * 3 // 2, width), with the OSD burned in
    below the frame code when a watermark is given."""

    def __init__(self, width: int, height: int, watermark=None):
        self.width, self.height = width, height
        self.watermark = watermark
        self._base = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        ramp = np.linspace(40, 200, width, dtype=np.float32)[None, :]
        shade = np.linspace(0.8, 1.1, height, dtype=np.float32)[:, None]
        self._base[:height] = np.clip(ramp * shade, 0, 255).astype(np.uint8)
        self._noise = np.random.default_rng(1)
        _, block_h = framecode.block_geometry(width, height)
        self._text_scale = max(1, height // 120)
        self._text_top = block_h + max(2, height // 60)
        self._band = (height // 2, height // 2 + height // 6)

    def frame(self, index: int, wall_ns: int | None = None) -> np.ndarray:
        """Frame `index`; the OSD shows `wall_ns` (the frame's capture time)."""
        image = self._base.copy()
        luma = image[: self.height]
        top, bottom = self._band
        luma[top:bottom] = self._noise.integers(60, 190, (bottom - top, self.width), dtype=np.uint8)
        bar = (index * 8) % self.width
        luma[bottom:, bar : bar + max(4, self.width // 40)] = 230
        framecode.draw(luma, index)
        text = glyphs.render(f"FRAME {index:06d}", self._text_scale)
        h, w = text.shape
        w = min(w, self.width - 8)
        area = luma[self._text_top : self._text_top + h, 8 : 8 + w]
        area[text[:, :w]] = 235
        if self.watermark is not None and wall_ns is not None:
            self.watermark.burn_luma(luma, wall_ns)
        return image

    def black(self) -> np.ndarray:
        """A black frame (video black: luma 16, neutral chroma), as a dead sensor gives."""
        image = np.full((self.height * 3 // 2, self.width), 128, dtype=np.uint8)
        image[: self.height] = 16
        return image


def reference_samples(first_sample: int, count: int) -> np.ndarray:
    """The synthetic microphone's signal (mono, float32) for samples [first, first+count)."""
    first_block = first_sample // AUDIO_BLOCK
    last_block = (first_sample + count - 1) // AUDIO_BLOCK
    blocks = [
        np.random.Generator(np.random.PCG64([AUDIO_SEED, b])).standard_normal(AUDIO_BLOCK)
        for b in range(first_block, last_block + 1)
    ]
    signal = np.concatenate(blocks).astype(np.float32) * AUDIO_LEVEL
    start = first_sample - first_block * AUDIO_BLOCK
    return signal[start : start + count]


class SyntheticMicrophone:
    """Delivers the reference signal in blocks, identical on every channel."""

    def __init__(self, sample_rate: int, channels: int, block: int = AUDIO_BLOCK):
        self.sample_rate, self.channels, self.block = sample_rate, channels, block

    def samples(self, first_sample: int) -> np.ndarray:
        mono = reference_samples(first_sample, self.block)
        return np.repeat(mono[None, :], self.channels, axis=0)
