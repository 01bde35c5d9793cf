"""A gpsd client: the JSON protocol over TCP, on a thread of its own, that never gives up.

`start()` starts a (non-daemon) thread that connects to gpsd, asks for reports
(`?WATCH={"enable":true,"json":true,"pps":true};`) and reads them, one JSON object per
line. When gpsd is not there, restarts or closes the socket, the thread connects again
after a back-off that doubles from `min_backoff_s` up to `max_backoff_s` (and starts over
once a connection has carried a valid object), so a gpsd that comes back is found again
within `max_backoff_s`. Nothing gpsd or a hostile peer sends ends the thread: what cannot
be read is counted in `garbage_lines` and passed over (protocol.py says what counts).

The accessors never block and never wait for gpsd, so the run loop can call them on every
tick: `latest()` is the newest report, `position(now_ns, max_age_ns)` the newest position
that is still fresh on the agent's clock (a stale position is never current), and
`latest_time()` the newest PPS/TOFF report. `wait_for` is the one call that waits (in
real time, bounded): the simulated body uses it to keep gpsd in step with simulated time.
"""

import logging
import socket
import threading
import time
from collections import deque

from ..workers import close_at_exit
from .fix import Fix, TimeReport
from .protocol import (MAX_LINE_BYTES, REPORT_CLASSES, WATCH_COMMAND, Garbage, LineSplitter, Sky, device_named,
                       parse_sky, parse_time_report, parse_tpv, read_object)

log = logging.getLogger(__name__)

RECENT_FIXES = 64  # what wait_for looks through: every fix since it last looked, in a burst


class GpsdClient:
    name = "gpsd"  # the receiver as a track names it (evidence/entries.py track)

    def __init__(self, clock, host: str = "127.0.0.1", port: int = 2947, *, min_backoff_s: float = 0.25,
                 max_backoff_s: float = 8.0, read_timeout_s: float = 1.0):
        """host: an address, not a name (resolving a name could block past every timeout)."""
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ValueError("need 0 < min_backoff_s <= max_backoff_s")
        if read_timeout_s <= 0:
            raise ValueError("read_timeout_s must be positive")
        self.host, self.port = host, port
        self.min_backoff_s, self.max_backoff_s, self.read_timeout_s = min_backoff_s, max_backoff_s, read_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._new_fix = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None  # the open connection, for close() to cut
        self._closed = False
        self._connected = False
        self._watching = False
        self._latest: Fix | None = None
        self._latest_position: Fix | None = None
        self._latest_time: TimeReport | None = None
        self._sky: Sky | None = None
        self._device = ""
        self._fix_count = 0
        self._recent: deque[tuple[int, Fix]] = deque(maxlen=RECENT_FIXES)
        self._connections = 0
        self._reconnects = 0
        self._garbage = 0
        self._reports = 0
        self._lines = LineSplitter(MAX_LINE_BYTES)
        self._error_logged = False  # gpsd's ERROR replies: the first of a connection is a warning

    # --- lifetime ------------------------------------------------------------------------

    def start(self) -> "GpsdClient":
        with self._lock:
            if self._closed or self._thread is not None:
                raise RuntimeError("a GpsdClient starts once")
            self._thread = threading.Thread(target=self._run, name=f"gpsd-client:{self.port}")
        close_at_exit(self)
        self._thread.start()
        return self

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Idempotent; returns within about read_timeout_s even while connecting."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connection, thread = self._socket, self._thread
            self._new_fix.notify_all()
        self._stop.set()
        if connection is not None:
            try:  # wakes a recv() blocked on the reader thread at once
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.read_timeout_s + 1.0)
            if thread.is_alive():
                log.warning("the gpsd client's thread did not end in time")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- what the agent reads (never blocks) -----------------------------------------------

    def latest(self) -> Fix | None:
        """The newest report, whatever its mode (a lost fix too)."""
        with self._lock:
            return self._latest

    def position(self, now_ns: int, max_age_ns: int) -> Fix | None:
        """The newest fix with a position, if it is at most max_age_ns old at now_ns."""
        with self._lock:
            fix = self._latest_position
        if fix is None or fix.age_ns(now_ns) > max_age_ns:
            return None
        return fix

    def latest_time(self) -> TimeReport | None:
        with self._lock:
            return self._latest_time

    @property
    def description(self) -> str:
        return f"gpsd at {self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def watching(self) -> bool:
        """gpsd has answered the WATCH command: from now on it sends every report."""
        return self._watching

    @property
    def device(self) -> str:
        """The receiver gpsd last named ("" before it named one)."""
        with self._lock:
            return self._device

    @property
    def reconnects(self) -> int:
        """Connections made after an earlier one was lost."""
        return self._reconnects

    @property
    def garbage_lines(self) -> int:
        return self._garbage

    @property
    def reports(self) -> int:
        """TPV, SKY, PPS and TOFF reports taken."""
        return self._reports

    @property
    def fix_count(self) -> int:
        """TPV reports taken so far: a mark for wait_for(after=…)."""
        with self._lock:
            return self._fix_count

    def wait_for(self, predicate, timeout_s: float, *, after: int | None = None) -> bool:
        """Wait, in real time and at most timeout_s, until a fix received after this call
        began (or after the fix_count mark `after`, taken before writing what gpsd is to
        report: no report can slip in between) satisfies predicate(fix). Each such fix is
        looked at once, in order, up to the last RECENT_FIXES. False on the timeout or when
        the client closes."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            seen = self._fix_count if after is None else after
        while True:
            with self._lock:
                while self._fix_count <= seen and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._new_fix.wait(remaining)
                if self._closed:
                    return False
                fresh = [fix for number, fix in self._recent if number > seen]
                seen = self._fix_count
            if any(predicate(fix) for fix in fresh):  # outside the lock: the predicate is the caller's
                return True

    # --- the reader thread -----------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.min_backoff_s
        unreachable_logged = False
        while not self._stop.is_set():
            try:
                connection = self._connect()
                if connection is None:
                    if not unreachable_logged:
                        log.warning("gpsd at %s:%d is not reachable; trying again", self.host, self.port)
                        unreachable_logged = True
                else:
                    unreachable_logged = False
                    if self._serve(connection):
                        backoff = self.min_backoff_s
            except Exception:  # a bug here must not end the thread: the device would lose its position for good
                log.exception("gpsd client")
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.max_backoff_s)

    def _connect(self) -> socket.socket | None:
        try:
            connection = socket.create_connection((self.host, self.port), timeout=self.read_timeout_s)
        except OSError as error:
            log.debug("connecting to gpsd at %s:%d: %s", self.host, self.port, error)
            return None
        with self._lock:
            if self._closed:  # close() came while connecting: it could not cut this socket
                connection.close()
                return None
            self._socket = connection
            self._connected = True
            if self._connections:
                self._reconnects += 1
            self._connections += 1
        log.info("connected to gpsd at %s:%d", self.host, self.port)
        return connection

    def _serve(self, connection: socket.socket) -> bool:
        """Read reports until the connection ends; True if gpsd sent anything valid."""
        self._lines.reset()
        self._error_logged = False
        useful = False
        try:
            connection.sendall(WATCH_COMMAND)
            while not self._stop.is_set():
                try:
                    data = connection.recv(65536)
                except socket.timeout:  # quiet gpsd (no receiver): look at the stop flag again
                    continue
                if not data:
                    if not self._stop.is_set():
                        log.info("gpsd at %s:%d closed the connection", self.host, self.port)
                    break
                overlong_before = self._lines.overlong
                lines = self._lines.feed(data)
                with self._lock:
                    self._garbage += self._lines.overlong - overlong_before
                for line in lines:
                    useful |= self._take(line)
        except OSError as error:
            if not self._stop.is_set():
                log.info("connection to gpsd at %s:%d lost: %s", self.host, self.port, error)
        finally:
            with self._lock:
                self._socket = None
                self._connected = self._watching = False
                self._sky = None  # a restarted gpsd's satellites are its own
            connection.close()
        return useful

    def _take(self, line: bytes) -> bool:
        """One line: a report kept, a gpsd message passed over, or garbage counted."""
        if not line.strip():
            return False
        received_ns = self._clock.monotonic_ns()
        try:
            obj = read_object(line)
            kind = obj["class"]
            if kind in REPORT_CLASSES:
                self._keep_report(kind, obj, received_ns)
            elif kind in ("DEVICE", "DEVICES"):
                device = device_named(obj)
                if device:
                    with self._lock:
                        self._device = device
            elif kind == "WATCH":
                self._watching = obj.get("enable") is True
            elif kind == "ERROR":  # gpsd refused a command (ours: the WATCH)
                log.log(logging.DEBUG if self._error_logged else logging.WARNING, "gpsd: %.200s", obj.get("message"))
                self._error_logged = True
            return True
        except Garbage as reason:
            log.debug("garbage from gpsd (%s): %.120r", reason, line)
        except Exception:  # unforeseen input must not end the thread either
            log.exception("reading %.120r from gpsd", line)
        with self._lock:
            self._garbage += 1
        return False

    def _keep_report(self, kind: str, obj: dict, received_ns: int) -> None:
        if kind == "TPV":
            with self._lock:
                sky, device = self._sky, self._device
            fix = parse_tpv(obj, received_ns, sky, device)
            with self._lock:
                self._latest = fix
                if fix.has_position:
                    self._latest_position = fix
                self._fix_count += 1
                self._recent.append((self._fix_count, fix))
                self._reports += 1
                self._new_fix.notify_all()
        elif kind == "SKY":
            sky = parse_sky(obj)
            with self._lock:
                self._sky = sky
                self._reports += 1
        else:
            report = parse_time_report(obj, received_ns)
            with self._lock:
                self._latest_time = report
                self._reports += 1
