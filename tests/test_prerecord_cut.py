"""A SIGKILL in the first seconds after a press, with 30 s of pre-record: the pre-record is
already on disk, fragment by fragment, and at most one GOP of it is lost.

The pre-record lives in memory until the press (nothing is kept before it); at the press
the ring is written out as fragments, in a burst that takes tens of milliseconds (the
figure is in docs/PERFORMANCE.md). A cut inside that burst loses what was not yet
written; the cuts here come after it, at random moments in the next 1.5 s."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import write_config
from media import frame_indices
from recorder.evidence.bmff import layout_ranges, scan_boxes

FPS, GOP_FRAMES, PRERECORD_S, PRESS_S = 30, 30, 30, 32
RUNS = 6


def complete_part(path, scratch):
    """The complete fragments of a (possibly cut) MP4 as a file of their own."""
    data = path.read_bytes()
    ranges = layout_ranges(scan_boxes(data), len(data))
    fragments = [(o, n) for o, n in ranges["fragments"] if o + n <= len(data)]
    if not fragments:
        return None
    end = fragments[-1][0] + fragments[-1][1]
    scratch.write_bytes(data[:end])
    return scratch


def frames_on_disk(store, tmp_path) -> list[int]:
    indices = []
    for number, path in enumerate(sorted(store.glob("media/*/*.mp4*"))):
        if path.name.endswith(".manifest.json.partial"):
            continue
        intact = complete_part(path, tmp_path / f"part{number}.mp4") if path.suffix == ".partial" else path
        if intact is not None:
            indices += frame_indices(intact)
    return sorted(indices)


@pytest.mark.parametrize("seed", range(RUNS))
def test_a_cut_after_the_press_loses_at_most_one_gop_of_pre_record(tmp_path, seed):
    rng = random.Random(seed)
    config = write_config(tmp_path, prerecord_audio=False)
    config.write_text(config.read_text().replace("seconds = 3\n", f"seconds = {PRERECORD_S}\n")
                      .replace("seconds = 4\n", "seconds = 60\n"))
    store = tmp_path / "store"
    process = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--simulate", "--once", "--fast", "--config", str(config),
         "--store", str(store), "--script", f"press record @{PRESS_S}s; end @{PRESS_S + 30}s"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(store.glob("media/*/00002.mp4*")) and time.monotonic() < deadline:
            time.sleep(0.005)  # the ring went out: its video-only segment closed at the press
        assert list(store.glob("media/*/00002.mp4*")), "the press never reached the disk"
        time.sleep(rng.uniform(0.0, 1.5))
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    indices = frames_on_disk(store, tmp_path)
    press_frame = PRESS_S * FPS
    first_kept = press_frame - PRERECORD_S * FPS  # the ring holds whole GOPs from here
    assert indices and indices == list(range(indices[0], indices[-1] + 1)), "contiguous"
    assert indices[0] <= first_kept
    lost = max(0, press_frame - 1 - indices[-1])
    print(f"seed {seed}: frames on disk {indices[0]}..{indices[-1]}, pre-record lost {lost} frames")
    assert lost <= GOP_FRAMES, f"{lost} frames of pre-record lost"
