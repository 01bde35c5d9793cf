"""A real gpsd that reads a simulated receiver: NMEA written into a pseudo-terminal.

gpsfake does the same for a log it replays in real time; the simulated body runs on
simulated time, faster than real time, and writes each simulated second's sentences
(nmea.py) as its clock passes it, so it needs its own feed. `GpsdFeed()` opens a pty and
starts

    gpsd -N -n -b -s 38400 -f 8N1 -S <port> <pty>

  -N        stay in the foreground (a child we can wait for and end by its pid)
  -n        open the device at once, not when the first client watches
  -b        read-only: gpsd never writes to the "receiver"
  -s, -f    the line's speed and framing fixed: no speed hunting. gpsd 3.22 otherwise
            tries five speed/framing settings on the pty first, which takes start-up
            from 0.2 s to 1.0 s
  -S port   a free loopback port (gpsd listens on loopback unless given -G); no -F
            (no control socket), no -P (no pid file): nothing is left in /tmp

gpsd also creates System V shared memory segments (its SHM export and eight NTP refclock
segments, keys "NTP0".."NTP7") and, having dropped root, cannot remove them when it
exits. So gpsd runs in an IPC namespace of its own (`unshare --ipc`, or with a user
namespace when not root): nothing is left behind, parallel gpsds do not share segments,
and a chronyd or ntpd reading NTP0 on this machine never sees the simulated sky's time.
Without `unshare` it runs as is (and says so in the log).

Measured with gpsd 3.22 on loopback (tests/test_gpsd_client.py, docs/GNSS.md):
  - start to serving clients: about 0.2 s (the device is opened and set up before gpsd's
    main loop runs: it answers once it can read the receiver). `ready_s` is the figure
    for this feed. What is written before that is lost, so the constructor returns only
    once gpsd answers with the pty in its device list.
  - cycle end: gpsd reports a cycle (TPV) when its last sentence arrives, once it has
    learnt which sentence that is: the last one carrying a time it takes before the
    time changes. It learns this at the start of the second cycle; in the first cycle it
    reports after every sentence (partial TPVs: the first has RMC alone, mode 2). From
    then on, nmea.sentences_at's order (ending on GGA) gets one TPV per cycle, under a
    millisecond after the GGA is written, fix or no fix. (A cycle ending on an RMC with
    status V, which gpsd does not take time from, is reported only when the next cycle
    starts, and then gpsd counts two cycle enders and reports twice per cycle.)

`write()` never blocks: the pty is non-blocking, and what does not fit (a gpsd that
stopped reading) is dropped and counted in `dropped_bytes`.
"""

import errno
import json
import logging
import os
import pty
import shutil
import signal
import socket
import subprocess
import tempfile
import termios
import time
from functools import cache

log = logging.getLogger(__name__)

START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 2.0
FIXED_SPEED = ["-s", "38400", "-f", "8N1"]


def gpsd_path() -> str | None:
    """gpsd's binary (PATH, then /usr/sbin, where Debian puts it), or None."""
    return shutil.which("gpsd") or shutil.which("gpsd", path="/usr/sbin:/usr/local/sbin")


@cache
def ipc_isolation() -> tuple[str, ...]:
    """The command prefix that gives a child an IPC namespace of its own, or () if none
    works here: `unshare --ipc` as root, else with a user namespace mapped to root."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    for prefix in ((unshare, "--ipc"), (unshare, "--user", "--map-root-user", "--ipc")):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=5).returncode == 0:
                return prefix
        except (OSError, subprocess.SubprocessError):
            pass
    return ()


def free_port() -> int:
    """A loopback port nobody listens on now (another process could take it before gpsd
    does: GpsdFeed tries again then)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GpsdFeedError(RuntimeError):
    """gpsd could not be started on the pty."""


class GpsdFeed:
    def __init__(self, port: int | None = None, *, gpsd: str | None = None, start_timeout_s: float = START_TIMEOUT_S):
        """Start gpsd on a new pty and return once it serves clients. port: None for a free
        one (tried again on another if taken); a number to take over from an earlier gpsd."""
        self.gpsd = gpsd or gpsd_path()
        if self.gpsd is None:
            raise GpsdFeedError("gpsd is not installed (Debian: apt install gpsd)")
        self.dropped_bytes = 0
        self.ready_s: float | None = None  # start of gpsd to serving clients
        self._process: subprocess.Popen | None = None
        self._messages = tempfile.TemporaryFile()  # gpsd's stderr: unlinked already, nothing left in /tmp
        self._closed = False
        self._master = self._slave = -1
        try:
            self._master, self._slave = pty.openpty()
            self.device = os.ttyname(self._slave)
            self._make_raw()
            os.set_blocking(self._master, False)
            attempts = 1 if port is not None else 3
            for _ in range(attempts):
                self.port = port if port is not None else free_port()
                if self._start(start_timeout_s):
                    return
            raise GpsdFeedError(f"gpsd did not start on {self.device} (port {self.port}): "
                                f"{' / '.join(self.messages().splitlines()[-3:]) or 'no message'}")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def write(self, sentences) -> int:
        """Sentences (str or bytes, with their line ends) into the receiver's line, in order.
        Returns the bytes written; never blocks."""
        if self._closed:
            raise ValueError("the feed is closed")
        data = b"".join(item if isinstance(item, bytes) else item.encode("ascii") for item in sentences)
        written = 0
        while written < len(data):
            try:
                written += os.write(self._master, data[written:])
            except BlockingIOError:
                break
            except OSError as error:  # EIO: nothing holds the other side open any more
                if error.errno != errno.EIO:
                    raise
                break
        self.dropped_bytes += len(data) - written
        return written

    def messages(self) -> str:
        """What gpsd wrote to stderr (at -D 0 only "unable to connect to the DBUS system bus",
        which is harmless, unless something went wrong)."""
        if self._messages.closed:
            return ""
        self._messages.seek(0)
        return self._messages.read().decode(errors="replace")

    def kill(self) -> None:
        """End gpsd at once (SIGKILL), as a crash would; the pty stays for a new gpsd."""
        if self.alive:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT_S)

    def close(self) -> None:
        """End gpsd (SIGTERM, then SIGKILL after STOP_TIMEOUT_S) and close the pty. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop_process()
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._messages.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- start-up ---------------------------------------------------------------------------

    def _make_raw(self) -> None:
        """No echo, no line editing, no CR/NL mapping on the slave side (gpsd sets its own
        modes when it opens it; this covers what is written before)."""
        attributes = termios.tcgetattr(self._slave)
        attributes[0] = attributes[1] = attributes[3] = 0  # iflag, oflag, lflag
        termios.tcsetattr(self._slave, termios.TCSANOW, attributes)

    def _start(self, timeout_s: float) -> bool:
        isolation = ipc_isolation()
        if not isolation:
            log.warning("no unshare: gpsd will leave System V shared memory segments behind")
        command = [*isolation, self.gpsd, "-N", "-n", "-b", *FIXED_SPEED, "-S", str(self.port), self.device]
        started = time.monotonic()
        # stderr into a file, not a pipe: a pipe nobody reads would stop gpsd once full.
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=self._messages)
        if self._wait_ready(started + timeout_s):
            self.ready_s = time.monotonic() - started
            log.info("gpsd %d on %s, port %d, serving after %.3f s", self.pid, self.device, self.port, self.ready_s)
            return True
        self._stop_process()
        return False

    def _wait_ready(self, deadline: float) -> bool:
        """gpsd serves clients and lists the pty among its devices."""
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False  # the port was taken, or gpsd refused the device
            try:
                if self.device in self._devices_listed(deadline):
                    return True
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        return False

    def _devices_listed(self, deadline: float) -> list[str]:
        """Ask gpsd for its devices (?DEVICES;): their paths."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
            probe.settimeout(max(0.05, deadline - time.monotonic()))
            probe.sendall(b"?DEVICES;\n")
            received = b""
            while len(received) < 65536:
                chunk = probe.recv(4096)
                if not chunk:
                    return []
                received += chunk
                for line in received.split(b"\n")[:-1]:  # complete lines only
                    reply = json.loads(line)
                    if reply.get("class") == "DEVICES":
                        return [device.get("path") for device in reply.get("devices", [])]
        return []

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
