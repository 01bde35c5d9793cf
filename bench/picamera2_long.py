"""picamera2 on libcamera's virtual camera for a long recording (default 10 min at
1280x720, 30 fps, the default config), inside the test chroot (docs/TESTING-CAMERA.md).

Measures
  * frames the camera delivered while the session was recording against frames
    sealed in its segments (target: equal);
  * CPU seconds of the whole agent process (camera, OSD, encoder, microphone, recorder)
    per recorded minute, against a baseline measured in the same run: the same camera,
    OSD and encoder, with picamera2 recording the same microphone (its own audio path,
    PulseAudio through PyAV, AAC), into picamera2's own PyavOutput (one plain MP4), for
    2 minutes; target <= 1.1;
  * with a PulseAudio null sink: A/V skew of periodic flash + click pairs (every
    256 frames, 8.5 s), at the start and at the end of the run.

PICAMERA2_BENCH_SECONDS shortens the run for a quick check (the documented figure
is 600 s). Standalone: .venv/bin/python bench/picamera2_long.py
"""

import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from media import manifest_of, segments_of  # noqa: E402
from support.picam import chroot  # noqa: E402
from support.picam.avsync import paired_skews_ms, rig_errors_ms  # noqa: E402
from support.picam.runner import DRIVE, prepare_frames, record_virtual  # noqa: E402

WIDTH, HEIGHT, FPS, BITRATE, PRESET = 1280, 720, 30, 4_000_000, "veryfast"  # the default config
IMAGES, REPEAT, FLASH_IMAGE = 64, 4, 8
CYCLE = IMAGES * REPEAT  # frames between two showings of the same image
BASELINE_S = 120
CPU_TARGET = 1.1


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sealed_vs_delivered(run) -> tuple[int, int]:
    segments = segments_of(run.store)
    sealed = sum(manifest_of(s)["video"]["frames"] for s in segments)
    first_us = manifest_of(segments[0])["start"]["mono_us"]
    end_us = manifest_of(segments[-1])["end"]["mono_us"]  # last frame + one frame time
    half = 1e6 / FPS / 2
    delivered = sum(1 for t in run.report["ticks_ns"] if first_us - half <= t / 1000 < end_us - half)
    return delivered, sealed


def baseline_cpu_per_minute(root, directory: Path, seconds: float, pulse_dir=None) -> float:
    command = ["python3", DRIVE, "baseline", "--config", "/out/recorder.toml", "--output",
               "/out/baseline.mp4", "--report", "/out/baseline.json", "--seconds", str(seconds)]
    env = {"TZ": "UTC"}
    if pulse_dir is not None:
        command.append("--audio")
        env["PULSE_SERVER"] = "unix:/pulse/native"
    before = children_cpu()
    result = chroot.run_in_chroot(root, command, directory, virtual_yaml=directory / "virtual.yaml",
                                  env=env, pulse_dir=pulse_dir, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"baseline failed: {result.stderr[-2000:]}")
    return (children_cpu() - before) * 60 / seconds


def bench_seconds() -> float:
    return float(os.environ.get("PICAMERA2_BENCH_SECONDS", "600"))


def run(seconds: float) -> list[tuple]:
    """Prints the section; returns rows for bench/run.py's table
    (name, ours, baseline, unit, target); raises when the run itself failed."""
    root = chroot.ensure_chroot()
    work = Path(tempfile.mkdtemp(prefix="bench-picamera2-", dir="/var/tmp"))
    pulse = None
    try:
        from support.pulse import PulseServer

        pulse = PulseServer().start()
    except Exception as exc:  # no PulseAudio: everything but the A/V skew
        print(f"   (no PulseAudio null sink, A/V skew not measured: {exc})")
    try:
        prepare_frames(root, work, IMAGES, WIDTH, HEIGHT, flash=[FLASH_IMAGE])
        total_frames = int((seconds + 2) * FPS)
        clicks = list(range(FLASH_IMAGE * REPEAT, total_frames, CYCLE)) if pulse else []
        print(f"\n4. picamera2 on the virtual camera: {WIDTH}x{HEIGHT} {FPS} fps, libx264 {PRESET}, "
              f"{seconds:.0f} s recorded" + (" with microphone" if pulse else ""))
        started, before = time.monotonic(), children_cpu()
        rec = record_virtual(root, work, width=WIDTH, height=HEIGHT, fps=FPS, images=IMAGES,
                             flash=[FLASH_IMAGE], prerecord_s=2.0, record_s=seconds, segment_s=60,
                             bitrate=BITRATE, preset=PRESET, pulse_dir=pulse.dir if pulse else None,
                             click_at_frame=clicks, timeout=seconds + 300)
        cpu = children_cpu() - before
        wall = time.monotonic() - started
        if rec.returncode != 0:
            raise RuntimeError(f"picamera2 recording failed: {rec.stderr[-3000:]}")
        recorded_min = (seconds + 2) / 60  # the session keeps the 2 s before the press
        delivered, sealed = sealed_vs_delivered(rec)
        rep = rec.report
        print(f"   camera delivered {delivered} frames while recording, {sealed} sealed "
              f"({'equal' if delivered == sealed else 'DIFFERENT'}); pacer missed {rep['late_ticks']} "
              f"frame slots; run took {wall:.0f} s")
        base = baseline_cpu_per_minute(root, work, min(BASELINE_S, seconds), pulse.dir if pulse else None)
        ours = cpu / recorded_min
        print(f"   CPU per recorded minute: agent {ours:.1f} s, baseline (picamera2 -> PyavOutput"
              f"{' with its own audio' if pulse else ', no audio'}, {min(BASELINE_S, seconds):.0f} s) "
              f"{base:.1f} s, ratio {ours / base:.2f}")
        rows = [
            ("picamera2: frames sealed / delivered", sealed, delivered, "fr", None),
            ("picamera2: agent CPU s per recorded minute", ours, base, "s", CPU_TARGET if pulse else None),
        ]
        if pulse:
            skews = paired_skews_ms(rec.store)
            if skews:
                rig = rig_errors_ms(rep)
                print(f"   clicks placed vs their flash frames' capture: worst {max(rig, key=abs):+.2f} ms "
                      f"over {len(rig)}")
                head, tail = skews[:3], skews[-3:]
                print(f"   A/V skew (click - flash), {len(skews)} pairs: start "
                      f"{', '.join(f'{s:+.1f}' for s in head)} ms; end {', '.join(f'{s:+.1f}' for s in tail)} ms; "
                      f"median {statistics.median(skews):+.1f} ms; worst {max(skews, key=abs):+.1f} ms "
                      f"(target: within 33.3); mic {rep['microphone']}")
                worst = max(skews, key=abs)
                rows.append(("picamera2: worst A/V skew, ms (target 33)", abs(worst), 1000 / FPS, "ms", 1.0))
            else:
                print("   A/V skew: no flash/click pairs found")
        return rows
    finally:
        if pulse:
            pulse.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    run(bench_seconds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
