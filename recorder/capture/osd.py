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

The text is set in a real font that covers Chinese and Latin (`osd.font`, by
default WenQuanYi Zen Hei from the Debian package fonts-wqy-zenhei), drawn by
Pillow's FreeType renderer, anti-aliased. The font is loaded once per
watermark. A character the font lacks is drawn as a visible replacement (the
first of U+FFFD, U+25A1 □, "?" that the font has) and logged once, never
dropped. White text with a black edge (the text's mask, dilated) stays legible
on any background. Only luma is touched on YUV frames: the chroma under the
text keeps the scene's tint, which the edge makes irrelevant for reading.

`overlay_correlation` renders the expected overlay for a wall time and
correlates it with a decoded frame: tests prove the text is there without OCR.
"""

import functools
import logging
import time
import unicodedata
from typing import Callable, NamedTuple

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from ..config import DEFAULT_OSD_FONT, OSD_FONT_PACKAGE
from ..errors import ConfigError

log = logging.getLogger(__name__)

TEXT_LUMA, EDGE_LUMA = 235, 16  # video-range white and black
TEXT_RGB, EDGE_RGB = 255, 0  # full range; converts to the luma values above
MIN_TEXT_PX = 12  # font size floor, for small test frames
REPLACEMENTS = ("\ufffd", "\u25a1", "?")  # for a character the font lacks: the first one it has

LinesForSecond = Callable[[int], list[str]]


SIMULATED_LINE = "模拟 SIMULATED"  # synthetic pictures or sound: said in the picture itself
NO_FIX_LINE = "无定位 NO FIX"  # no fresh position: never the last one shown as if current
CLOCK_LABELS = {"gnss+pps": "GNSS+PPS", "gnss": "GNSS", "ntp": "NTP", "rtc": "RTC", "none": "无 NONE"}


class OsdStatus:
    """Where the device is and where its time comes from, as the OSD shows them: set by the
    agent once a second (agent/timekeeping.py), read by the camera's thread when the
    second's text is rendered. Plain attributes: each is replaced whole, never edited."""

    def __init__(self):
        self.position: dict | None = None  # telemetry/track.py fix_record, or None: no fix
        self.clock: tuple[str, int | None] | None = None  # (source, error bound ns)


def position_line(position: dict | None) -> str:
    if position is None:
        return NO_FIX_LINE
    lat, lon = position["lat"], position["lon"]
    text = f"{'N' if lat >= 0 else 'S'}{abs(lat):.5f} {'E' if lon >= 0 else 'W'}{abs(lon):.5f}"
    return text if position.get("eph") is None else f"{text} ±{position['eph']:.0f}m"


def clock_line(source: str, error_ns: int | None) -> str:
    bound = "±?" if error_ns is None else f"±{error_ns / 1e9:.3f}s" if error_ns < 10**9 else f"±{error_ns / 1e9:.0f}s"
    return f"时间源 {CLOCK_LABELS.get(source, source)} {bound}"


def osd_lines(device_id: str, officer_id: str, simulated: bool = False, status: OsdStatus | None = None
              ) -> LinesForSecond:
    """The default OSD text: local time (24 h) with its UTC offset, device id, officer id,
    each as given (any Unicode: 张伟, officer-4711); with a status, above them, the position
    (or 无定位 NO FIX) and the clock's source and error bound (时间源 GNSS ±0.250s). Apart from
    the officer's own name the OSD's words are in Chinese and English together: a recording
    from synthetic sources says so on a line of its own, so that a still taken from it can
    never pass for a camera's picture."""

    def lines_for_second(wall_ns: int) -> list[str]:
        local = time.localtime(wall_ns // 1_000_000_000)
        offset_min = local.tm_gmtoff // 60
        sign = "+" if offset_min >= 0 else "-"
        zone = f"{sign}{abs(offset_min) // 60:02d}{abs(offset_min) % 60:02d}"
        lines = [time.strftime("%Y-%m-%d %H:%M:%S", local) + " " + zone, f"ID {device_id}", f"# {officer_id}"]
        if simulated:
            lines.append(SIMULATED_LINE)
        if status is None:
            return lines
        # Above the others: the block is anchored bottom-left, so the identity lines keep
        # their place whatever these say (and whether the clock line is there yet).
        place = [position_line(status.position)]
        if status.clock is not None:
            place.append(clock_line(*status.clock))
        return [*place, *lines]

    return lines_for_second


@functools.lru_cache(maxsize=4)
def _codepoints(path: str) -> frozenset[int]:
    """The characters a font file maps (first face of a collection); a clear error naming
    the setting when the file is missing or is no font."""
    try:
        with TTFont(path, fontNumber=0, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except FileNotFoundError:
        raise ConfigError(
            f"osd.font = {path!r} does not exist: the default font {DEFAULT_OSD_FONT} comes with the "
            f"Debian package {OSD_FONT_PACKAGE} (`make system-deps` installs it); or set osd.font to a "
            "TrueType/OpenType font that covers the officer id") from None
    except Exception as exc:  # unreadable, or not a font: fontTools' TTLibError, struct errors
        raise ConfigError(f"osd.font = {path!r} is not a usable TrueType/OpenType font ({exc})") from None


class OsdFont:
    """A font at one pixel size, loaded once: Pillow's FreeType face to draw with, and the
    characters the file maps, so that none is left out unseen."""

    def __init__(self, path: str, size: int):
        self.path, self.size = path, size
        self.codepoints = _codepoints(path)
        try:
            self.face = ImageFont.truetype(path, size, index=0, layout_engine=ImageFont.Layout.BASIC)
        except OSError as exc:
            raise ConfigError(f"osd.font = {path!r}: FreeType cannot load it ({exc})") from None
        self.replacement = next((c for c in REPLACEMENTS if ord(c) in self.codepoints), "?")

    def has(self, ch: str) -> bool:
        """The font draws `ch` as itself (controls, format characters and line separators
        draw as nothing: they count as missing)."""
        category = unicodedata.category(ch)
        return ord(ch) in self.codepoints and category[0] != "C" and category not in ("Zl", "Zp")


class Overlay(NamedTuple):
    top: int
    left: int
    mask: np.ndarray  # bool (h, w): pixels the overlay writes
    luma: np.ndarray  # uint8 (h, w): their values on a Y plane
    bgr_mask: np.ndarray  # bool (h, w, 3): the mask per channel (a broadcast `where` is 10x slower)
    bgr: np.ndarray  # uint8 (h, w, 3): the values on a BGR image
    rows: tuple[tuple[int, int], ...]  # per text line: the overlay rows [start, stop) its text and edge span


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


def _blend(coverage: np.ndarray, on: int, off: int) -> np.ndarray:
    """Anti-aliased text: `on` where the glyph covers the pixel, `off` (the edge) where not."""
    return (off + (coverage.astype(np.int32) * (on - off) + 127) // 255).astype(np.uint8)


class Watermark:
    """Renders the OSD text for a frame size, bottom-left, once per wall-clock second."""

    def __init__(self, width: int, height: int, lines_for_second: LinesForSecond,
                 font_path: str = DEFAULT_OSD_FONT):
        self.width, self.height = width, height
        self.lines_for_second = lines_for_second
        self.font = OsdFont(font_path, max(MIN_TEXT_PX, height // 27))  # 720p: 26 px, 1080p: 40 px
        self.edge = max(1, self.font.size // 12)  # black edge: 2 px at 720p, 3 px at 1080p
        self.margin = max(4, height // 45) // 2 * 2
        self._cached: tuple[int, Overlay] | None = None  # (second, overlay), replaced whole
        self._reported: set[str] = set()  # characters the font lacks, logged once each

    def overlay(self, wall_ns: int) -> Overlay:
        second = wall_ns // 1_000_000_000
        cached = self._cached  # one read: burn may run on a camera thread
        if cached is None or cached[0] != second:
            cached = (second, self.render(self.lines_for_second(wall_ns)))
            self._cached = cached
        return cached[1]

    def shown(self, line: str) -> str:
        """The line as drawn: each character the font lacks replaced by a visible one."""
        missing = {ch for ch in line if not self.font.has(ch)}
        if not missing:
            return line
        if new := missing - self._reported:
            self._reported |= new
            log.warning("OSD: the font %s has no glyph for %s (in %r); shown as %s", self.font.path,
                        ", ".join(f"U+{ord(ch):04X}" for ch in sorted(new)), line, self.font.replacement)
        return "".join(self.font.replacement if ch in missing else ch for ch in line)

    def render(self, lines: list[str]) -> Overlay:
        face, e = self.font.face, self.edge
        shown = [self.shown(line) for line in lines]
        ascent, descent = face.getmetrics()
        pitch = ascent + descent
        boxes = [face.getbbox(line) for line in shown]
        x = e + max([0, *(-box[0] for box in boxes)])  # a glyph may start left of the pen
        width = x + max((box[2] for box in boxes), default=0) + e
        height = pitch * len(shown) + 2 * e
        image = Image.new("L", (width, height))
        draw = ImageDraw.Draw(image)
        for i, line in enumerate(shown):
            draw.text((x, e + i * pitch), line, font=face, fill=255)
        coverage = np.asarray(image)
        mask = _dilate(coverage > 0, e)
        # Never larger than the frame: cut what does not fit (right and top).
        cut_w, cut_h = min(width, self.width - self.margin), min(height, self.height - self.margin)
        coverage, mask = coverage[height - cut_h :, :cut_w], mask[height - cut_h :, :cut_w]
        cut = height - cut_h
        rows = tuple((max(0, i * pitch - cut), max(0, (i + 1) * pitch + 2 * e - cut)) for i in range(len(shown)))
        luma = _blend(coverage, TEXT_LUMA, EDGE_LUMA)
        bgr = np.repeat(_blend(coverage, TEXT_RGB, EDGE_RGB)[:, :, None], 3, axis=2)
        bgr_mask = np.repeat(mask[:, :, None], 3, axis=2)
        top = self.height - self.margin - cut_h
        return Overlay(top, self.margin, mask, luma, bgr_mask, bgr, rows)

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


def overlay_correlation(luma: np.ndarray, watermark: Watermark, wall_ns: int, line: int | None = None) -> float:
    """Correlation (-1..1) between a decoded frame's Y plane and the overlay expected
    at wall_ns, over the pixels the overlay writes (only those of text line `line`, when
    given: 0 time, 1 device id, 2 officer id). ~1 when the OSD of that second is there,
    lower where characters differ (another second, another name), near 0 on a frame
    without it."""
    return correlate(luma, watermark.render(watermark.lines_for_second(wall_ns)), line)


def correlate(luma: np.ndarray, ov: Overlay, line: int | None = None) -> float:
    """overlay_correlation against an overlay rendered already (by another Pillow/FreeType
    build, say: glyph shapes and advances differ between builds, so a reference must come
    from the renderer that burned the frame)."""
    h, w = ov.mask.shape
    mask = ov.mask
    if line is not None:
        start, stop = ov.rows[line]
        mask = np.zeros_like(mask)
        mask[start:stop] = ov.mask[start:stop]
    if not mask.any():
        return 0.0
    seen = luma[ov.top : ov.top + h, ov.left : ov.left + w][mask].astype(np.float64)
    expected = ov.luma[mask].astype(np.float64)
    seen -= seen.mean()
    expected -= expected.mean()
    norm = np.sqrt(np.sum(seen**2) * np.sum(expected**2))
    return float(np.sum(seen * expected) / norm) if norm > 0 else 0.0
