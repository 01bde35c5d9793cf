"""OSD cost per frame: the capture pipeline with the watermark against the same
pipeline without it, measured in the same run.

Pipeline = SyntheticCamera frame (yuv420p) -> [Watermark.burn_luma] -> VideoEncoder
(libx264 at the default preset and bitrate) -> an output that drops the packets.
CPU is process time (all threads: x264 runs frame threads). The two variants
alternate, `repeats` times each, after one untimed warm-up; the medians are compared.
The burn alone (in place on one frame, cached overlay) and the once-a-second render
(Pillow/FreeType, a Chinese officer name) are timed separately, as are burn_bgr (the
OpenCV path) and loading the font (once per watermark, at start-up).
"""

import statistics
import time
from dataclasses import replace

import numpy as np

from recorder.capture.encoders import VideoEncoder
from recorder.capture.osd import Watermark, _codepoints, osd_lines
from recorder.capture.synthetic import SyntheticCamera
from recorder.config import Config
from recorder.pipeline.packets import Output

WALL_NS = 1_795_977_000_000_000_000  # a fixed wall time: every run renders the same text
DEVICE, OFFICER = "rec-0123456789abcdef", "张伟"


class Drop(Output):
    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        pass


def _pipeline_cpu(video, frames: int, watermark: Watermark | None) -> float:
    camera = SyntheticCamera(video.width, video.height)
    images = [camera.frame(i) for i in range(min(frames, 30))]  # drawing is not what we measure
    encoder = VideoEncoder(video, [Drop()])
    started = time.process_time()
    for i in range(frames):
        image = images[i % len(images)].copy()
        wall = WALL_NS + i * 1_000_000_000 // video.fps
        if watermark is not None:
            watermark.burn_luma(image[: video.height], wall)
        encoder.encode(image, i * 1_000_000 // video.fps)
    encoder.flush()
    return time.process_time() - started


def _per_call_us(fn, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def measure(width: int, height: int, frames: int, repeats: int) -> dict:
    video = replace(Config().video, width=width, height=height)
    _codepoints.cache_clear()  # a cold load: the font file's character map, then FreeType's face
    started = time.perf_counter()
    watermark = Watermark(width, height, osd_lines(DEVICE, OFFICER))
    load_ms = (time.perf_counter() - started) * 1000
    _pipeline_cpu(video, video.fps, watermark)  # warm-up
    plain, with_osd = [], []
    for _ in range(repeats):
        plain.append(_pipeline_cpu(video, frames, None))
        with_osd.append(_pipeline_cpu(video, frames, watermark))
    luma = np.full((height, width), 128, dtype=np.uint8)
    bgr = np.full((height, width, 3), 128, dtype=np.uint8)
    burn_us = _per_call_us(lambda: watermark.burn_luma(luma, WALL_NS), 2000)
    bgr_us = _per_call_us(lambda: watermark.burn_bgr(bgr, WALL_NS), 2000)
    render_us = _per_call_us(lambda: watermark.render(watermark.lines_for_second(WALL_NS)), 50)
    ov = watermark.overlay(WALL_NS)
    return {
        "size": f"{width}x{height}",
        "frames": frames,
        "plain_ms": statistics.median(plain) / frames * 1000,
        "osd_ms": statistics.median(with_osd) / frames * 1000,
        "plain_runs": plain,
        "osd_runs": with_osd,
        "burn_us": burn_us,
        "bgr_us": bgr_us,
        "render_us": render_us,
        "load_ms": load_ms,
        "region": f"{ov.mask.shape[1]}x{ov.mask.shape[0]}",
        "pixels": int(ov.mask.sum()),
    }


def run(frames: int, repeats: int) -> list[dict]:
    results = [measure(1280, 720, frames, repeats), measure(1920, 1080, frames, repeats)]
    print(f"\nOSD: {frames} frames per run, {repeats} runs per variant alternating, after a warm-up;"
          " CPU ms per frame (all threads)")
    for r in results:
        print(f"   {r['size']:>9}  without OSD {'  '.join(f'{1000 * t / frames:6.2f}' for t in r['plain_runs'])}")
        print(f"   {'':>9}  with OSD    {'  '.join(f'{1000 * t / frames:6.2f}' for t in r['osd_runs'])}")
        print(f"   {'':>9}  burn_luma alone {r['burn_us']:.1f} us/frame on a {r['region']} region "
              f"({r['pixels']} pixels written); burn_bgr {r['bgr_us']:.1f} us; "
              f"render once a second {r['render_us']:.0f} us; font load {r['load_ms']:.0f} ms")
        print(f"   {'':>9}  burn_luma = {100 * r['burn_us'] / 1000 / r['plain_ms']:.2f} % of the pipeline's "
              f"CPU per frame; pipeline with/without {r['osd_ms'] / r['plain_ms']:.3f} "
              f"(run-to-run spread without OSD {100 * (max(r['plain_runs']) - min(r['plain_runs'])) / min(r['plain_runs']):.0f} %)")
    return results
