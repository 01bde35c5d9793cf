"""The OSD watermark in recorded frames: rendered for the frame's own second, found in the
decoded pictures by correlation with the expected overlay (no OCR needed)."""

import av
import numpy as np
import pytest

from conftest import record
from media import manifest_of, segments_of
from recorder.capture.osd import Watermark, osd_lines, overlay_correlation

FPS = 30


def decoded_lumas(segment):
    with av.open(str(segment)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray()[: frame.height]


def watermark_for(manifest) -> Watermark:
    video = manifest["video"]
    return Watermark(video["width"], video["height"], osd_lines(manifest["device_id"], manifest["officer_id"]))


def frame_wall_ns(manifest, index: int) -> int:
    """Simulated frames are exactly 1/fps apart from the segment's first frame."""
    return manifest["start"]["wall_us"] * 1000 + index * 1_000_000_000 // FPS


def test_every_recorded_frame_shows_the_osd_of_its_own_second(recorded_store):
    for segment in segments_of(recorded_store):
        manifest = manifest_of(segment)
        watermark = watermark_for(manifest)
        for index, luma in enumerate(decoded_lumas(segment)):
            wall = frame_wall_ns(manifest, index)
            score = overlay_correlation(luma, watermark, wall)
            assert score > 0.9, f"{segment.name} frame {index}: OSD correlation {score:.2f}"
            # The time digits are those of this frame's second, not a neighbour's.
            for other in (wall - 1_000_000_000, wall + 1_000_000_000):
                assert overlay_correlation(luma, watermark, other) < score


def test_osd_can_be_switched_off(tmp_path):
    store = record(tmp_path, start_at=1, duration=2, extra="[osd]\nenabled = false\n")
    segment = segments_of(store)[0]
    manifest = manifest_of(segment)
    watermark = watermark_for(manifest)
    for index, luma in enumerate(decoded_lumas(segment)):
        assert overlay_correlation(luma, watermark, frame_wall_ns(manifest, index)) < 0.5


def test_the_overlay_is_rendered_once_a_second():
    calls = []

    def lines(wall_ns):
        calls.append(wall_ns)
        return ["2026-11-29 08:00:00 +0800", "ID rec-0123456789abcdef", "# 12345"]

    watermark = Watermark(1280, 720, lines)
    luma = np.zeros((720, 1280), dtype=np.uint8)
    for frame in range(90):  # three seconds at 30 fps
        watermark.burn_luma(luma, 5_000_000_000 + frame * 1_000_000_000 // 30)
    assert len(calls) == 3


@pytest.mark.parametrize("width, height", [(320, 240), (1280, 720), (1920, 1080), (64, 48)])
def test_bgr_and_luma_burns_agree_and_stay_inside_the_frame(width, height):
    watermark = Watermark(width, height, osd_lines("rec-0123456789abcdef", "officer-7"))
    wall = 1_795_977_000_000_000_000
    luma = np.full((height, width), 128, dtype=np.uint8)
    bgr = np.full((height, width, 3), 128, dtype=np.uint8)
    watermark.burn_luma(luma, wall)
    watermark.burn_bgr(bgr, wall)
    changed = luma != 128
    assert changed.any()
    assert np.array_equal(changed, (bgr != 128).all(axis=2))
    assert set(np.unique(luma[changed])) <= {16, 235}
    assert overlay_correlation(luma, watermark, wall) > 0.99
