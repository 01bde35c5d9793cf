"""The OSD watermark: time, device id and officer id burned into every frame.

Evidence must carry who recorded it and when in the picture itself, so a frame
that leaves the signed container still says where it came from. The text
changes once a second, so it is rendered once a second into a cached overlay
(a mask and the pixel values under it); per frame only that small region is
written, with one vectorised copy (`np.copyto(..., where=mask)`). The same
overlay goes into every source's frames:

  burn_luma(y_plane, wall_ns)  the Y plane of NV12/YUV420 (picamera2's pre_callback,
                               the synthetic camera), in place
  burn_bgr(image, wall_ns)     OpenCV BGR frames, in place

White text with a black edge stays legible on any background. Only luma is
touched on YUV frames: the chroma under the text keeps the scene's tint, which
the edge makes irrelevant for reading.

`overlay_correlation` renders the expected overlay for a wall time and
correlates it with a decoded frame: tests prove the text is there without OCR.
"""

import time
from typing import Callable, NamedTuple

import numpy as np

from . import glyphs

TEXT_LUMA, EDGE_LUMA = 235, 16  # video-range white and black
TEXT_RGB, EDGE_RGB = 255, 0  # full range; converts to the luma values above

LinesForSecond = Callable[[int], list[str]]


def osd_lines(device_id: str, officer_id: str) -> LinesForSecond:
    """The default OSD text: local time with its UTC offset, device id, officer id.
    (Position joins them once GPS exists.) Identifiers, digits and a time zone
    read the same in every language, so the OSD carries no words to translate."""

    def lines_for_second(wall_ns: int) -> list[str]:
        local = time.localtime(wall_ns // 1_000_000_000)
        offset_min = local.tm_gmtoff // 60
        sign = "+" if offset_min >= 0 else "-"
        zone = f"{sign}{abs(offset_min) // 60:02d}{abs(offset_min) % 60:02d}"
        return [time.strftime("%Y-%m-%d %H:%M:%S", local) + " " + zone, f"ID {device_id}", f"# {officer_id}"]

    return lines_for_second


class Overlay(NamedTuple):
    top: int
    left: int
    mask: np.ndarray  # bool (h, w): pixels the overlay writes
    luma: np.ndarray  # uint8 (h, w): their values on a Y plane
    bgr_mask: np.ndarray  # bool (h, w, 3): the mask per channel (a broadcast `where` is 10x slower)
    bgr: np.ndarray  # uint8 (h, w, 3): the values on a BGR image


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a mask by `radius` pixels in every direction (square neighbourhood)."""
    grown = mask.copy()
    for _ in range(radius):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= step[:, :-1].copy()
        step[:, :-1] |= step[:, 1:].copy()
        grown = step
    return grown


class Watermark:
    """Renders the OSD text for a frame size, bottom-left, once per wall-clock second."""

    def __init__(self, width: int, height: int, lines_for_second: LinesForSecond, scale: int | None = None):
        self.width, self.height = width, height
        self.lines_for_second = lines_for_second
        self.scale = scale or max(1, height // 240)  # 720p: 21 px text, 1080p: 28 px
        self.margin = max(4, height // 45) // 2 * 2
        self._cached: tuple[int, Overlay] | None = None  # (second, overlay), replaced whole

    def overlay(self, wall_ns: int) -> Overlay:
        second = wall_ns // 1_000_000_000
        cached = self._cached  # one read: burn may run on a camera thread
        if cached is None or cached[0] != second:
            cached = (second, self.render(self.lines_for_second(wall_ns)))
            self._cached = cached
        return cached[1]

    def render(self, lines: list[str]) -> Overlay:
        s = self.scale
        rendered = [glyphs.render(line, s) for line in lines]
        gap = 2 * s
        width = max((m.shape[1] for m in rendered), default=0) + 2 * s
        height = sum(m.shape[0] for m in rendered) + gap * (len(rendered) - 1) + 2 * s
        text = np.zeros((height, width), dtype=bool)
        y = s
        for m in rendered:
            text[y : y + m.shape[0], s : s + m.shape[1]] = m
            y += m.shape[0] + gap
        mask = _dilate(text, s)
        # Never larger than the frame: cut what does not fit (right and top).
        width = min(width, self.width - self.margin)
        height = min(height, self.height - self.margin)
        text, mask = text[-height:, :width], mask[-height:, :width]
        luma = np.where(text, TEXT_LUMA, EDGE_LUMA).astype(np.uint8)
        bgr = np.repeat(np.where(text, TEXT_RGB, EDGE_RGB).astype(np.uint8)[:, :, None], 3, axis=2)
        bgr_mask = np.repeat(mask[:, :, None], 3, axis=2)
        top = self.height - self.margin - height
        return Overlay(top, self.margin, mask, luma, bgr_mask, bgr)

    def burn_luma(self, y_plane: np.ndarray, wall_ns: int) -> None:
        """In place on a (H, W) uint8 view of the Y plane (may be strided or wider than W)."""
        ov = self.overlay(wall_ns)
        h, w = ov.mask.shape
        np.copyto(y_plane[ov.top : ov.top + h, ov.left : ov.left + w], ov.luma, where=ov.mask)

    def burn_bgr(self, image: np.ndarray, wall_ns: int) -> None:
        """In place on a (H, W, 3) uint8 BGR (or RGB) image."""
        ov = self.overlay(wall_ns)
        h, w = ov.mask.shape
        np.copyto(image[ov.top : ov.top + h, ov.left : ov.left + w], ov.bgr, where=ov.bgr_mask)


def overlay_correlation(luma: np.ndarray, watermark: Watermark, wall_ns: int) -> float:
    """Correlation (-1..1) between a decoded frame's Y plane and the overlay expected
    at wall_ns, over the pixels the overlay writes. ~1 when the OSD of that second is
    there, lower where digits differ (another second), near 0 on a frame without it."""
    ov = watermark.render(watermark.lines_for_second(wall_ns))
    h, w = ov.mask.shape
    seen = luma[ov.top : ov.top + h, ov.left : ov.left + w][ov.mask].astype(np.float64)
    expected = ov.luma[ov.mask].astype(np.float64)
    seen -= seen.mean()
    expected -= expected.mean()
    norm = np.sqrt(np.sum(seen**2) * np.sum(expected**2))
    return float(np.sum(seen * expected) / norm) if norm > 0 else 0.0
