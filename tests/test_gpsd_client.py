"""The gpsd client (recorder/telemetry) against a real gpsd, fed by gpsfake or by our own pty
(recorder/sim/gpsd_feed.py) with the simulated sky's NMEA (recorder/sim/nmea.py): fixes that
match the path they came from, a lost fix, a fix without time, gpsd restarting, a receiver
and a TCP peer that send rubbish, and close() that never waits on gpsd. Every wait is
bounded; every gpsd gets its own loopback port and pty, so the tests run in parallel."""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require_tool
from recorder.clock import SystemClock
from recorder.sim.gpsd_feed import GpsdFeed, free_port, ipc_isolation
from recorder.sim.nmea import (SkyPath, SkySample, Waypoint, bad_checksum, checksum, garbage, sentence,
                               sentences_at, truncated)
from recorder.telemetry import MODE_3D, MODE_NO_FIX, GpsdClient
from recorder.telemetry.protocol import Garbage, LineSplitter, parse_iso8601_ns, parse_tpv, read_object

NS = 1_000_000_000
START_UTC_NS = 1_796_292_000 * NS  # 2026-12-03T10:00:00Z
# A walk through Berlin-Mitte: north-east, then south-east, then standing still.
WALK = SkyPath([Waypoint(0, 52.520008, 13.404954, 34.0), Waypoint(8, 52.520510, 13.405630, 36.5),
                Waypoint(16, 52.519930, 13.407110, 35.0)])
# The log's resolution: 1e-5 minute of arc, gpsd's %.9f degrees, centimetres, 0.001 knot.
DEGREES, METRES, SPEED, TRACK = 1e-7, 0.006, 0.001, 0.01
FAST = {"min_backoff_s": 0.05, "max_backoff_s": 0.4, "read_timeout_s": 0.2}
CLOCK = SystemClock()


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def utc(second: int) -> int:
    return START_UTC_NS + second * NS


def assert_on_path(fix):
    """A fix is where the walk was at the fix's UTC second, to the log's resolution."""
    assert fix.time_ns is not None and (fix.time_ns - START_UTC_NS) % NS == 0
    truth = WALK.sample_at(fix.time_ns - START_UTC_NS)
    assert abs(fix.lat - truth.lat) <= DEGREES and abs(fix.lon - truth.lon) <= DEGREES
    if fix.mode == MODE_3D and fix.alt is not None:
        assert abs(fix.alt - truth.alt) <= METRES
    if fix.speed is not None:
        assert abs(fix.speed - truth.speed) <= SPEED
        if truth.speed > 0:
            assert abs(fix.track - truth.heading) <= TRACK


@pytest.fixture
def clients():
    """GpsdClient(port, **options), started, on the system clock; all closed at the end."""
    made = []

    def make(port, **options):
        client = GpsdClient(CLOCK, port=port, **{**FAST, **options}).start()
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def feed():
    require_tool("gpsd")
    with GpsdFeed() as running:
        yield running


def watching(client, feed) -> None:
    assert wait_until(lambda: client.watching and client.device == feed.device, 3.0), "the client never watched"


def send_cycle(feed, client, second: int, sample, timeout_s=2.0):
    """Write one simulated second and wait until gpsd has reported it."""
    mark = client.fix_count
    feed.write(sentences_at(utc(second), sample))
    assert client.wait_for(lambda fix: fix.time_ns == utc(second), timeout_s, after=mark), f"no second {second}"
    return client.latest()


def fixes_since(client, mark: int, last_utc_ns: int) -> list:
    """Every fix from the mark up to the first of the second last_utc_ns with a 3D fix."""
    fixes = []
    assert client.wait_for(lambda fix: fixes.append(fix) or (fix.time_ns == last_utc_ns and fix.mode == MODE_3D),
                           0.5, after=mark)
    return fixes


# --- gpsfake replaying a log of the walk --------------------------------------------------------


class Gpsfake:
    """gpsfake on a free port, replaying a log once; its control socket goes into a private
    directory (TMPDIR) removed at the end, and it runs in its own process group so that its
    gpsd ends with it whatever happens."""

    def __init__(self, log, port: int, delay_s: float, timeout_s: int = 20):
        self.port = port
        self.tmpdir = tempfile.mkdtemp(prefix="gpsfake-")
        command = [*ipc_isolation(), require_tool("gpsfake"), "-1", "-q", "-n", "-W", str(timeout_s),
                   "-P", str(self.port), "-c", str(delay_s), str(log)]
        self.process = subprocess.Popen(command, env={**os.environ, "TMPDIR": self.tmpdir}, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                pass
        try:  # the group is gpsfake's and its gpsd's (start_new_session: its id is gpsfake's pid)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(3)
        shutil.rmtree(self.tmpdir, ignore_errors=True)  # gpsfake-<pid>.sock


def test_gpsfake_replay_matches_the_path(tmp_path, clients):
    require_tool("gpsd")
    seconds = 18
    log = tmp_path / "walk.nmea"
    log.write_bytes(b"".join(line.encode() for second in range(seconds)
                             for line in sentences_at(utc(second), WALK.sample_at(second * NS))))
    port = free_port()
    client = clients(port)  # before gpsd is there: it keeps trying
    fake = Gpsfake(log, port, delay_s=0.01)
    try:
        assert client.wait_for(lambda fix: fix.time_ns == utc(seconds - 1) and fix.mode == MODE_3D, 15.0, after=0), \
            f"the replay did not reach its end: {client.latest()}"
    finally:
        fake.stop()
    fixes = fixes_since(client, 0, utc(seconds - 1))
    assert not os.path.exists(fake.tmpdir)
    for fix in fixes:
        assert fix.has_position
        assert_on_path(fix)
    reported = sorted({(fix.time_ns - START_UTC_NS) // NS for fix in fixes})
    assert reported == list(range(reported[0], seconds)) and len(reported) >= seconds - 3, reported
    last = fixes[-1]
    assert (last.sats_used, last.hdop, last.mode) == (8, 0.9, MODE_3D) and last.eph > 0
    assert client.garbage_lines == 0


# --- gpsd on our own pty --------------------------------------------------------------------------


def test_gpsd_feed_follows_simulated_seconds(feed, clients):
    """Each second's sentences are reported as soon as they are written: the simulated body
    waits for them to keep gpsd in step with its clock."""
    assert feed.alive and 0 < feed.ready_s < 3.0
    client = clients(feed.port)
    watching(client, feed)
    start = client.fix_count
    latencies = []
    for second in range(10):
        mark, written = client.fix_count, time.monotonic()
        feed.write(sentences_at(utc(second), WALK.sample_at(second * NS)))
        assert client.wait_for(lambda fix: fix.time_ns == utc(second) and fix.mode == MODE_3D, 2.0, after=mark)
        latencies.append(time.monotonic() - written)
    time.sleep(0.05)  # anything late would show now
    per_second = Counter((fix.time_ns - START_UTC_NS) // NS for fix in fixes_since(client, start, utc(9)))
    # The first cycle is reported sentence by sentence; from the second on, once per cycle.
    assert per_second[0] >= 2 and all(per_second[second] == 1 for second in range(1, 10)), per_second
    assert client.fix_count - start == sum(per_second.values())
    assert statistics.median(latencies[1:]) < 0.1 and max(latencies) < 1.0, latencies
    assert client.reports > 0 and client.garbage_lines == 0 and feed.dropped_bytes == 0
    pid = feed.pid
    feed.close()
    feed.close()
    assert not feed.alive and not os.path.exists(f"/proc/{pid}")  # ended and reaped
    with pytest.raises(ValueError):
        feed.write(["$GPGSV,1,1,00*79\r\n"])


def test_lost_fix_and_reacquisition(feed, clients):
    client = clients(feed.port)
    watching(client, feed)
    for second in range(3):
        send_cycle(feed, client, second, WALK.sample_at(second * NS))
    last_position = client.position(client.latest().received_ns, max_age_ns=NS)
    assert last_position is not None and last_position.time_ns == utc(2)

    lost = SkySample(52.52, 13.405, fix=False)
    for second in range(3, 6):
        # A lost fix is reported with its own cycle (the cycle ends on GGA), not a second later.
        written = time.monotonic()
        fix = send_cycle(feed, client, second, lost, timeout_s=1.0)
        assert time.monotonic() - written < 0.5
        assert fix.mode == MODE_NO_FIX and not fix.has_position and fix.lat is None
        assert fix.alt is None
    max_age_ns = 300_000_000
    now = client.latest().received_ns
    # The last position is still given while it is fresh, never once it is older than max_age.
    assert client.position(last_position.received_ns + max_age_ns, max_age_ns) == last_position
    assert client.position(last_position.received_ns + max_age_ns + 1, max_age_ns) is None
    assert wait_until(lambda: client.position(CLOCK.monotonic_ns(), max_age_ns) is None, 1.0)
    assert client.position(now, max_age_ns=10**18) == last_position  # only age decides

    fresh = send_cycle(feed, client, 6, WALK.sample_at(6 * NS))
    assert fresh.has_position and fresh.time_ns == utc(6)
    current = client.position(CLOCK.monotonic_ns(), max_age_ns)
    assert current == fresh and 0 <= current.age_ns(CLOCK.monotonic_ns()) < max_age_ns


def test_a_first_fix_without_time(feed, clients):
    client = clients(feed.port)
    watching(client, feed)
    for second in range(3):
        sample = WALK.sample_at(second * NS)
        mark = client.fix_count
        feed.write(sentences_at(utc(second), SkySample(sample.lat, sample.lon, sample.alt, with_time=False)))
        assert client.wait_for(lambda fix: fix.has_position and abs(fix.lat - sample.lat) <= DEGREES, 2.0, after=mark)
        fix = client.latest()
        assert fix.time_ns is None and fix.mode == MODE_3D and abs(fix.alt - sample.alt) <= METRES
        now = CLOCK.monotonic_ns()
        assert client.position(now, NS) == fix and 0 <= fix.age_ns(now) < NS
    timed = send_cycle(feed, client, 3, WALK.sample_at(3 * NS))
    assert timed.time_ns == utc(3)
    later = send_cycle(feed, client, 4, SkySample(52.52, 13.405, 30.0, with_time=False))
    assert later.time_ns == utc(4), "gpsd keeps the date of the last RMC"


def test_a_2d_fix(feed, clients):
    client = clients(feed.port)
    watching(client, feed)
    for second in range(3):
        sample = WALK.sample_at(second * NS)
        fix = send_cycle(feed, client, second, SkySample(sample.lat, sample.lon, 99.0, three_d=False))
    assert fix.mode == 2 and fix.has_position and fix.alt is None


def test_gpsd_restarting_mid_stream(clients):
    require_tool("gpsd")
    first = GpsdFeed()
    second = None
    try:
        client = clients(first.port)
        watching(client, first)
        send_cycle(first, client, 0, WALK.sample_at(0))
        send_cycle(first, client, 1, WALK.sample_at(NS))
        first.kill()  # SIGKILL: gpsd crashed
        assert wait_until(lambda: not client.connected, 2.0)
        second = GpsdFeed(port=first.port)
        back = time.monotonic()
        # The client finds gpsd again by itself, within one back-off step (at most max_backoff_s).
        assert wait_until(lambda: client.watching and client.device == second.device, FAST["max_backoff_s"] + 1.0)
        assert time.monotonic() - back <= FAST["max_backoff_s"] + 0.5
        for n in (2, 3):
            fix = send_cycle(second, client, n, WALK.sample_at(n * NS))
        assert_on_path(fix)
        assert client.reconnects == 1 and client.garbage_lines == 0
        assert client.position(CLOCK.monotonic_ns(), NS).time_ns == utc(3)
    finally:
        first.close()
        if second is not None:
            second.close()


POISON = SkySample(-33.856784, 151.215297, 5.0)  # Sydney: must never come out of the walk's log


def test_a_receiver_sending_rubbish(feed, clients):
    """Bad checksums, sentences cut short and line noise among good cycles: gpsd drops them,
    the good cycles come through, and nothing bad ever gives a position."""
    client = clients(feed.port)
    watching(client, feed)
    start = client.fix_count
    for second in range(12):
        good = sentences_at(utc(second), WALK.sample_at(second * NS))
        if second % 3 == 2:
            poison = sentences_at(utc(second), POISON)
            rmc, gga = poison[0], poison[-1]
            # Each cut sentence runs into the next '$', as when a line drops bytes (one that got
            # a line end would pass: see the next test).
            bad = [garbage(400, seed=second), b"\r\n\x00\xff$$$\r\n", bad_checksum(gga), bad_checksum(rmc),
                   truncated(gga, 0.3), truncated(rmc, 0.5), truncated(gga, 0.9), truncated(rmc, 0.9)]
            good = good[:1] + bad + good[1:]
        mark = client.fix_count
        feed.write(good)
        assert client.wait_for(lambda fix: fix.time_ns == utc(second) and fix.mode == MODE_3D, 2.0, after=mark), \
            f"second {second} was not reported"
    fixes = fixes_since(client, start, utc(11))
    assert {(fix.time_ns - START_UTC_NS) // NS for fix in fixes} == set(range(12))
    for fix in fixes:
        if fix.has_position:
            assert_on_path(fix)
    assert client.garbage_lines == 0  # gpsd itself sends only JSON


def test_gpsd_takes_a_sentence_without_its_checksum(feed, clients):
    """gpsd 3.22 checks a checksum only when there is one: a sentence cut just before its
    '*hh' and ended by a line end is taken as good (why nmea.truncated cuts into the fields
    and adds no line end). Nothing in gpsd's report tells such a fix apart."""
    client = clients(feed.port)
    watching(client, feed)
    send_cycle(feed, client, 0, WALK.sample_at(0))
    mark = client.fix_count
    gga = sentences_at(utc(1), POISON)[-1]
    feed.write([gga.partition("*")[0] + "\r\n"])
    assert client.wait_for(lambda fix: fix.time_ns == utc(1), 2.0, after=mark)
    assert abs(client.latest().lat - POISON.lat) <= DEGREES


def test_a_hostile_peer_instead_of_gpsd(clients):
    """Our own server on loopback sends what no gpsd would: the client counts each bad line
    once, keeps the good reports between them, and reconnects when the peer hangs up."""
    bad_lines = [
        b"this is not json",
        b"\xff\xfe\x00 not utf-8",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"no_class": 1}',
        b'{"class": 42}',
        b'{"class": "BOGUS"}',
        b'{"class":"TPV","mode":3,"lat":"52.5","lon":13.4}',
        b'{"class":"TPV","mode":"3","lat":52.5,"lon":13.4}',
        b'{"class":"TPV","mode":true,"lat":52.5,"lon":13.4}',
        b'{"class":"TPV","mode":9,"lat":52.5,"lon":13.4}',
        b'{"class":"TPV","mode":3,"lat":NaN,"lon":13.4}',
        b'{"class":"TPV","mode":3,"lat":1e999,"lon":13.4}',
        b'{"class":"TPV","mode":3,"lat":95.0,"lon":13.4}',
        b'{"class":"TPV","mode":3,"lat":52.5,"lon":' + b"9" * 400 + b"}",
        b'{"class":"TPV","mode":3,"lat":52.5,"lon":13.4,"time":"yesterday"}',
        b'{"class":"TPV","mode":3,"lat":52.5,"lon":13.4,"time":"2026-02-30T10:00:00.000Z"}',
        b'{"class":"TPV","mode":3,"lat":52.5,"lon":13.4,"time":"\xd9\xa2026-12-03T10:00:00Z"}',
        b'{"class":"TPV","mode":3,"lat":52.5,"lon":13.4,"device":7}',
        b'{"class":"SKY","uSat":"many","hdop":0.9}',
        b'{"class":"SKY","satellites":{"used":true}}',
        b'{"class":"PPS","real_sec":1}',
        b'{"class":"TOFF","real_sec":"1","real_nsec":0,"clock_sec":1,"clock_nsec":0}',
        b'{"class":"DEVICES","devices":"none"}',
        b"[" * 30000,  # deeper than the JSON parser's recursion
        b'{"class":"TPV","pad":"' + b"a" * 70000 + b'"}',  # valid JSON, longer than a line may be
        b"x" * (300 * 1024),  # arrives in many pieces before its newline
    ]
    good_sky = b'{"class":"SKY","uSat":9,"hdop":0.8}'
    good_tpv = (b'{"class":"TPV","device":"/dev/hostile","mode":3,"time":"2026-12-03T10:00:07.123456789Z",'
                b'"lat":52.5,"lon":13.4,"alt":44.0,"altMSL":40.5,"speed":1.25,"track":270.0}')
    no_position = b'{"class":"TPV","device":"/dev/hostile","mode":3,"time":"2026-12-03T10:00:08Z"}'
    second_tpv = b'{"class":"TPV","device":"/dev/again","mode":2,"lat":-1.5,"lon":-2.5}'
    more, hang_up, finished = threading.Event(), threading.Event(), threading.Event()
    server = socket.create_server(("127.0.0.1", 0))
    watch_commands = []

    def serve():
        try:
            with server:
                server.settimeout(5)
                connection, _ = server.accept()
                with connection:
                    watch_commands.append(connection.recv(1024))
                    for line in bad_lines:
                        connection.sendall(line + b"\r\n\r\n")  # blank lines between are not garbage
                    connection.sendall(good_sky + b"\n")
                    for byte in good_tpv + b"\n":  # one byte at a time
                        connection.sendall(bytes([byte]))
                    connection.sendall(no_position + b"\n")
                    more.wait(5)
                    connection.sendall(b"y" * (200 * 1024))  # a line without an end
                    hang_up.wait(5)
                connection, _ = server.accept()
                with connection:
                    watch_commands.append(connection.recv(1024))
                    connection.sendall(second_tpv + b"\n")
                    finished.wait(5)
        except OSError:
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        client = clients(server.getsockname()[1])
        assert client.wait_for(lambda fix: fix.time_ns == START_UTC_NS + 8 * NS, 5.0)
        assert client.garbage_lines == len(bad_lines)
        assert client.latest().mode == MODE_NO_FIX and not client.latest().has_position
        fix = client.position(CLOCK.monotonic_ns(), NS)
        assert fix.time_ns == START_UTC_NS + 7 * NS + 123_456_789  # to the nanosecond
        assert (fix.lat, fix.lon, fix.alt, fix.speed, fix.track) == (52.5, 13.4, 40.5, 1.25, 270.0)
        assert (fix.sats_used, fix.hdop, fix.device) == (9, 0.8, "/dev/hostile")
        more.set()
        assert wait_until(lambda: client.garbage_lines == len(bad_lines) + 1, 3.0)  # the unended line, once
        mark = client.fix_count
        hang_up.set()
        assert client.wait_for(lambda fix: fix.device == "/dev/again", 3.0, after=mark)
        assert client.reconnects == 1 and client.garbage_lines == len(bad_lines) + 1
        assert client.latest().sats_used is None  # a new connection: no SKY yet
        assert watch_commands == [b'?WATCH={"enable":true,"json":true,"pps":true};\n'] * 2
        assert client.reports == 4
    finally:
        finished.set()
        hang_up.set()
        thread.join(5)


# --- close() and the accessors never wait on gpsd ----------------------------------------------------


def test_close_while_gpsd_is_unreachable():
    client = GpsdClient(CLOCK, port=free_port(), min_backoff_s=0.25, max_backoff_s=8.0).start()
    time.sleep(0.6)  # failed twice; now in its back-off
    began = time.monotonic()
    assert client.latest() is None and client.position(0, NS) is None and client.latest_time() is None
    assert not client.connected and not client.wait_for(lambda fix: True, 0.05)
    client.close()
    client.close()
    assert time.monotonic() - began < 0.5
    assert not client.wait_for(lambda fix: True, 5.0)  # closed: returns at once


def test_close_while_gpsd_is_silent():
    """A peer that accepts and never says a word: close() cuts the read short."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = GpsdClient(CLOCK, port=server.getsockname()[1], read_timeout_s=10.0).start()
        assert wait_until(lambda: client.connected, 2.0)
        began = time.monotonic()
        client.close()
        assert time.monotonic() - began < 0.5


def test_a_client_starts_once():
    client = GpsdClient(CLOCK, port=free_port())
    client.close()  # before start: fine
    with pytest.raises(RuntimeError):
        client.start()
    with pytest.raises(ValueError):
        GpsdClient(CLOCK, min_backoff_s=2.0, max_backoff_s=1.0)


# --- the pieces, without gpsd ---------------------------------------------------------------------


def test_gpsd_time_to_the_nanosecond():
    assert parse_iso8601_ns("2026-12-03T10:00:01.000Z") == utc(1)
    assert parse_iso8601_ns("2026-12-03T10:00:01Z") == utc(1)
    assert parse_iso8601_ns("2026-12-03T10:00:01.5Z") == utc(1) + 500_000_000
    assert parse_iso8601_ns("2026-12-03T10:00:01.999999999Z") == utc(2) - 1
    assert parse_iso8601_ns("2016-12-31T23:59:60.000Z") == parse_iso8601_ns("2017-01-01T00:00:00Z")  # leap second
    for bad in ("2026-12-03 10:00:01Z", "2026-12-03T10:00:01", "2026-13-03T10:00:01Z", "2026-12-03T24:00:00Z",
                "2026-12-03T10:00:61Z", "2026-12-03T10:00:01.1234567890Z", "", 1796292001, None):
        with pytest.raises(Garbage):
            parse_iso8601_ns(bad)


def test_lines_are_split_and_capped():
    lines = LineSplitter(max_bytes=10)
    assert lines.feed(b"abc\nde") == [b"abc"]
    assert lines.feed(b"f\n\n") == [b"def", b""]
    assert lines.feed(b"0123456789") == [] and lines.feed(b"\n") == [b"0123456789"]
    assert lines.feed(b"01234567890") == [] and lines.overlong == 1  # dropped as soon as it is too long
    assert lines.feed(b"more of the same line") == [] and lines.feed(b"tail\nnext\n") == [b"next"]
    assert lines.overlong == 1
    assert lines.feed(b"0123456789A\nok\n") == [b"ok"] and lines.overlong == 2


def test_a_tpv_without_a_position_is_no_fix():
    fix = parse_tpv(read_object(b'{"class":"TPV","mode":3,"lat":52.5}'), 5, None)
    assert fix.mode == MODE_NO_FIX and fix.lat is None and not fix.has_position and fix.age_ns(7) == 2


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
TPV_KEYS = ["mode", "lat", "lon", "alt", "altMSL", "speed", "track", "eph", "epv", "time", "device"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(TPV_KEYS), JSON))
def test_any_tpv_gives_a_fix_or_garbage(fields):
    try:
        fix = parse_tpv({"class": "TPV", **fields}, 0, None)
    except Garbage:
        return
    assert fix.mode in (0, 1, 2, 3)
    assert not fix.has_position or (-90 <= fix.lat <= 90 and -180 <= fix.lon <= 180)


def test_nmea_checksums_and_positions():
    # The classic example sentence of NMEA 0183 descriptions, checksum 47.
    assert checksum("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,") == "47"
    assert sentence("GPGSV,1,1,00") == "$GPGSV,1,1,00*79\r\n"
    rmc, *_, gga = sentences_at(utc(0) + 250_000_000, SkySample(-33.9999999999, -70.5, 12.345, 2.0, 300.0))
    assert rmc.startswith("$GPRMC,100000.25,A,3400.00000,S,07030.00000,W,3.888,300.00,031226,,,A*")
    assert gga.startswith("$GPGGA,100000.25,3400.00000,S,07030.00000,W,1,08,0.90,12.35,M,,,,*")
    assert all(line.endswith("\r\n") and checksum(line[1:-5]) == line[-4:-2] for line in (rmc, gga))
    assert bad_checksum(gga)[:-4] == gga[:-4] and bad_checksum(gga)[-4:-2] != gga[-4:-2]
    assert "*" not in truncated(gga) and not truncated(gga).endswith("\n")
