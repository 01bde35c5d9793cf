"""The dock (docs/DOCK.md; docs/PERFORMANCE.md, "Dock: offload and verification").

1. Offload throughput over loopback. A provisioned device that recorded on the simulated
   body (1280x720 30 fps, 4 Mbit/s, cached under CACHE), a fresh dock directory per run and
   `recorder dock serve` in its own process, TLS 1.3 with the device's certificate.
   - ours: the whole offload, `Offload(...).run()` in a child process (so that `--cipher`
     can set OPENSSL_CONF before ssl is imported, as `recorder offload` does), timed around
     run(): hello, witness, every file PUT, the dock's verification, archive and receipt,
     the release on the device (a fresh copy of the device each run, since it frees files);
   - baseline: `curl` PUTting the same files to the same kind of fresh dock, one curl
     invocation (one connection, `--next` between files), after the ledger was witnessed
     untimed (POST /v1/ledger, by curl too); with the same TLS 1.3 suite as the run of ours
     it is compared with (`--tls13-ciphers`), and run just before it.
   Throughput = bytes of the files sent / wall time; ratio = ours / curl. CPU of the dock
   process (psutil) and of the client are reported beside it.
2. The dock's verification: `verify_store` on the dock's copy of the device's store after an
   offload, against `sha256sum` of the same files under media/ (segments and manifests);
   page cache warm for both, and cold (POSIX_FADV_DONTNEED on those files only).
One warm-up run of each side, then `repeats` alternating timed runs; medians.
"""

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRATCH = "/tmp"  # the real disk (ext4), as the other benches
CACHE = Path(os.environ.get("RECORDER_BENCH_CACHE", "/var/cache/recorder-bench"))
MIB = 1024 * 1024
OFFLOAD_TARGET = 0.9  # ours >= 0.9 x curl
VERIFY_TARGET = 1.0  # sha256sum time / ours >= 1
STOP_GRACE = 3.0  # s after a SIGINT before the dock is sent another
STOPS = []  # (SIGINTs sent, seconds, killed) of every dock stopped
DEVICE_CONFIG = """
[video]
width = 1280
height = 720
bitrate = 4000000
[gnss]
receiver = "none"
"""


def recorder(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "recorder", *map(str, args)], capture_output=True, text=True,
                            env=_child_env(), **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"recorder {' '.join(map(str, args))} exited {result.returncode}: {result.stderr}")
    return result


# -- the recorded device, made once and cached ------------------------------------------------
def prepare(seconds: int) -> dict:
    """An agency and a device that recorded `seconds` on the simulated body (CLI only), kept
    under CACHE/dock-<seconds>s; made again when incomplete."""
    root = CACHE / f"dock-{seconds}s"
    done = root / "done.json"
    if done.exists():
        return json.loads(done.read_text())
    if root.exists():
        subprocess.run(["chattr", "-R", "-f", "-i", str(root)], capture_output=True)
        shutil.rmtree(root)
    root.mkdir(parents=True)
    agency, device = root / "agency", root / "device"
    recorder("agency", "init", agency, "--name", "Bench City", "--dock-name", "dock.test")
    from recorder.agency.authority import open_agency

    device.mkdir()
    recorder("provision", "--store", device / "store", "--agency-ca", open_agency(agency).ca_pin,
             "-o", root / "request.json")
    device_id = json.loads((root / "request.json").read_text())["device_id"]
    recorder("agency", "enrol", root / "request.json", "--agency", agency)
    (root / "bundle.toml").write_text('[device]\nofficer_id = "B-1"\n')
    recorder("agency", "bundle", "--agency", agency, "--device", device_id, "--config", root / "bundle.toml",
             "-o", root / "bundle.json")
    recorder("provision", "--store", device / "store", "--install", root / "bundle.json")
    config = root / "recorder.toml"
    config.write_text(DEVICE_CONFIG)
    started = time.perf_counter()
    recorder("run", "--simulate", "--fast", "--config", config, "--store", device / "store",
             "--start-at", 1, "--duration", seconds)
    info = {"agency": str(agency), "device": str(device), "device_id": device_id, "config": str(config),
            "seconds": seconds, "record_s": time.perf_counter() - started}
    done.write_text(json.dumps(info))
    return info



def _unlock_and_remove(path: Path) -> None:
    """The dock's archive sets the immutable flag on what it stores: clear it, then remove."""
    subprocess.run(["chattr", "-R", "-f", "-i", str(path)], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def _media_files(store: Path) -> list[Path]:
    return sorted(p for p in store.glob("media/*/*") if p.is_file() and not p.name.startswith("."))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the dock in its own process ---------------------------------------------------------------
class DockServer:
    """`recorder dock serve DOCK --listen 127.0.0.1:0` (under cProfile when `profile`)."""

    def __init__(self, root: Path, profile: Path | None = None):
        import psutil

        prefix = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
        self.process = subprocess.Popen([*prefix, "-m", "recorder", "dock", "serve", str(root),
                                         "--listen", "127.0.0.1:0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env(),
                                        preexec_fn=_default_sigint)
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"the dock did not start: {line!r} {self.process.stderr.read()}")
        self.port = int(line.split("listening on ", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
        self.ps = psutil.Process(self.process.pid)

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        """SIGINT, as `recorder dock serve` is stopped; a second SIGINT when the first has not
        ended it within STOP_GRACE s (asyncio.run then raises KeyboardInterrupt at once: the
        profile is still written), then SIGKILL. `stop_s` and `sigints` tell how it went."""
        started, self.sigints = time.perf_counter(), 0
        for grace in (STOP_GRACE, 10):
            if self.process.poll() is not None:
                break
            self.process.send_signal(signal.SIGINT)
            self.sigints += 1
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                continue
        self.killed = self.process.poll() is None
        if self.killed:
            self.process.kill()
            self.process.wait(10)
        self.stop_s = time.perf_counter() - started
        self.process.stdout.close()
        self.process.stderr.close()
        STOPS.append((self.sigints, self.stop_s, self.killed))


def _default_sigint() -> None:
    """A shell without job control starts a background command with SIGINT ignored, and its
    children inherit that: the dock would then never see the SIGINT that stops it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def fresh_dock(agency: Path) -> Path:
    from recorder.dock.keys import init_dock

    root = Path(tempfile.mkdtemp(prefix="bench-dock-", dir=SCRATCH)) / "dock"
    init_dock(root, agency)
    return root


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- ours: the offload, in a child process -------------------------------------------------------
def child_offload(device: Path, port: int, cipher: str, profile: str | None) -> None:
    """Runs in a child process: `Offload(...).run()` as `recorder offload` wires it, timed
    around run(), with the time of each step; prints one JSON line."""
    from recorder.offload.cipher import prefer_chacha20

    prefer_chacha20(cipher)  # before anything imports ssl, as cmd_offload does
    from recorder.clock import SystemClock
    from recorder.evidence.layout import StoreLayout
    from recorder.offload import run as offload_run
    from recorder.offload.link import Dock
    from recorder.provision.tls import dock_link
    from recorder.seal.identity import open_identity
    from recorder.seal.ledger import Ledger

    steps = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                steps[name] = steps.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    class TimedOffload(offload_run.Offload):
        witness = timed("witness", offload_run.Offload.witness)
        send = timed("send", offload_run.Offload.send)
        receive_receipt = timed("receipt", offload_run.Offload.receive_receipt)

    offload_run.release_under_receipt = timed("release", offload_run.release_under_receipt)
    store = StoreLayout(device / "store")
    identity_dir = device / "identity"
    link = dock_link(identity_dir)
    identity = open_identity(identity_dir, store, create=False)
    clock = SystemClock()
    offload = TimedOffload(store, identity, Ledger(store.ledger_path, identity), Dock("127.0.0.1", port, link), clock)
    profiler = cProfile.Profile() if profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    outcome = offload.run()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"wall": wall, "cpu": cpu, "steps": steps, "cipher": outcome.cipher,
                      "bytes": outcome.bytes_sent, "sent": len(outcome.sent), "released": len(outcome.released),
                      "receipt": outcome.receipt, "refused": outcome.refused, "failures": outcome.link_failures}))


def run_ours(info: dict, cipher: str, keep: bool = False, profile: Path | None = None) -> dict:
    """One whole offload into a fresh dock, from a fresh copy of the device."""
    work = Path(tempfile.mkdtemp(prefix="bench-offload-", dir=SCRATCH))
    dock_dir = None
    try:
        device = work / "device"
        shutil.copytree(info["device"], device, symlinks=True)
        dock_dir = fresh_dock(Path(info["agency"]))
        os.sync()
        dock = DockServer(dock_dir, profile.with_suffix(".dock.prof") if profile else None)
        try:
            dock_cpu = dock.cpu()
            args = [sys.executable, __file__, "--child-offload", str(device), str(dock.port), cipher]
            if profile:
                args += ["--child-profile", str(profile.with_suffix(".device.prof"))]
            result = subprocess.run(args, capture_output=True, text=True, env=_child_env())
            dock_cpu = dock.cpu() - dock_cpu
        finally:
            dock.stop()
        if result.returncode != 0:
            raise RuntimeError(f"the offload child failed: {result.stderr}")
        r = json.loads(result.stdout.strip().splitlines()[-1])
        expected = len(_media_files(Path(info["device"]) / "store"))
        if r["refused"] or not r["receipt"] or r["failures"] or r["released"] != expected:
            raise RuntimeError(f"the offload did not complete: {r}")
        r["dock_cpu"] = dock_cpu
        if keep:
            r["dock_dir"] = str(dock_dir)
        return r
    except BaseException:
        if dock_dir is not None:
            _unlock_and_remove(dock_dir.parent)
        raise
    finally:
        _unlock_and_remove(work)
        if dock_dir is not None and not keep:
            _unlock_and_remove(dock_dir.parent)


def _child_env() -> dict:
    """This checkout's recorder for every child (not whatever the venv has installed)."""
    here = Path(__file__).resolve().parent
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(here.parent), os.environ.get("PYTHONPATH", "")]))}


# -- baseline: curl over the same link ---------------------------------------------------------
def tls_files(info: dict) -> dict:
    from recorder.provision.device import TLS_KEY_FILE, provisioned
    from recorder.provision.install import CA_FILE, DEVICE_CERT_FILE, current_install

    identity = Path(info["device"]) / "identity"
    install = current_install(identity)
    return {"cert": str(install.path(DEVICE_CERT_FILE)), "key": str(provisioned(identity).generation / TLS_KEY_FILE),
            "cacert": str(install.path(CA_FILE))}


def ledger_offer(info: dict) -> dict:
    """The witness request an offload makes first (Offload.witness), from the start."""
    from recorder.evidence.keys import public_key_pem
    from recorder.evidence.layout import StoreLayout
    from recorder.evidence.ledger import LedgerText, head_ref
    from recorder.seal.identity import open_identity

    store = StoreLayout(Path(info["device"]) / "store")
    identity = open_identity(Path(info["device"]) / "identity", store, create=False)
    text = LedgerText.parse(store.ledger_path.read_bytes())
    return {"public_key": public_key_pem(identity.public_key).decode("ascii"), "from": 0,
            "head": head_ref(len(text.lines) - 1, text.head), "lines": [line.decode("utf-8") for line in text.lines]}


SUITES = {"chacha20": "TLS_CHACHA20_POLY1305_SHA256", "aes": "TLS_AES_256_GCM_SHA384"}


def _curl_common(tls: dict, port: int, cipher: str) -> list[str]:
    return [f'cert = "{tls["cert"]}"', f'key = "{tls["key"]}"', f'cacert = "{tls["cacert"]}"',
            f'resolve = "dock.test:{port}:127.0.0.1"', "silent", "show-error", "http1.1", 'output = "/dev/null"',
            f'tls13-ciphers = "{SUITES[cipher]}"']


def run_curl(info: dict, work: Path, cipher: str) -> dict:
    """Witness untimed (curl POST /v1/ledger), then every missing file PUT by one curl."""
    curl = shutil.which("curl")
    tls = tls_files(info)
    device = work / "device"  # a fresh copy, as ours gets: the same page cache and disk history
    shutil.copytree(info["device"], device, symlinks=True)
    store = device / "store"
    dock_dir = fresh_dock(Path(info["agency"]))
    os.sync()
    dock = DockServer(dock_dir)
    try:
        offer = work / "offer.json"
        offer.write_text(json.dumps(offer_cache(info)))
        witnessed = subprocess.run(
            [curl, "-sS", "--fail", "--cert", tls["cert"], "--key", tls["key"], "--cacert", tls["cacert"],
             "--resolve", f"dock.test:{dock.port}:127.0.0.1", "-H", "Content-Type: application/json",
             "--data-binary", f"@{offer}", f"https://dock.test:{dock.port}/v1/ledger"],
            capture_output=True, text=True, check=True)
        missing = json.loads(witnessed.stdout)["missing"]
        blocks = []
        for item in missing:
            blocks.append("\n".join([
                *_curl_common(tls, dock.port, cipher), f'url = "https://dock.test:{dock.port}/v1/files/{item["sha256"]}"',
                f'upload-file = "{store / item["path"]}"', f'header = "X-Path: {item["path"]}"',
                'header = "X-Offset: 0"', f'header = "X-Size: {item["size"] or (store / item["path"]).stat().st_size}"',
                'header = "Expect:"', 'write-out = "%{http_code} %{size_upload} %{num_connects}\\n"']))
        config = work / "curl.conf"
        config.write_text("\nnext\n".join(blocks) + "\n")
        dock_cpu, cpu = dock.cpu(), _children_cpu()
        start = time.perf_counter()
        result = subprocess.run([curl, "-v", "-K", str(config)], capture_output=True, text=True)
        wall = time.perf_counter() - start
        cpu, dock_cpu = _children_cpu() - cpu, dock.cpu() - dock_cpu
    finally:
        dock.stop()
        _unlock_and_remove(dock_dir.parent)
        _unlock_and_remove(device)
    answers = [line.split() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or len(answers) != len(missing) or any(a[0] != "201" for a in answers):
        raise RuntimeError(f"curl did not store every file: {result.returncode} {answers} {result.stderr[-2000:]}")
    ciphers = sorted({line.split(" / ", 1)[1].strip() for line in result.stderr.splitlines()
                      if "SSL connection using" in line})
    return {"wall": wall, "cpu": cpu, "dock_cpu": dock_cpu, "bytes": sum(int(a[1]) for a in answers),
            "files": len(answers), "connections": sum(int(a[2]) for a in answers), "cipher": ",".join(ciphers)}


_OFFER = {}


def offer_cache(info: dict) -> dict:
    if "offer" not in _OFFER:
        _OFFER["offer"] = ledger_offer(info)
    return _OFFER["offer"]


# -- 1. offload throughput ----------------------------------------------------------------------
def offload_throughput(info: dict, repeats: int, ciphers=("chacha20", "aes")) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-curl-", dir=SCRATCH))
    runs = {name: [] for c in ciphers for name in (f"curl-{c}", c)}
    loads = []
    try:
        for round_ in range(repeats + 1):  # the first round warms up, dropped below
            loads.append(load())
            for cipher in ciphers:  # each of ours right after curl with the same suite
                runs[f"curl-{cipher}"].append(run_curl(info, work, cipher))
                runs[cipher].append(run_ours(info, cipher))
            if round_:
                print(f"   round {round_}: " + "; ".join(
                    f"{c}: curl {runs[f'curl-{c}'][-1]['wall']:.2f} s, ours {runs[c][-1]['wall']:.2f} s" for c in ciphers)
                    + f" (load {loads[-1]})")
    finally:
        _unlock_and_remove(work)
    return {name: r[1:] for name, r in runs.items()} | {"loads": loads}


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


# -- 2. verification at the dock ------------------------------------------------------------------
def drop_cache(files) -> None:
    """These files' pages only (never the machine's caches)."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def read_all(files) -> None:
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


def verify_speed(store: Path, repeats: int) -> dict:
    from recorder.evidence.verifier import verify_store

    files = [str(p) for p in _media_files(store)]
    size = sum(os.path.getsize(f) for f in files)
    result = {"files": len(files), "bytes": size}
    for variant in ("warm", "cold"):
        ours, base = [], []
        if variant == "warm":
            read_all(files)
        for _ in range(repeats + 1):
            if variant == "cold":
                drop_cache(files)
            start = time.perf_counter()
            report = verify_store(store)
            ours.append(time.perf_counter() - start)
            if variant == "cold":
                drop_cache(files)
            start = time.perf_counter()
            subprocess.run(["sha256sum", *files], check=True, stdout=subprocess.DEVNULL)
            base.append(time.perf_counter() - start)
        if report.problems:
            raise RuntimeError(f"the dock's copy does not verify: {report.summary_text()}")
        result[variant] = {"ours": statistics.median(ours[1:]), "sha256sum": statistics.median(base[1:]),
                           "ours_runs": ours[1:], "sha256sum_runs": base[1:]}
    result["segments"] = report.segments
    return result


def profile_verify(store: Path, top: int = 12) -> list:
    from recorder.evidence.verifier import verify_store

    profiler = cProfile.Profile()
    profiler.enable()
    verify_store(store)
    profiler.disable()
    return top_functions(pstats.Stats(profiler), top)


def top_functions(stats: pstats.Stats, top: int) -> list:
    rows = []
    for (filename, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
        rows.append((f"{Path(filename).name}:{line}({name})", tt, ct, nc))
    return sorted(rows, key=lambda r: -r[1])[:top]


def print_profile(title: str, path: Path, top: int = 14) -> None:
    if not path.exists():
        print(f"   {title}: no profile written ({path.name})")
        return
    stats = pstats.Stats(str(path))
    total = stats.total_tt
    print(f"   {title}: {total:.2f} s of profiled CPU (main thread), top functions by own time:")
    for label, own, cumulative, calls in top_functions(stats, top):
        print(f"     {label[:64]:<64} {own:6.2f} s {100 * own / total:5.1f} %  cum {cumulative:6.2f} s {calls:>7} calls")


# -- the section ----------------------------------------------------------------------------------
def rows(seconds: int, repeats: int = 3, profile: bool = True, verify: bool = True) -> list:
    """The rows bench/run.py prints: (name, ours, baseline, unit, target)."""
    if seconds <= 0:
        return []
    started = time.perf_counter()
    info = prepare(seconds)
    store = Path(info["device"]) / "store"
    media = _media_files(store)
    size = sum(p.stat().st_size for p in media)
    segments = sum(1 for p in media if p.name.endswith(".manifest.json"))
    print(f"\ndock: a device that recorded {seconds} s at 1280x720 4 Mbit/s ({segments} segments, "
          f"{size / MIB:.0f} MiB under media/; cached in {CACHE}, ready in {time.perf_counter() - started:.0f} s); "
          f"load average {load()}")
    read_all(media)
    o = offload_throughput(info, repeats)
    mib = median_of(o["curl-aes"], "bytes") / MIB
    print(f"   offload of {mib:.0f} MiB in {o['curl-aes'][0]['files']} files over loopback, wall s, median of {repeats}:")
    out = []
    for cipher in ("chacha20", "aes"):
        curl, ours = o[f"curl-{cipher}"], o[cipher]
        print(f"   curl (one invocation, {curl[0]['connections']} connection(s), {curl[0]['cipher']}): "
              f"{median_of(curl, 'wall'):.2f} s, {mib / median_of(curl, 'wall'):.0f} MiB/s; "
              f"curl CPU {median_of(curl, 'cpu'):.2f} s, dock CPU {median_of(curl, 'dock_cpu'):.2f} s")
        curl_rate = mib / median_of(curl, "wall")
        wall = median_of(ours, "wall")
        paired = statistics.median(c["wall"] / r["wall"] for c, r in zip(curl, ours))
        steps = {k: statistics.median(r["steps"].get(k, 0.0) for r in ours) for k in ("witness", "send", "receipt", "release")}
        print(f"   ours --cipher {cipher} ({ours[0]['cipher']}): {wall:.2f} s, {mib / wall:.0f} MiB/s; "
              f"device CPU {median_of(ours, 'cpu'):.2f} s, dock CPU {median_of(ours, 'dock_cpu'):.2f} s; steps: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items())
              + f" (the receipt's POST: {steps['receipt'] - steps['release']:.2f} s); the median of the "
              f"rounds' own ratios: {paired:.2f}")
        out.append((f"dock: offload MiB/s, ours {cipher} vs curl", mib / wall, curl_rate, "MiB/s", f">= {OFFLOAD_TARGET}"))
        out.append((f"  {cipher}: the uploads alone vs curl", mib / steps["send"], curl_rate, "MiB/s", None))
        out.append((f"  {cipher}: dock CPU s vs in curl's run", median_of(ours, "dock_cpu"), median_of(curl, "dock_cpu"),
                    "s", None))
    print(f"   load average before each round: {'; '.join(o['loads'])}")
    slow = [n for n, _, killed in STOPS if n > 1 and not killed]
    killed = [n for n, _, k in STOPS if k]
    print(f"   `recorder dock serve` stopped by one SIGINT {len(STOPS) - len(slow) - len(killed)} times of "
          f"{len(STOPS)}; by a second {len(slow)}; killed {len(killed)}")
    if profile:
        directory = Path(tempfile.mkdtemp(prefix="bench-dockprof-", dir=SCRATCH))
        try:
            r = run_ours(info, "aes", profile=directory / "ours")
            print(f"   one offload (aes) under cProfile on both ends: {r['wall']:.2f} s")
            print_profile("device (Offload.run)", directory / "ours.device.prof")
            print_profile("dock (`recorder dock serve`, event loop thread)", directory / "ours.dock.prof")
        finally:
            _unlock_and_remove(directory)
    if not verify:
        return out
    r = run_ours(info, "aes", keep=True)
    dock_dir = Path(r["dock_dir"])
    try:
        dock_store = dock_dir / "devices" / info["device_id"] / "store"
        v = verify_speed(dock_store, repeats)
        print(f"   verify_store of the dock's copy ({v['segments']} segments; {v['files']} files under media/, "
              f"{v['bytes'] / MIB:.0f} MiB) against sha256sum of the same files, wall s, median of {repeats}:")
        for variant in ("warm", "cold"):
            w = v[variant]
            print(f"     {variant:<5} ours {'  '.join(f'{t:.2f}' for t in w['ours_runs'])}; "
                  f"sha256sum {'  '.join(f'{t:.2f}' for t in w['sha256sum_runs'])}")
            mib_v = v["bytes"] / MIB  # as throughput: the ratio is sha256sum's time / ours
            out.append((f"dock: verify MiB/s, cache {variant}, vs sha256sum", mib_v / w["ours"], mib_v / w["sha256sum"],
                        "MiB/s", f">= {VERIFY_TARGET}" if variant == "warm" else None))
        if profile:
            print("   verify_store under cProfile (warm), top functions by own time:")
            for label, own, cumulative, calls in profile_verify(dock_store):
                print(f"     {label[:64]:<64} {own:6.2f} s  cum {cumulative:6.2f} s {calls:>7} calls")
    finally:
        _unlock_and_remove(dock_dir.parent)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="the dock's rows of make bench, alone")
    parser.add_argument("seconds", type=int, nargs="?", default=1800, help="seconds the device records (cached)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--offload-only", action="store_true", help="the offload rows alone (no verify_store rows)")
    parser.add_argument("--child-offload", nargs=3, metavar=("DEVICE", "PORT", "CIPHER"), help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_offload:
        device, port, cipher = args.child_offload
        child_offload(Path(device), int(port), cipher, args.child_profile)
        return 0
    for name, value, base, unit, target in rows(args.seconds, args.repeats, not args.no_profile, not args.offload_only):
        print(f"{name:<48} {value:8.2f} {unit:<5} {base:8.2f} {unit:<5} {value / base:6.2f}  "
              f"{'(info)' if target is None else target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
