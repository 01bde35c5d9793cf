"""Measurement 1, the seal path: encoded packets -> sealed segments, against ffmpeg.

Ours: a fresh store on disk, then SegmentWriter.write() for every packet and
Sealer.close(); CPU from time.process_time(), which counts the sealer thread too.
Baseline: the same packets in one plain MP4, cut by
`ffmpeg -c copy -f segment` into files of the same length; CPU from
getrusage(RUSAGE_CHILDREN), user + system.

With encryption (docs/ENCRYPTION.md): ours writes every segment as age v1 to a recipient
(fragments aligned to chunks, the fragment index synced beside each), against the same
ffmpeg cut followed by `age -r RECIPIENT` of each segment it made — the same bytes
encrypted by the reference tool. `python bench/seal_path.py` runs this comparison alone.
"""

import cProfile
import math
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import av

from recorder.clock import SimulatedClock
from recorder.store.disk import Store
from recorder.pipeline.writer import MICROSECONDS, SegmentWriter, Session, StreamTemplate
from recorder.evidence.bmff import hash_layout
from recorder.seal.identity import DeviceIdentity
from recorder.seal.ledger import Ledger
from recorder.seal.sealer import Sealer

SCRATCH = "/tmp"  # the real disk on this machine (not a tmpfs)


def _scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=SCRATCH))


def expected_segments(packets, config) -> int:
    video = [p.timestamp for p in packets if not p.audio]
    frame_us = 1_000_000 / config.video.fps
    return math.ceil((video[-1] - video[0] + frame_us) / (config.segments.seconds * 1_000_000))


# -- ours ------------------------------------------------------------------------------------
class TimedSealer(Sealer):
    """Remembers the CPU its own thread used (hashing, signing, manifests, ledger)."""

    def _run(self):
        try:
            super()._run()
        finally:
            self.cpu = time.thread_time()


def seal(packets, sample, root: Path, sealer_class=TimedSealer, recipients=()) -> Sealer:
    """The product's path, wired as the agent wires it, minus the router; recipients:
    encrypted to them."""
    config = sample.config
    store = Store(root).prepare()
    identity = DeviceIdentity.create(store.device_dir)
    ledger = Ledger(store.ledger_path, identity)
    sealer = sealer_class(store, identity, ledger, SimulatedClock())
    writer = SegmentWriter(store, config.segments.seconds, config.video.fps, sealer.seal, recipients=recipients)
    for audio, (stream, codec_name, kwargs) in sample.streams.items():
        writer.add_stream(audio, StreamTemplate(stream, codec_name, kwargs))
    writer.begin(Session(uuid.uuid4().hex, "bench", packets[0].timestamp, 0, False))
    for packet in packets:
        writer.write(packet)
    totals = writer.end()
    sealer.close()
    frames = sum(not p.audio for p in packets)
    if sealer.sealed_count != expected_segments(packets, config) or totals["frames"] != frames:
        raise RuntimeError(f"seal path lost media: {totals}, {sealer.sealed_count} sealed")
    return sealer


def time_ours(packets, sample, recipients=()) -> tuple[float, float]:
    """(CPU s of the whole process, CPU s of the sealer thread alone)."""
    root = _scratch_dir("bench-seal-")
    try:
        start = time.process_time()
        sealer = seal(packets, sample, root, recipients=recipients)
        return time.process_time() - start, sealer.cpu
    finally:
        shutil.rmtree(root)


def durability_cost(packets, sample) -> dict:
    """The same seal path with and without the per-fragment fdatasync (durable.py), on the
    real disk: wall and CPU seconds, the number of fragment syncs and the slowest one."""
    from recorder.pipeline import durable

    results = {}
    original_written, original_sync = durable.FragmentSyncer.fragment_written, durable.FragmentSyncer._sync
    for durable_fragments in (False, True, False, True):  # alternate; the second pair counts
        syncs = []

        def timed_sync(self, sync, syncs=syncs):
            start = time.perf_counter_ns()
            original_sync(self, sync)
            if sync is os.fdatasync:
                syncs.append(time.perf_counter_ns() - start)

        durable.FragmentSyncer._sync = timed_sync
        if not durable_fragments:
            durable.FragmentSyncer.fragment_written = lambda self: None
        root = _scratch_dir("bench-durable-")
        try:
            os.sync()
            wall, cpu = time.perf_counter(), time.process_time()
            seal(packets, sample, root)
            results[durable_fragments] = {
                "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                "syncs": len(syncs), "sync_median_ms": statistics.median(syncs) / 1e6 if syncs else 0.0,
                "sync_max_ms": max(syncs, default=0) / 1e6,
            }
        finally:
            durable.FragmentSyncer.fragment_written = original_written
            durable.FragmentSyncer._sync = original_sync
            shutil.rmtree(root)
    return results


def verify_speed(packets, sample, repeats: int = 3) -> dict:
    """`recorder verify` of a sealed store against `sha256sum` of the same media and manifest
    files: wall seconds, medians of `repeats` alternating runs (page cache warm for both)."""
    from recorder.evidence.verifier import verify_store

    root = _scratch_dir("bench-verify-")
    try:
        seal(packets, sample, root)
        files = sorted(str(p) for p in root.glob("media/*/*") if p.is_file())
        size = sum(os.path.getsize(f) for f in files)
        ours, base = [], []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            report = verify_store(root)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(["sha256sum", *files], check=True, stdout=subprocess.DEVNULL)
            base.append(time.perf_counter() - start)
        # The bench's store holds segments only (no session entries: see seal()); every
        # media check must still pass, on every segment.
        media_codes = {"hash-mismatch", "fragment-mismatch", "layout-mismatch", "sample-count-mismatch",
                       "manifest-mismatch", "missing-file"}
        if report.segments != len(files) // 2 or [p for p in report.problems if p.code in media_codes]:
            raise RuntimeError(f"the bench store does not verify: {report.summary_text()}")
    finally:
        shutil.rmtree(root)
    return {"verify_s": statistics.median(ours[1:]), "sha256sum_s": statistics.median(base[1:]),
            "bytes": size, "files": len(files)}


# -- baseline --------------------------------------------------------------------------------
def mux_one_mp4(path: Path, packets, sample):
    """All packets in one ordinary MP4 (the baseline's input; not timed)."""
    audio_ctx = sample.streams[True][0].codec_context
    audio_us = round(audio_ctx.frame_size * 1_000_000 / audio_ctx.sample_rate)
    frame_us = round(1_000_000 / sample.config.video.fps)
    start = packets[0].timestamp
    with av.open(str(path), "w", format="mp4") as container:
        streams = {}
        for audio, (template, _, _) in sample.streams.items():
            streams[audio] = container.add_stream_from_template(template)
            streams[audio].codec_context.extradata = template.codec_context.extradata
        for p in packets:
            out = av.Packet(p.data)
            out.stream = streams[p.audio]
            out.time_base = MICROSECONDS
            out.pts = out.dts = p.timestamp - start
            out.duration = audio_us if p.audio else frame_us
            out.is_keyframe = p.keyframe
            container.mux(out)


def time_ffmpeg(source: Path, segment_seconds: int, expected: int, recipient: str | None = None) -> float:
    """CPU s of ffmpeg cutting `source` into segments; with a recipient, plus `age -r` of each."""
    out = _scratch_dir("bench-ffmpeg-")
    command = [
        "ffmpeg", "-v", "error", "-i", str(source), "-c", "copy", "-map", "0",
        "-f", "segment", "-segment_time", str(segment_seconds), "-reset_timestamps", "1",
        str(out / "out%03d.mp4"),
    ]
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, check=True)
        made = len(list(out.glob("out*.mp4")))
        if recipient is not None:
            for segment in sorted(out.glob("out*.mp4")):
                subprocess.run(["age", "-r", recipient, "-o", f"{segment}.age", str(segment)], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        shutil.rmtree(out)
    if made != expected:
        raise RuntimeError(f"ffmpeg made {made} segments, expected {expected}")
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def compare(packets, sample, repeats: int) -> tuple[list[tuple], list[float]]:
    """CPU seconds of `repeats` runs of each side, alternating, after one untimed warm-up
    of each (the first run in a process pays for growing the heap). Dirty pages are
    synced before each run so one run's writeback does not land in the next."""
    segments = expected_segments(packets, sample.config)
    scratch = _scratch_dir("bench-source-")
    try:
        source = scratch / "in.mp4"
        mux_one_mp4(source, packets, sample)
        ours, ffmpeg = [], []  # ours: (process CPU, sealer thread CPU)
        for _ in range(repeats + 1):
            os.sync()
            ours.append(time_ours(packets, sample))
            os.sync()
            ffmpeg.append(time_ffmpeg(source, sample.config.segments.seconds, segments))
    finally:
        shutil.rmtree(scratch)
    return ours[1:], ffmpeg[1:]


def compare_encrypted(packets, sample, repeats: int) -> dict:
    """CPU s per run, alternating after one warm-up of each: ours plaintext, ours encrypted,
    ffmpeg, ffmpeg + age. Medians, and the runs."""
    from recorder.encryption import Identity

    recipient = Identity.generate().recipient
    segments = expected_segments(packets, sample.config)
    scratch = _scratch_dir("bench-source-")
    runs = {"ours": [], "ours_encrypted": [], "ffmpeg": [], "ffmpeg_age": []}
    try:
        source = scratch / "in.mp4"
        mux_one_mp4(source, packets, sample)
        for _ in range(repeats + 1):
            for name, run in (
                ("ours", lambda: time_ours(packets, sample)[0]),
                ("ours_encrypted", lambda: time_ours(packets, sample, [recipient])[0]),
                ("ffmpeg", lambda: time_ffmpeg(source, sample.config.segments.seconds, segments)),
                ("ffmpeg_age", lambda: time_ffmpeg(source, sample.config.segments.seconds, segments,
                                                   str(recipient))),
            ):
                os.sync()
                runs[name].append(run())
    finally:
        shutil.rmtree(scratch)
    runs = {name: values[1:] for name, values in runs.items()}
    return {"runs": runs, **{name: statistics.median(values) for name, values in runs.items()}}


def print_encrypted(result: dict, segments: int, per_hour: float) -> None:
    print(f"\n1b. seal path with encryption: {segments} segments; CPU s per run, after one warm-up run of each")
    labels = {"ours": "ours, plaintext", "ours_encrypted": "ours, encrypted (age v1)",
              "ffmpeg": "ffmpeg -c copy -f segment", "ffmpeg_age": "ffmpeg ... + age -r each segment"}
    for name, label in labels.items():
        runs = "  ".join(f"{t:6.2f}" for t in result["runs"][name])
        print(f"   {label:<34} {runs}   median {result[name] * per_hour:7.1f} s per recorded hour")
    print(f"   encrypted against ffmpeg + age: {result['ours_encrypted'] / result['ffmpeg_age']:.2f}; "
          f"encryption's cost in ours: {result['ours_encrypted'] / result['ours']:.2f}x plaintext")


# -- where our CPU goes ----------------------------------------------------------------------
class ProfiledSealer(TimedSealer):
    """The sealer thread profiled on its own thread's CPU clock."""

    def _run(self):
        self.profile = cProfile.Profile(time.thread_time)
        self.profile.runcall(super()._run)


# Disjoint stages: (label, functions added, functions subtracted); a function is
# (file, name, "cum" for its time with callees | "own" for its time alone).
HASH, SIGN = ("bmff.py", "hash_layout", "cum"), ("documents.py", "signed", "cum")
STAGES = [
    ("writer, Python per packet (write, _mux own time)",
     [("writer.py", "write", "own"), ("writer.py", "_mux", "own")], []),
    ("writer, PyAV per packet (av.Packet, container.mux)",
     [("writer.py", "_mux", "cum")], [("writer.py", "_mux", "own")]),
    ("writer, open/close/fsync segment files",
     [("writer.py", "_open_segment", "cum"), ("writer.py", "_close", "cum")], []),
    ("sealer, hash segments (bmff.hash_layout)", [HASH], []),
    ("sealer, sign documents (JCS + Ed25519)", [SIGN], []),
    ("sealer, rest (JCS, manifest+ledger write/fsync, rename)",
     [("sealer.py", "_seal_segment", "cum")], [HASH, SIGN]),
]


def _cpu(stats: pstats.Stats, file: str, name: str, kind: str) -> float:
    return sum(
        ct if kind == "cum" else tt
        for (path, _, func), (_, _, tt, ct, _) in stats.stats.items()
        if func == name and Path(path).name == file
    )


def _label(key) -> str:
    path, line, func = key
    return func if path == "~" else f"{Path(path).name}:{line}({func})"


def profile(packets, sample, top: int = 6) -> dict:
    """One untimed run under cProfile (thread CPU clocks, both threads), then the
    segments it sealed hashed again with bmff.hash_layout outside the profiler."""
    root = _scratch_dir("bench-profile-")
    try:
        main = cProfile.Profile(time.thread_time)
        sealer = main.runcall(seal, packets, sample, root, ProfiledSealer)
        segments = sorted(root.glob("media/*/*.mp4"))
        hash_layout(segments[0])  # warm-up, as in compare()
        start = time.thread_time()  # the sealer's main cost again, without the profiler
        for segment in segments:
            hash_layout(segment)
        hash_cpu = time.thread_time() - start
    finally:
        shutil.rmtree(root)
    stats = pstats.Stats(main)
    stats.add(sealer.profile)
    total = sum(tt for (_, _, tt, _, _) in stats.stats.values())
    stages = []
    for label, plus, minus in STAGES:
        cpu = sum(_cpu(stats, *f) for f in plus) - sum(_cpu(stats, *f) for f in minus)
        stages.append((label, cpu))
    stages.append(("everything else (the bench's loop, set-up)", total - sum(c for _, c in stages)))
    functions = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "hash_cpu": hash_cpu,
        "total": total,
        "stages": stages,
        "functions": [(_label(key), tt, nc) for key, (_, nc, tt, _, _) in functions],
    }


def main() -> int:
    """The encrypted seal-path comparison alone: `python bench/seal_path.py [--times N]`."""
    import argparse
    import sys

    from recorder.config import Config
    from sample import Sample

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--sample-seconds", type=int, default=32, help="encoded once; a multiple of 8")
    parser.add_argument("--times", type=int, default=40, help="sample copies in the recording")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    sample = Sample(Config(), args.sample_seconds)
    packets = sample.repeated(args.times)
    packets = packets[next(i for i, p in enumerate(packets) if p.keyframe and not p.audio):]
    print(f"media: {len(packets)} packets, {sum(len(p.data) for p in packets) / 2**20:.0f} MiB, "
          f"{args.sample_seconds * args.times} s")
    result = compare_encrypted(packets, sample, args.repeats)
    print_encrypted(result, expected_segments(packets, sample.config), 3600 / (args.sample_seconds * args.times))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
