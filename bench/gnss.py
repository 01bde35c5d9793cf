"""GNSS (docs/GNSS.md): what the gpsd client costs, whether it costs capture anything, and how
soon a position reaches the evidence.

  - the client's CPU per hour of reports: its reader thread's own CPU time (from
    /proc/self/task/<tid>/stat) while a real gpsd (sim/gpsd_feed.py) is fed a 1 Hz and a
    10 Hz NMEA stream, against gpspipe -w (gpsd's own C client) reading the same stream;
  - capture with a 10 Hz feed: the simulated body recording in real time (720p30, the system
    clock) with the client reading a 10 Hz feed on the side, frames sealed against the same
    run with no receiver;
  - gpsd start -> first position: a cold gpsd on a receiver sending 1 Hz fixes, until the
    client holds a position, against gpsd start -> serving clients; and with the agent
    recording in real time (2 s segments), until the first track point with a fix (its
    sample time, against the client's first position) and until the manifest holding it is
    sealed (against one segment's length).
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from recorder.clock import SystemClock
from recorder.config import config_from_dict
from recorder.sim.agent import SimulatedAgent
from recorder.sim.gpsd_feed import GpsdFeed
from recorder.sim.nmea import SkySample, sentences_at
from recorder.sim.script import parse_timeline
from recorder.telemetry.gpsd import GpsdClient

def thread_cpu_s(thread) -> float:
    """A thread's own CPU time, to the nanosecond (its POSIX CPU-time clock)."""
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


class Feeder(threading.Thread):
    """Writes a walking receiver's cycles at `hz` into the feed, in real time."""

    def __init__(self, feed: GpsdFeed, hz: float):
        super().__init__(daemon=True)
        self.feed, self.period, self.stop = feed, 1 / hz, threading.Event()

    def run(self):
        start, n = time.time(), 0
        while not self.stop.is_set():
            utc_ns = round((start + n * self.period) * 1e9)
            sample = SkySample(lat=31.2304 + n * 1e-6, lon=121.4737, alt=12.0, speed=1.3, heading=10.0)
            self.feed.write(sentences_at(utc_ns, sample))
            n += 1
            self.stop.wait(max(0.0, start + n * self.period - time.time()))


def client_cpu(hz: float, seconds: float) -> dict:
    with GpsdFeed() as feed:
        client = GpsdClient(SystemClock(lambda: ("none", None)), port=feed.port).start()
        feeder = Feeder(feed, hz)
        try:
            deadline = time.monotonic() + 5
            while not client.watching and time.monotonic() < deadline:
                time.sleep(0.01)
            feeder.start()
            time.sleep(1)
            ours0, reports0 = thread_cpu_s(client._thread), client.reports
            # gpspipe's CPU is taken from its rusage when it ends (µs, its whole life): it runs
            # exactly the measured window, give or take its start
            pipe = subprocess.Popen(["gpspipe", "-w", f"127.0.0.1:{feed.port}"], stdout=subprocess.DEVNULL)
            time.sleep(seconds)
            ours = thread_cpu_s(client._thread) - ours0
            reports = client.reports - reports0
            pipe.terminate()
            _, _, usage = os.wait4(pipe.pid, 0)
            theirs = usage.ru_utime + usage.ru_stime
        finally:
            feeder.stop.set()
            client.close()
    per_hour = 3600 / seconds
    return {"ours_s_per_h": ours * per_hour, "gpspipe_s_per_h": theirs * per_hour, "reports": reports}


CAPTURE = {
    "video": {"width": 1280, "height": 720, "fps": 30, "bitrate": 4_000_000},
    "segments": {"seconds": 10},
}


def frames_sealed(store: Path) -> int:
    import json

    return sum(json.loads(p.read_text())["video"]["frames"] for p in store.glob("media/*/*.manifest.json"))


def capture_run(seconds: float, with_feed: bool) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="bench-gnss-"))
    feed = GpsdFeed() if with_feed else None
    gnss = {"receiver": "gpsd", "port": feed.port, "simulated_sky": False} if feed else {"receiver": "none"}
    settings = {**CAPTURE, "gnss": gnss}
    feeder = Feeder(feed, 10) if feed else None
    try:
        if feeder:
            feeder.start()
        agent = SimulatedAgent(config_from_dict(settings), scratch / "store", SystemClock())
        agent.play(parse_timeline(f"start @0.5s; stop @{seconds + 0.5}s"))
        return frames_sealed(scratch / "store")
    finally:
        if feeder:
            feeder.stop.set()
        if feed:
            feed.close()
        shutil.rmtree(scratch, ignore_errors=True)


def first_position(repeats: int) -> dict:
    to_fix, to_serve = [], []
    for _ in range(repeats):
        started = time.monotonic()
        with GpsdFeed() as feed:
            served = time.monotonic() - started
            clock = SystemClock(lambda: ("none", None))
            client = GpsdClient(clock, port=feed.port).start()
            feeder = Feeder(feed, 1)
            feeder.start()
            try:
                while client.position(clock.monotonic_ns(), 2_000_000_000) is None:
                    if time.monotonic() - started > 10:
                        raise RuntimeError("no position within 10 s")
                    time.sleep(0.005)
                to_fix.append(time.monotonic() - started)
                to_serve.append(served)
            finally:
                feeder.stop.set()
                client.close()
    return {"fix_s": sorted(to_fix)[len(to_fix) // 2], "serve_s": sorted(to_serve)[len(to_serve) // 2]}


def first_in_manifest() -> dict:
    """The agent recording in real time (2 s segments) with gpsd started with it, cold: from
    gpsd's start to the first point with a fix in a sealed manifest (its sample time), and to
    that manifest being written."""
    import json

    scratch = Path(tempfile.mkdtemp(prefix="bench-gnss-"))
    try:
        started_ns = time.monotonic_ns()
        feed = GpsdFeed()
        feeder = Feeder(feed, 1)
        feeder.start()
        gnss = {"receiver": "gpsd", "port": feed.port, "simulated_sky": False}
        settings = {**CAPTURE, "segments": {"seconds": 2}, "gnss": gnss}
        try:
            agent = SimulatedAgent(config_from_dict(settings), scratch / "store", SystemClock())
            agent.play(parse_timeline("start @0.1s; stop @8s"))
        finally:
            feeder.stop.set()
            feed.close()
        firsts = []
        for path in sorted(scratch.glob("store/media/*/*.manifest.json")):
            fixes = [p for p in json.loads(path.read_text())["track"]["points"] if p["fix"] != "none"]
            if fixes:
                firsts.append((fixes[0]["mono_us"] * 1000, path.stat().st_mtime_ns))
        sampled_ns, written_wall_ns = firsts[0]
        written_ns = written_wall_ns - (time.time_ns() - time.monotonic_ns())
        return {"sampled_s": (sampled_ns - started_ns) / 1e9, "sealed_s": (written_ns - started_ns) / 1e9}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def rows(seconds: float, repeats: int = 5) -> list:
    """The rows bench/run.py prints: (name, ours, baseline, unit, target)."""
    if seconds <= 0:
        return []
    out = []
    for hz in (1, 10):
        cpu = client_cpu(hz, seconds)
        out.append((f"gnss: client CPU s per hour, {hz} Hz", cpu["ours_s_per_h"], cpu["gpspipe_s_per_h"], "s", None))
    plain, fed = capture_run(seconds, False), capture_run(seconds, True)
    out.append(("gnss: frames sealed with a 10 Hz feed", fed, plain, "", None))
    first = first_position(repeats)
    out.append(("gnss: gpsd start -> first position", first["fix_s"] * 1000, first["serve_s"] * 1000, "ms", None))
    manifest = first_in_manifest()
    out.append(("gnss: gpsd start -> first fix in a track", manifest["sampled_s"] * 1000, first["fix_s"] * 1000,
                "ms", None))
    out.append(("gnss: gpsd start -> that manifest sealed", manifest["sealed_s"] * 1000, 2000.0, "ms", None))
    return out


if __name__ == "__main__":
    import sys

    for row in rows(float(sys.argv[1]) if len(sys.argv) > 1 else 60):
        print(row)
