"""`make bench`: the recorder's performance figures, each against a baseline
measured in the same run (docs/PERFORMANCE.md says what they mean).

 1. seal path: CPU seconds per recorded hour from encoded packets to sealed
    segments, against `ffmpeg -c copy -f segment` on the same media (target <= 1.2);
 1b. the same with encryption (age v1 to a recipient, bench/seal_path.py) against the same
    ffmpeg cut plus `age -r` of each segment it made (target <= 1.2);
 2. pre-record ring: resident bytes against the encoded bytes it holds (target <= 1.1);
 3. responsiveness: RECORD press -> recording mode and first cue in real time on the
    simulated body at 720p30, against the same on a 64x48 body (capture load ~ nil);
    target: maximum <= 200 ms.
 4. picamera2 on the virtual camera (bench/picamera2_long.py, 10 min): frames sealed
    against frames delivered, agent CPU per recorded minute against picamera2 recording
    the same camera and microphone into its own PyavOutput, A/V skew;
 5. outputframe hold time (bench/hold_time.py): how long a capture thread is held per
    call, at presses and segment boundaries too, against the work the pipeline thread
    did for them (target: p99 <= 1 ms);
 6. durable fragments: the seal path with an fdatasync per fragment against without;
 7. verify: `recorder verify` of the sealed store against `sha256sum` of its files (<= 1.0).
 OSD (bench/osd.py): CPU per frame of frame -> watermark -> x264 against the same
    pipeline without the watermark, at 720p and 1080p; the burn alone per frame.
 microphone (bench/microphone.py): sounddevice on a PulseAudio null sink, a click every
    5 s; where each click lands on the monotonic clock, its drift against one frame.
 recovery (bench/recovery.py): launch -> recording again after a run died with a segment
    open, against launch -> ready on a cleanly closed store (budget 5 s); sealing the open
    segment per GiB against sha256sum of it.
 gnss (bench/gnss.py): the gpsd client's CPU per hour at 1 and 10 Hz against gpspipe on the
    same feed; frames sealed in real time with a 10 Hz feed against none; gpsd start -> first
    position against gpsd start -> serving clients.
 encryption (bench/encryption.py): our age v1 encryptor's CPU per MiB against `age -r` on
    the same bytes (SHA-256 of them as the floor), our decryptor against `age -d`, and the
    filler that closing a chunk at every fragment adds.
 voice (bench/voice.py): the speech detector's CPU per second of audio against real time;
    a voice prompt played through PortAudio into a PulseAudio null sink, from play() to its
    first sample in the microphone's recording, against paplay of the same file.
 dock (bench/dock.py): the whole offload (witness, uploads, the dock's verification,
    archive and receipt, the release) over loopback TLS 1.3, MiB/s against curl PUTting
    the same files to the same dock (target >= 0.9), with ChaCha20 and AES; the dock's
    verify_store of its copy against sha256sum of the same files (target >= 1.0).

Exit status 0 when the benchmark ran, even if a target is missed (MISSED is printed);
non-zero when the benchmark itself failed.
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

import dock
import encryption
import gnss
import hold_time
import microphone
import osd
import picamera2_long
import recovery
import responsiveness
import ring_memory
import seal_path
import voice
from recorder.config import Config
from sample import Sample

SEAL_TARGET = 1.2
RING_TARGET = 1.1
MIB = 1024 * 1024


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout
    return (
        f"nproc {os.cpu_count()}, CPU {models[0] if models else platform.processor()}, "
        f"Python {platform.python_version()}, PyAV {av.__version__}, {' '.join(ffmpeg.split()[:3])}"
    )


def run_seal_path(packets, sample, repeats: int) -> tuple[float, float, float, float]:
    """Prints the runs and the profile; returns CPU s of ours, of its sealer thread, of
    hashing alone (bmff.hash_layout, unprofiled) and of ffmpeg."""
    ours, ffmpeg = seal_path.compare(packets, sample, repeats)
    profile = seal_path.profile(packets, sample)
    segments = seal_path.expected_segments(packets, sample.config)
    print(f"\n1. seal path: {segments} segments of <= {sample.config.segments.seconds} s; "
          "CPU s per run, after one warm-up run of each")
    print(f"   ours   (SegmentWriter + Sealer)  {'  '.join(f'{t:6.2f}' for t, _ in ours)}")
    print(f"     of which the sealer thread     {'  '.join(f'{s:6.2f}' for _, s in ours)}")
    print(f"   ffmpeg (-c copy -f segment)      {'  '.join(f'{t:6.2f}' for t in ffmpeg)}")
    total = profile["total"]
    print(f"   where ours goes: one run under cProfile, CPU of both threads, {total:.2f} s "
          "(cProfile inflates per-call Python costs)")
    for label, cpu in profile["stages"]:
        print(f"     {label:<56} {cpu:6.2f} s {100 * cpu / total:5.1f} %")
    print("   top functions by own CPU:")
    for label, own, calls in profile["functions"]:
        print(f"     {label[:56]:<56} {own:6.2f} s {100 * own / total:5.1f} % {calls:>8} calls")
    ours_cpu, sealer_cpu = sorted(ours)[len(ours) // 2]  # the median run, with its split
    return ours_cpu, sealer_cpu, profile["hash_cpu"], statistics.median(ffmpeg)


def run_ring(sample, passes: int) -> list[dict]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-ring-", dir=seal_path.SCRATCH))
    try:
        ring_file = scratch / "sample.bin"
        ring_memory.save(ring_file, sample.packets)
        rings = [
            ring_memory.measure(ring_file, sample.period_us, keep, passes, via_pyav)
            for keep, via_pyav in ((False, False), (True, False), (True, True))
        ]
    finally:
        shutil.rmtree(scratch)
    print(f"\n2. pre-record ring: PrerecordRing({ring_memory.RING_SECONDS} s, "
          f"{ring_memory.RING_MAX_BYTES // MIB} MiB) in a fresh process, fed {passes}x the sample")
    for r in rings:
        how = f"keep_audio={r['keep_audio']}" + (", payloads via av.Packet" if r["via_pyav"] else "")
        print(f"   {how:<40} holds {r['packets']:>4} packets, "
              f"{r['span_us'] / 1e6:5.2f} s, {r['bytes'] / MIB:5.2f} MiB; "
              f"RSS grew {r['rss_delta'] / MIB:5.2f} MiB")
    return rings


def run_responsiveness(presses: int) -> tuple[dict, dict]:
    loaded = responsiveness.summary(responsiveness.measure(1280, 720, presses))
    idle = responsiveness.summary(responsiveness.measure(64, 48, presses))
    print(f"\n3. responsiveness: {presses} RECORD presses at random moments on a real-time simulated body, "
          "each then held to stop; ms from the pin moving (30 ms debounce included)")
    for name, r in (("720p30 body", loaded), ("64x48 body (baseline)", idle)):
        print(f"   {name:<22} recording mode: median {r['state_median']:6.1f}, max {r['state_max']:6.1f};"
              f"  first cue: median {r['cue_median']:6.1f}, max {r['cue_max']:6.1f}")
    return loaded, idle


def run_verify_speed(packets, sample) -> dict:
    r = seal_path.verify_speed(packets, sample)
    print(f"\n7. verify: `recorder verify` of the sealed store ({r['files']} files, {r['bytes'] / MIB:.0f} MiB) "
          f"against sha256sum of the same files, page cache warm: {r['verify_s']:.2f} s against "
          f"{r['sha256sum_s']:.2f} s")
    return r


def run_hold_time() -> dict:
    r = hold_time.measure()
    print(f"\n5. outputframe hold time: {r['calls']} calls timed by their caller on a real-time 720p30 "
          f"agent with audio, two presses with a full 30 s ring, {len(r['close_ms'])} segment closes")
    print(f"   held: median {r['p50_ms'] * 1000:.0f} µs, p99 {r['p99_ms'] * 1000:.0f} µs, max {r['max_ms']:.2f} ms; "
          f"within 0.5 s of a press or a boundary ({r['near_events_calls']} calls): max {r['near_events_max_ms']:.2f} ms")
    print(f"   done on the pipeline's thread instead: ring drains {', '.join(f'{d:.0f}' for d in r['drain_ms'])} ms; "
          f"segment closes max {max(r['close_ms']):.0f} ms; backlog max {r['backlog_max_packets']} packets; "
          f"slowest fragment fdatasync {r['fragment_sync_max_ms']:.1f} ms")
    return r


def run_durability(packets, sample) -> dict:
    r = seal_path.durability_cost(packets, sample)
    on, off = r[True], r[False]
    print(f"\n6. durable fragments on the real disk ({seal_path.SCRATCH}): the seal path with and without "
          f"an fdatasync per fragment")
    print(f"   with:    wall {on['wall']:.2f} s, CPU {on['cpu']:.2f} s, {on['syncs']} fragment syncs, "
          f"median {on['sync_median_ms']:.1f} ms, max {on['sync_max_ms']:.1f} ms")
    print(f"   without: wall {off['wall']:.2f} s, CPU {off['cpu']:.2f} s")
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample-seconds", type=int, default=32, help="encoded once; a multiple of 8")
    parser.add_argument("--times", type=int, default=40, help="sample copies in the recording")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side (median)")
    parser.add_argument("--passes", type=int, default=10, help="sample copies fed to the ring")
    parser.add_argument("--presses", type=int, default=20, help="RECORD presses per body (responsiveness)")
    parser.add_argument("--hold", type=int, default=1, help="outputframe hold-time run (90 s); 0 skips it")
    parser.add_argument("--osd-frames", type=int, default=150, help="frames per OSD run; 0 skips it")
    parser.add_argument("--mic-seconds", type=float, default=60, help="microphone run; 0 skips it")
    parser.add_argument("--vad-seconds", type=float, default=60, help="audio fed to the speech detector; 0 skips it")
    parser.add_argument("--gnss-seconds", type=float, default=60, help="each GNSS run (bench/gnss.py); 0 skips it")
    parser.add_argument("--prompts", type=int, default=14, help="voice prompts played (prompt path); 0 skips it")
    parser.add_argument("--encrypted-seal", type=int, default=1,
                        help="1: the seal path with encryption against ffmpeg + age (1b); 0 skips it")
    parser.add_argument("--encryption-mib", type=int, default=256,
                        help="MiB of the sample encrypted per run (bench/encryption.py); 0 skips it")
    parser.add_argument("--recovery-seconds", type=float, default=60,
                        help="open segment a dead run leaves for the recovery run (bench/recovery.py); 0 skips it")
    parser.add_argument("--dock-seconds", type=int, default=1800,
                        help="seconds the offloaded device records (bench/dock.py; cached); 0 skips it")
    parser.add_argument("--picamera2-seconds", type=float, default=picamera2_long.bench_seconds(),
                        help="picamera2 long run (default 600, or PICAMERA2_BENCH_SECONDS); 0 skips it")
    args = parser.parse_args()
    config = Config()
    print(f"machine: {machine()}")
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")

    started = time.perf_counter()
    sample = Sample(config, args.sample_seconds)
    packets = sample.repeated(args.times)
    packets = packets[next(i for i, p in enumerate(packets) if p.keyframe and not p.audio) :]
    recorded_s = args.sample_seconds * args.times
    v = config.video
    print(f"media: {v.width}x{v.height} {v.fps} fps H.264 + {config.audio.codec}, "
          f"a {args.sample_seconds} s sample (encoded in {time.perf_counter() - started:.0f} s) "
          f"{args.times}x = {recorded_s} s, {len(packets)} packets, "
          f"{sum(len(p.data) for p in packets) / MIB:.0f} MiB")

    per_hour = 3600 / recorded_s
    ours, sealer, hashing, ffmpeg = (cpu * per_hour for cpu in run_seal_path(packets, sample, args.repeats))
    encrypted = seal_path.compare_encrypted(packets, sample, args.repeats) if args.encrypted_seal else None
    if encrypted:
        seal_path.print_encrypted(encrypted, seal_path.expected_segments(packets, sample.config), per_hour)
    rings = run_ring(sample, args.passes)
    loaded, idle = run_responsiveness(args.presses)
    durability = run_durability(packets, sample)
    verify = run_verify_speed(packets, sample)
    hold = run_hold_time() if args.hold else None

    rows = [  # name, ours, baseline, unit, target (None: for information)
        ("seal path: CPU s per recorded hour", ours, ffmpeg, "s", SEAL_TARGET),
        ("  of which writer (packets -> MP4 files)", ours - sealer, ffmpeg, "s", None),
        ("  of which sealer (hash, sign, ledger)", sealer, ffmpeg, "s", None),
        ("    of which hashing (bmff.hash_layout)", hashing, ffmpeg, "s", None),
    ]
    if encrypted:
        rows.append(("seal path encrypted: CPU s per rec. hour", encrypted["ours_encrypted"] * per_hour,
                     encrypted["ffmpeg_age"] * per_hour, "s", SEAL_TARGET))
        rows.append(("  against our plaintext seal path", encrypted["ours_encrypted"] * per_hour,
                     encrypted["ours"] * per_hour, "s", None))
    for r in rings:
        name = "ring RSS, " + ("video + audio" if r["keep_audio"] else "video only")
        name += ", via av.Packet" if r["via_pyav"] else ""
        target = None if r["via_pyav"] else RING_TARGET
        rows.append((name, r["rss_delta"] / MIB, r["bytes"] / MIB, "MiB", target))
    for what in ("state", "cue"):
        label = "press -> recording mode" if what == "state" else "press -> first cue"
        rows.append((f"{label}, median", loaded[f"{what}_median"], idle[f"{what}_median"], "ms", None))
        rows.append((f"{label}, max", loaded[f"{what}_max"], idle[f"{what}_max"], "ms", "200 ms"))
    on, off = durability[True], durability[False]
    rows.append(("seal path wall s, fragments fdatasync'd", on["wall"] * per_hour, off["wall"] * per_hour, "s", None))
    rows.append(("  fragment fdatasync, max", on["sync_max_ms"], config.video.gop_seconds * 1000, "ms", None))
    rows.append(("verify wall s (every hash, one read)", verify["verify_s"], verify["sha256sum_s"], "s", 1.0))
    if hold:
        rows.append(("outputframe hold, p99 (all calls)", hold["p99_ms"], hold["inline_max_ms"], "ms", "1 ms"))
        rows.append(("outputframe hold, max at presses/boundaries", hold["near_events_max_ms"], hold["inline_max_ms"], "ms", None))
    if args.osd_frames > 0:  # OSD: with the watermark against the same pipeline without it
        for r in osd.run(args.osd_frames, args.repeats):
            rows.append((f"OSD {r['size']}: pipeline CPU ms per frame", r["osd_ms"], r["plain_ms"], "ms", None))
            rows.append(("  of which burn_luma (cached overlay)", r["burn_us"] / 1000, r["plain_ms"], "ms", None))
    if args.mic_seconds > 0:  # where clicks land on the monotonic clock, against one frame
        mic = microphone.run(args.mic_seconds)
        frame_ms = 1000 / config.video.fps
        rows.append(("mic: click placement drift, first to last", abs(mic["delay_drift_ms"]), frame_ms, "ms", 1.0))
        rows.append(("mic: click placement spread (paplay incl.)", mic["delay_spread_ms"], frame_ms, "ms", None))
    rows += encryption.rows(args.encryption_mib, packets, v.gop_seconds, args.repeats)
    rows += voice.rows(args.vad_seconds, args.prompts)  # VAD CPU against real time; prompt latency against paplay
    rows += gnss.rows(args.gnss_seconds)  # client CPU against gpspipe; capture with a feed against without
    if args.recovery_seconds > 0:  # a start after a dead run against a clean start; recovery against sha256sum
        rows += recovery.run(args.recovery_seconds, args.repeats)
    rows += dock.rows(args.dock_seconds, args.repeats)  # offload against curl; the dock's verify against sha256sum
    if args.picamera2_seconds > 0:  # the longest: 10 min of picamera2 on the virtual camera
        rows += picamera2_long.run(args.picamera2_seconds)
    print(f"\n{'measurement':<44} {'ours':>12} {'baseline':>12} {'ratio':>6}  target")
    for name, value, base, unit, target in rows:
        ratio = value / base
        if target is None:
            verdict = "(info)"
        elif isinstance(target, str) and target.startswith(">="):  # a ratio that must be at least this
            verdict = f"{target}  {'ok' if ratio >= float(target.split()[1]) else 'MISSED'}"
        elif isinstance(target, str):  # an absolute budget, not a ratio
            verdict = f"<= {target}  {'ok' if value <= float(target.split()[0]) else 'MISSED'}"
        else:
            verdict = f"<= {target:.1f}  {'ok' if ratio <= target else 'MISSED'}"
        print(f"{name:<44} {value:8.2f} {unit:<3} {base:8.2f} {unit:<3} {ratio:6.2f}  {verdict}")
    print(f"seal path: median of {args.repeats} runs against ffmpeg -c copy -f segment on the same media;")
    print("seal path encrypted: ours writing age v1 segments against ffmpeg -f segment + age -r of each;")
    print("ring: RSS growth against the encoded bytes it holds (ring.bytes)")
    print("responsiveness: 720p30 body against a 64x48 body, same presses; budget 200 ms absolute")
    print("durable: seal path wall time per recorded hour with an fdatasync per fragment, against without;")
    print("  fdatasync max against one GOP (the time before the next fragment completes)")
    print("verify: wall time of verify_store against sha256sum of the same files; target <= 1.0")
    print("encryption: CPU ms per MiB of our age v1 encryptor (both running SHA-256s included) against age -r,")
    print("  and against SHA-256 alone; our decryptor against age -d; filler per recorded hour against the media")
    print("voice: VAD CPU per second of audio against real time (1000 ms per s); play() -> prompt recorded")
    print("  against paplay of the same file; budget 300 ms; play()'s start against where it was recorded, vs one frame")
    print("gnss: client reader thread CPU against gpspipe -w on the same gpsd; frames sealed at 720p30 in real")
    print("  time with the client reading a 10 Hz feed, against no receiver; gpsd start -> first position")
    print("  at the client, against gpsd start -> serving clients")
    print("recovery: launch -> resuming after a dead run against launch -> ready on a clean store; budget 5 s;")
    print("  recover() of the open segment per GiB against sha256sum of the same file")
    print("dock: offload MiB/s (media bytes / wall time of the whole offload) against curl PUTting the same")
    print("  files over the same TLS 1.3 link; the dock's verify_store MiB/s against sha256sum, target >= 1.0")
    print("hold: outputframe calls timed by the caller, against the longest work the pipeline thread did")
    print("  for a press or a boundary (what an inline router would have held the camera for); budget 1 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
