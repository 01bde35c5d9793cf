"""Measurement 2, pre-record ring memory: resident bytes against the encoded bytes held.

`measure()` runs this file in a fresh interpreter, so nothing else the bench has
allocated is in its RSS. The child reads the packets one at a time from a file
(each payload a fresh bytes object that only the ring references), feeds
`passes` back-to-back copies of the sample into a PrerecordRing (so the ring is
in its steady state, dropping a GOP for every GOP it takes) and reports the RSS
growth next to ring.bytes.

With `via_pyav`, each payload is first put in an av.Packet and copied out with
bytes(), as recorder/capture/encoders.py does: a short-lived libav buffer per
packet, which is what the heap sees on the simulated body.
"""

import gc
import json
import struct
import subprocess
import sys
from pathlib import Path

RING_SECONDS = 30
RING_MAX_BYTES = 64 * 1024 * 1024
HEADER = struct.Struct("<q??I")  # timestamp, keyframe, audio, payload size


def save(path: Path, packets):
    with open(path, "wb") as f:
        for p in packets:
            f.write(HEADER.pack(p.timestamp, p.keyframe, p.audio, len(p.data)))
            f.write(p.data)


def load_one_by_one(path):
    """Yields (timestamp, keyframe, audio, data); each data is one new bytes object."""
    with open(path, "rb") as f:
        while header := f.read(HEADER.size):
            timestamp, keyframe, audio, size = HEADER.unpack(header)
            yield timestamp, keyframe, audio, f.read(size)


def measure(sample_path: Path, period_us: int, keep_audio: bool, passes: int, via_pyav=False) -> dict:
    child = [sys.executable, __file__, str(sample_path), str(period_us), str(int(keep_audio)), str(passes)]
    done = subprocess.run(child + (["pyav"] if via_pyav else []), check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def _child(sample_path: str, period_us: int, keep_audio: bool, passes: int, via_pyav: bool) -> dict:
    import av
    import psutil

    from recorder.pipeline.packets import Packet
    from recorder.pipeline.ring import PrerecordRing

    process = psutil.Process()
    ring = PrerecordRing(seconds=RING_SECONDS, max_bytes=RING_MAX_BYTES, keep_audio=keep_audio)
    gc.collect()
    before = process.memory_info().rss
    for k in range(passes):
        for timestamp, keyframe, audio, data in load_one_by_one(sample_path):
            if via_pyav:
                data = bytes(av.Packet(data))
            ring.add(Packet(timestamp + k * period_us, keyframe, audio, data))
    del data  # the last payload, in case the ring did not keep it
    gc.collect()
    after = process.memory_info().rss
    return {
        "keep_audio": keep_audio,
        "via_pyav": via_pyav,
        "packets": len(ring),
        "bytes": ring.bytes,
        "span_us": ring.span_us(),
        "rss_delta": after - before,
    }


if __name__ == "__main__":
    path, period, keep, passes = sys.argv[1:5]
    print(json.dumps(_child(path, int(period), keep == "1", int(passes), sys.argv[5:] == ["pyav"])))
