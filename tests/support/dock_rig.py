"""The dock tests' rig: an agency, a provisioned device that recorded on the simulated body,
a dock directory, the dock as its own process (`recorder dock serve`), and a TCP proxy that
cuts the link at chosen byte counts. Everything real: the CLI, TLS 1.3, the files."""

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import recorder, write_config


@dataclass
class Device:
    root: Path  # DEVICE/store and DEVICE/identity
    device_id: str
    config: Path

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def identity(self) -> Path:
        return self.root / "identity"

    def record(self, *script: str) -> None:
        recorder("run", "--simulate", "--fast", "--config", self.config, "--store", self.store, "--script", *script)

    def files(self) -> dict[str, bytes]:
        """Store path -> bytes of every file under media/ and receipts/."""
        found = {}
        for top in ("media", "receipts"):
            for path in sorted((self.store / top).rglob("*")):
                if path.is_file():
                    found[path.relative_to(self.store).as_posix()] = path.read_bytes()
        return found

    def copy(self, to: Path) -> "Device":
        shutil.copytree(self.root, to, symlinks=True)
        return Device(to, self.device_id, self.config)


def make_agency(root: Path) -> Path:
    recorder("agency", "init", root, "--name", "Test City", "--dock-name", "dock.test")
    return root


def make_device(root: Path, agency: Path, tmp: Path, officer: str = "A-17") -> Device:
    """`recorder provision`, `agency enrol`, `agency bundle`, `provision --install`."""
    from recorder.agency.authority import open_agency

    pin = open_agency(agency).ca_pin
    root.mkdir(parents=True)
    recorder("provision", "--store", root / "store", "--agency-ca", pin, "-o", root / "request.json")
    device_id = json.loads((root / "request.json").read_text())["device_id"]
    recorder("agency", "enrol", root / "request.json", "--agency", agency)
    (tmp / "bundle.toml").write_text(f'[device]\nofficer_id = "{officer}"\n')
    bundle = tmp / f"bundle-{device_id}.json"
    recorder("agency", "bundle", "--agency", agency, "--device", device_id, "--config", tmp / "bundle.toml",
             "-o", bundle)
    recorder("provision", "--store", root / "store", "--install", bundle)
    return Device(root, device_id, write_config(tmp))


def make_dock(root: Path, agency: Path) -> Path:
    recorder("dock", "init", root, "--agency", agency)
    return root


class DockProcess:
    """`recorder dock serve DOCK --listen 127.0.0.1:0` in its own process."""

    def __init__(self, root: Path):
        self.root = root
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recorder", "--log-level", "info", "dock", "serve", str(root),
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise AssertionError(f"the dock did not start: {line!r} {self.process.stderr.read()}")
        self.port = int(line.split("listening on ", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.stderr.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class DockThread:
    """The dock's service in this process, on a thread of its own, with the clock it checks
    devices out against given (a simulated world's): what `recorder dock serve` runs."""

    def __init__(self, root: Path, wall_ns, clock_quality):
        import asyncio

        from recorder.dock.server import open_dock_service, serve

        service = open_dock_service(root, clock_quality=clock_quality, wall_ns=wall_ns)
        self.archive = service.archive
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        bound = []
        self.thread = threading.Thread(target=self.loop.run_until_complete, daemon=True,
                                       args=(serve(service, "127.0.0.1", 0, bound.append, self.stopping),))
        self.thread.start()
        assert wait_for(lambda: bound), "the dock did not start"
        self.port = bound[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)  # serve() closes the service's prechecks on its way out
        self.loop.close()
        self.archive.close()


def offload(device: Device, port: int, *extra: str, check: bool = False):
    """`recorder offload --json`: (exit code, its JSON outcome)."""
    result = recorder("offload", "--dock", f"127.0.0.1:{port}", "--store", device.store, "--identity",
                      device.identity, "--config", device.config, "--json", *extra, check=check)
    try:
        return result.returncode, json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError(f"offload printed no JSON (exit {result.returncode}): {result.stderr}") from None


class CuttingProxy:
    """Forwards 127.0.0.1:port to the dock; cuts each connection (both ways, RST) once the
    device has sent the next number of bytes in `cuts` through it, then passes everything.
    Bounded: a thread per connection, each ends when either side does."""

    def __init__(self, upstream_port: int, cuts: list[int]):
        self.upstream_port, self.cuts = upstream_port, list(cuts)
        self.cut_count = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                budget = self.cuts.pop(0) if self.cuts else None
            threading.Thread(target=self._pipe, args=(client, budget), daemon=True).start()

    def _pipe(self, client: socket.socket, budget: int | None):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        except OSError:  # the dock is down (killed by the test): the device sees its link fail
            client.close()
            return
        done = threading.Event()

        def cut():
            for sock in (client, upstream):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.close()
                except OSError:
                    pass
            done.set()

        def forward(source, target, limit):
            sent = 0
            try:
                while not done.is_set():
                    data = source.recv(1 << 16)
                    if not data:
                        break
                    if limit is not None and sent + len(data) >= limit:
                        target.sendall(data[: max(0, limit - sent)])
                        with self._lock:
                            self.cut_count += 1
                        break
                    target.sendall(data)
                    sent += len(data)
            except OSError:
                pass
            cut()

        threading.Thread(target=forward, args=(upstream, client, None), daemon=True).start()
        forward(client, upstream, budget)

    def close(self):
        self._stop.set()
        self.listener.close()
        self._thread.join(5)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False




@pytest.fixture(autouse=True)
def unlock_afterwards(tmp_path):
    """The dock's archive sets the immutable flag on what it stores (where it may): clear it
    when the test is done, so that its temporary directory can go. Autouse in each module that
    imports it."""
    yield
    subprocess.run(["chattr", "-R", "-f", "-i", str(tmp_path)], capture_output=True)
