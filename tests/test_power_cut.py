"""A writer killed with SIGKILL mid-segment leaves a `.partial` whose complete fragments decode."""

import os
import signal
import subprocess
import sys
import time

from conftest import require_tool, write_config
from media import frame_indices
from recorder.evidence.bmff import layout_ranges, scan_boxes


def complete_fragments(data: bytes) -> list[tuple[int, int]]:
    ranges = layout_ranges(scan_boxes(data), len(data))
    return [(o, n) for o, n in ranges["fragments"] if o + n <= len(data)]


def test_sigkill_mid_segment_leaves_decodable_fragments(tmp_path):
    ffmpeg = require_tool("ffmpeg")
    store = tmp_path / "store"
    config = write_config(tmp_path, extra="")
    config.write_text(config.read_text().replace("seconds = 4", "seconds = 60"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--simulate", "--config", str(config),
         "--store", str(store), "--start-at", "0", "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        partial = None
        while time.monotonic() < deadline:
            found = list(store.glob("media/*/*.mp4.partial"))
            # wait for 3 complete fragments plus some of the 4th
            if found and len(complete_fragments(found[0].read_bytes())) >= 3:
                partial = found[0]
                break
            time.sleep(0.1)
        assert partial is not None, "recording never produced fragments"
        time.sleep(0.5)  # kill in the middle of the next fragment
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    data = partial.read_bytes()
    fragments = complete_fragments(data)
    assert len(fragments) >= 3
    end = fragments[-1][0] + fragments[-1][1]
    intact = tmp_path / "intact.mp4"
    intact.write_bytes(data[:end])
    # Stock ffmpeg decodes every complete fragment without an error...
    decode = subprocess.run([ffmpeg, "-v", "error", "-xerror", "-i", str(intact), "-f", "null", "-"],
                            capture_output=True, text=True)
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr
    # ...and the frames in them are the GOPs recorded, one fragment per GOP, contiguous.
    indices = frame_indices(intact)
    assert len(indices) == 30 * len(fragments)
    assert indices == list(range(indices[0], indices[0] + len(indices)))
    # The partial itself stays as the crash left it: nothing was sealed, nothing deleted.
    assert not list(store.glob("media/*/*.mp4"))
