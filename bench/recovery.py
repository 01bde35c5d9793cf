"""Recovery after a dead run (docs/INTERRUPTIONS.md): how long a start takes from launch to
recording again when the last run died with a segment open, against the same start on a store
the last run closed cleanly (same configuration, same store size).

A run on the simulated body (720p30, 8 Mbit/s, one segment per 10 min so the open segment is
large) records `seconds` of video and dies with os._exit (as SIGKILL: the page cache keeps what
was written, nothing is sealed or closed). The next start is `recorder run --simulate --fast
--once` with the same store: it seals the `.partial` (trims the torn fragment, hashes the file,
writes the manifest, the session_stop and the interruption) and resumes. Timed, wall clock,
median of `repeats`:
  - launch of the process -> the `resuming` transition in the ledger, against launch -> `ready`
    on a store the last run closed cleanly;
  - the recovery itself (SessionRecorder.recover() until everything it queued is sealed, in
    process), per GiB of open segment, against `sha256sum` of the same `.partial`.
"""

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

MIB = 1024 * 1024
CONFIG = """
[video]
width = 1280
height = 720
bitrate = 8000000
[segments]
seconds = 600
[storage]
reserve_mb = 64
"""

DIE_WHILE_RECORDING = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from recorder.clock import SimulatedClock
    from recorder.config import load_config
    from recorder.sim.agent import SimulatedAgent
    from recorder.sim.fingers import scripted
    from recorder.sim.script import parse_timeline

    config, store, seconds, clean = load_config(Path(sys.argv[1])), Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "clean"
    agent = SimulatedAgent(config, store, SimulatedClock())

    class Die:
        def __init__(self, at): self.at = at
        def next_deadline_ns(self): return self.at
        def tick(self, now):
            if now >= self.at:
                agent.recorder.router.wait_idle()
                os._exit(0)  # as SIGKILL: nothing sealed, nothing closed

    def drive(agent):
        players, end = scripted(parse_timeline(f"press record @0.5s; end @{seconds + 1}s"), in_step=True)(agent)
        if clean:
            return players, end
        return players + [Die(agent.body.origin_ns + int((seconds + 0.5) * 1e9))], end

    agent.run(drive)
""")


def _ledger_types(store: Path) -> list[tuple[str, dict]]:
    path = store / "ledger" / "ledger.jsonl"
    return [(e["type"], e["body"]) for e in map(json.loads, path.read_text().splitlines())]


def _launch_to(store: Path, config: Path, target_mode: str, timeout: float = 300) -> float:
    """Wall seconds from launch until a transition to target_mode appears in the ledger."""
    before = len(_ledger_types(store))
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "recorder", "run", "--simulate", "--fast", "--once",
                              "--config", str(config), "--store", str(store), "--script", "end @1s"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout:
            entries = _ledger_types(store)[before:]
            if any(kind == "transition" and body["to"] == target_mode for kind, body in entries):
                return time.perf_counter() - started
            time.sleep(0.005)
        raise RuntimeError(f"no {target_mode} transition within {timeout} s")
    finally:
        child.wait(timeout=timeout)


def _recover_in_process(store: Path, config: Path) -> float:
    """Wall seconds of SessionRecorder.recover() on a copy of a dead store, sealing included."""
    from recorder.agent.recording import SessionRecorder
    from recorder.config import load_config
    from recorder.seal.identity import identity_dir_for
    from recorder.sim.agent import continued_clock

    copy = store.with_name(store.name + "-copy")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store, copy)
    # the copy goes on with the dead run's keys (beside the original store: never in it)
    recorder = SessionRecorder(load_config(config), copy, continued_clock(copy), identity_dir=identity_dir_for(store))
    try:
        recorder.agent_started(None)
        started = time.perf_counter()
        recorder.recover()
        recorder.sealer.drain()
        return time.perf_counter() - started
    finally:
        recorder.close("stop-requested")
        shutil.rmtree(copy, ignore_errors=True)


def _sha256sum(store: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, store.glob("media/*/*.partial"))], check=True, capture_output=True)
    return time.perf_counter() - started


def _prepare(work: Path, config: Path, seconds: float, clean: bool) -> tuple[Path, int]:
    store = work / ("clean" if clean else "dead")
    shutil.rmtree(store, ignore_errors=True)
    subprocess.run([sys.executable, "-c", DIE_WHILE_RECORDING, str(config), str(store), str(seconds),
                    "clean" if clean else "dead"], check=True, capture_output=True)
    partial = sum(p.stat().st_size for p in store.glob("media/*/*.partial"))
    return store, partial


def run(seconds: float = 60.0, repeats: int = 3) -> list[tuple]:
    work = Path(tempfile.mkdtemp(prefix="bench-recovery-", dir="/tmp"))
    try:
        config = work / "recorder.toml"
        config.write_text(CONFIG)
        recover, clean, sizes, inside, hashing = [], [], [], [], []
        for _ in range(repeats):
            dead, size = _prepare(work, config, seconds, clean=False)
            sizes.append(size)
            inside.append(_recover_in_process(dead, config))
            hashing.append(_sha256sum(dead))
            recover.append(_launch_to(dead, config, "resuming"))
            ok, _ = _prepare(work, config, seconds, clean=True)
            clean.append(_launch_to(ok, config, "ready"))
        size, t_recover, t_clean = statistics.median(sizes), statistics.median(recover), statistics.median(clean)
        gib = size / (1024 * MIB)
        per_gib, sha_per_gib = statistics.median(inside) / gib, statistics.median(hashing) / gib
        print(f"\nrecovery: a run died {seconds:.0f} s into a segment ({size / MIB:.0f} MiB open .partial); "
              f"launch -> resuming {' '.join(f'{t:.2f}' for t in recover)} s, a clean store launch -> ready "
              f"{' '.join(f'{t:.2f}' for t in clean)} s; recover() {' '.join(f'{t:.3f}' for t in inside)} s, "
              f"sha256sum {' '.join(f'{t:.3f}' for t in hashing)} s")
        return [("power-up -> resuming after a dead run", t_recover, t_clean, "s", "5 s"),
                ("  recovery (seal the open segment), per GiB", per_gib, sha_per_gib, "s", None)]
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for row in run(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0):
        print(row)
