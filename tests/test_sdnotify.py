"""systemd's notifications and the watchdog, on real AF_UNIX datagram sockets standing in for
systemd's: READY, STATUS, WATCHDOG at the interval, STOPPING; pings withheld while the
pipeline's thread hangs; nothing at all off systemd (docs/SERVICE.md)."""

import logging
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import write_config
from support.datagrams import DatagramListener
from recorder.clock import SystemClock
from recorder.config import load_config
from recorder.sdnotify import Notifier, notify_address, watchdog_interval_ns
from recorder.sim.agent import SimulatedAgent
from recorder.sim.fingers import scripted
from recorder.sim.script import parse_timeline


class FakeSystemd(DatagramListener):
    """A bound datagram socket that keeps every notification with the (real) time it came."""

    def __init__(self, address: str):
        self.messages: list[tuple[float, dict]] = []
        super().__init__(address, size=4096)

    def keep(self, data: bytes):
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        self.messages.append((time.monotonic(), fields))

    def close(self):
        self.stop()
        self.socket.close()

    def times(self, key: str) -> list[float]:
        return [at for at, fields in self.messages if key in fields]

    def statuses(self) -> list[str]:
        return [fields["STATUS"] for _, fields in self.messages if "STATUS" in fields]


@pytest.fixture
def systemd(tmp_path):
    fake = FakeSystemd(str(tmp_path / "notify"))
    yield fake
    fake.close()


def test_the_environment_names_the_socket_and_the_watchdog():
    assert notify_address({}) is None
    assert notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_address({"NOTIFY_SOCKET": "@abc"}) == "\0abc"
    assert watchdog_interval_ns({}) is None
    assert watchdog_interval_ns({"WATCHDOG_USEC": "10000000"}) == 10_000_000_000
    assert watchdog_interval_ns({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}) == 10_000_000_000
    assert watchdog_interval_ns({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None, "for another process"
    assert watchdog_interval_ns({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_ns({"WATCHDOG_USEC": "soon"}) is None


def test_a_path_and_an_abstract_socket_receive_the_datagrams(systemd):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": systemd.socket.getsockname()})
    assert notifier.ready("ready") and notifier.watchdog() and notifier.stopping("stopping\nnow")
    name = f"recorder-test-{uuid.uuid4().hex}"
    abstract = FakeSystemd("\0" + name)
    try:
        assert Notifier.from_environment({"NOTIFY_SOCKET": "@" + name}).status("recording")
        _wait_for(lambda: abstract.messages)
        assert [fields for _, fields in abstract.messages] == [{"STATUS": "recording"}]
    finally:
        abstract.close()
    _wait_for(lambda: len(systemd.messages) == 3)
    assert [fields for _, fields in systemd.messages] == [
        {"READY": "1", "STATUS": "ready"}, {"WATCHDOG": "1"}, {"STOPPING": "1", "STATUS": "stopping now"}]


def test_off_systemd_nothing_is_sent_and_a_dead_socket_never_raises(tmp_path, caplog):
    off = Notifier.from_environment({})
    assert not off.enabled and not off.ready("ready") and not off.watchdog()
    dead = Notifier(str(tmp_path / "nobody-listens"))
    with caplog.at_level(logging.WARNING, logger="recorder.sdnotify"):
        assert not dead.ready() and not dead.watchdog() and not dead.watchdog()
    assert len(caplog.records) == 1, "a failed send is logged once"


def _wait_for(condition, timeout=5.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_run_under_systemd_notifies_ready_status_watchdog_stopping(tmp_path, systemd):
    """A real `recorder run --simulate --once` (real time) with systemd's variables."""
    config = write_config(tmp_path)
    # 1 s: pings every 0.5 s, and a pipeline item (a segment's close and fsync on a busy CI
    # disk) may take up to 0.5 s before a ping is withheld. Shorter intervals measure the disk.
    env = dict(os.environ, NOTIFY_SOCKET=systemd.socket.getsockname(), WATCHDOG_USEC="1000000")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "recorder", "run", "--simulate", "--once", "--config", str(config),
         "--store", str(tmp_path / "store"), "--start-at", "1", "--duration", "5"],
        capture_output=True, text=True, env=env, timeout=60)
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    time.sleep(0.2)
    messages = [fields for _, fields in systemd.messages]
    assert messages[0] == {"READY": "1", "STATUS": "ready"}, "READY=1 first, once recovered"
    assert messages[-1].get("STOPPING") == "1" and "run-complete" in messages[-1]["STATUS"]
    assert sum("READY" in m for m in messages) == 1
    statuses = systemd.statuses()
    recording = [s for s in statuses if s.startswith("recording session ")]
    assert recording, statuses
    assert {s.rsplit("segment ", 1)[1] for s in recording} >= {"1", "2"}, "the segment follows the writer"
    pings = systemd.times("WATCHDOG")
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    # every half interval (0.5 s), on the loop's 20 ms steps
    assert len(pings) >= 0.8 * (ended - started - 2) / 0.5, (len(pings), ended - started)
    assert max(gaps) < 1.0, f"a gap of {max(gaps):.3f} s would have let systemd's 1 s watchdog fire"
    assert min(gaps) > 0.45, "not more often than asked (receive times jitter on a loaded machine)"
    print(f"{len(pings)} pings in {ended - started:.1f} s; gaps {min(gaps) * 1e3:.0f}..{max(gaps) * 1e3:.0f} ms")


class Ticks:
    """A loop participant that notes the real time of every step the loop takes."""

    def __init__(self):
        self.at: list[float] = []

    def next_deadline_ns(self):
        return None

    def tick(self, now_ns):
        self.at.append(time.monotonic())


def test_a_hung_pipeline_stops_the_pings_while_the_loop_runs_on(tmp_path, systemd, monkeypatch):
    """The device's arrangement (the system clock, the loop not waiting for the pipeline): the
    pipeline's thread is stuck in a write for 2 s — a muxer hung on the disk."""
    monkeypatch.setenv("NOTIFY_SOCKET", systemd.socket.getsockname())
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # pings every 0.2 s; a 0.2 s stall withholds them
    agent = SimulatedAgent(load_config(write_config(tmp_path)), tmp_path / "store", SystemClock())
    release, hung = threading.Event(), []
    ticks = Ticks()

    def drive(agent):
        players, end_ns = scripted(parse_timeline("start @0.2s; end @4.5s"))(agent)
        writer = agent.recorder.router.writer
        write = writer.write

        def stuck_write(packet):
            if time.monotonic() - started >= 1.5 and not release.is_set():
                hung.append(time.monotonic())
                release.wait()
                hung.append(time.monotonic())
            write(packet)

        writer.write = stuck_write
        return [*players, ticks], end_ns

    started = time.monotonic()
    threading.Timer(3.5, release.set).start()
    agent.run(drive)
    hung_at, freed_at = hung[0], hung[1]
    assert freed_at - hung_at > 1.5
    pings = systemd.times("WATCHDOG")
    during = [t for t in pings if hung_at + 0.2 + 0.2 + 0.03 < t < freed_at]
    assert not during, "no ping once the heartbeat is older than the stall limit"
    silent = max(b - a for a, b in zip(pings, pings[1:]))
    assert silent > freed_at - hung_at - 0.2 - 0.05, "silent from the stall limit until the pipeline moved"
    assert [t for t in pings if t > freed_at], "the pings resume when the pipeline moves again"
    assert [t for t in pings if t < hung_at], "pings before"
    steps = [t for t in ticks.at if hung_at < t < freed_at]
    assert len(steps) > 0.5 * (freed_at - hung_at) / 0.02, "the loop went on stepping"
    print(f"pipeline stuck {freed_at - hung_at:.2f} s; no ping for {silent:.2f} s; {len(steps)} loop steps meanwhile")


def test_the_scripted_hang_stops_the_pings_for_good(tmp_path, systemd):
    """`hang pipeline @T` (the simulated body's fault for the image's watchdog boot): a real
    run's pings stop once the pipeline's thread hangs, and only a kill ends the run."""
    config = write_config(tmp_path)
    env = dict(os.environ, NOTIFY_SOCKET=systemd.socket.getsockname(), WATCHDOG_USEC="400000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--simulate", "--once", "--config", str(config),
         "--store", str(tmp_path / "store"), "--script", "start @0.5s; hang pipeline @2s; end @5s"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(lambda: systemd.times("READY"), timeout=30)
        ready = systemd.times("READY")[0]
        time.sleep(7)
        assert proc.poll() is None, "the hung run cannot end by itself"
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=10)
    pings = systemd.times("WATCHDOG")
    assert [t for t in pings if t < ready + 2], "pings before the hang"
    last = pings[-1]
    assert ready + 2 < last < ready + 2 + 0.2 + 0.2 + 0.5, "the pings stop within the stall limit of the hang"
    assert "the pipeline's thread hangs in the writer's write()" in stderr
    assert "WATCHDOG=1 withheld" in stderr, stderr[-2000:]


def test_the_hang_step_is_checked():
    from recorder.sim.script import Hang, ScriptError

    assert parse_timeline("start @1s; hang pipeline @3s").hangs == (Hang(3_000_000_000),)
    with pytest.raises(ScriptError, match="hang pipeline @T"):
        parse_timeline("hang camera @3s")
