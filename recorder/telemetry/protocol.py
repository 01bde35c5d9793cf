"""gpsd's JSON protocol, read strictly.

gpsd sends one JSON object per line, each with a `class` (gpsd's www/gpsd_json.adoc).
Whatever arrives on the socket is read as if a hostile peer had sent it: a line that is
not UTF-8, not JSON, not an object, too long, of no known class, or with a field of the
wrong type or out of range raises `Garbage`, and the caller counts it and goes on. A
report is taken whole or not at all: a TPV whose `lat` is a string gives no position.
"""

import calendar
import json
import math
import re
from datetime import datetime
from typing import NamedTuple

from .fix import MODE_3D, MODE_NO_FIX, MODE_UNKNOWN, Fix, TimeReport

# Enable reports as JSON objects, and PPS/TOFF time reports too.
WATCH_COMMAND = b'?WATCH={"enable":true,"json":true,"pps":true};\n'
# gpsd's longest objects (SKY with every satellite, a DEVICES list) are a few KiB.
MAX_LINE_BYTES = 64 * 1024

REPORT_CLASSES = frozenset({"TPV", "SKY", "PPS", "TOFF"})
# Sent by gpsd but of no use here: accepted and passed over (DEVICE/DEVICES name the receiver).
OTHER_GPSD_CLASSES = frozenset({
    "VERSION", "DEVICES", "DEVICE", "WATCH", "ERROR", "POLL", "GST", "ATT", "IMU", "OSC", "RAW",
    "AIS", "RTCM2", "RTCM3", "SUBFRAME", "NMEA",
})

NS = 1_000_000_000
ISO_UTC = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", re.ASCII)


class Garbage(ValueError):
    """A line that is not something gpsd would send."""


class Sky(NamedTuple):
    """What the client keeps of the most recent SKY report."""

    sats_used: int | None
    hdop: float | None


class LineSplitter:
    """Bytes from the socket -> complete lines, none longer than `max_bytes`: a longer line
    is dropped whole (counted in `overlong`), however it arrives, and never buffered past
    the limit, so a peer that never sends a newline costs at most `max_bytes` of memory."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES):
        self.max_bytes = max_bytes
        self.overlong = 0
        self._buffer = bytearray()
        self._skipping = False  # inside an overlong line, until its newline

    def feed(self, data: bytes) -> list[bytes]:
        lines = []
        self._buffer += data
        start = 0
        while (end := self._buffer.find(b"\n", start)) >= 0:
            line = bytes(self._buffer[start:end])
            start = end + 1
            if self._skipping:
                self._skipping = False  # the end of a line already counted
            elif len(line) > self.max_bytes:
                self.overlong += 1
            else:
                lines.append(line)
        del self._buffer[:start]
        if len(self._buffer) > self.max_bytes:
            if not self._skipping:
                self.overlong += 1
                self._skipping = True
            self._buffer.clear()
        return lines

    def reset(self) -> None:
        """A new connection: nothing carried over."""
        self._buffer.clear()
        self._skipping = False


def read_object(line: bytes) -> dict:
    """One line (without its newline) -> a JSON object with a string `class`."""
    try:
        obj = json.loads(line.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # RecursionError: [[[[…]]]]
        raise Garbage(f"not JSON: {error}") from None
    if not isinstance(obj, dict):
        raise Garbage("not a JSON object")
    kind = obj.get("class")
    if not isinstance(kind, str):
        raise Garbage("no class")
    if kind not in REPORT_CLASSES and kind not in OTHER_GPSD_CLASSES:
        raise Garbage(f"unknown class {kind[:40]!r}")
    return obj


def parse_iso8601_ns(text) -> int:
    """gpsd's time, e.g. "2026-12-03T10:00:01.000Z", to UTC ns since the epoch, exactly (no
    float in between: ns stay ns)."""
    match = ISO_UTC.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise Garbage(f"not an ISO 8601 UTC time: {str(text)[:40]!r}")
    year, month, day, hour, minute, second = (int(group) for group in match.groups()[:6])
    try:  # validates the calendar (a second of 60 is a leap second: allowed, timegm carries it)
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError as error:
        raise Garbage(f"not a date: {error}") from None
    if second > 60:
        raise Garbage("second out of range")
    fraction = (match.group(7) or "").ljust(9, "0")
    return calendar.timegm((year, month, day, hour, minute, second)) * NS + int(fraction)


def parse_tpv(obj: dict, received_ns: int, sky: Sky | None, device: str = "") -> Fix:
    mode = _integer(obj, "mode", 0, 3)
    mode = MODE_UNKNOWN if mode is None else mode
    lat = _number(obj, "lat", -90.0, 90.0)
    lon = _number(obj, "lon", -180.0, 180.0)
    if lat is None or lon is None:  # a fix is only as good as its position
        lat = lon = None
        mode = min(mode, MODE_NO_FIX)
    alt_msl, alt = _number(obj, "altMSL"), _number(obj, "alt")
    time_text = obj.get("time")
    return Fix(
        received_ns=received_ns,
        time_ns=None if time_text is None else parse_iso8601_ns(time_text),
        mode=mode,
        lat=lat,
        lon=lon,
        alt=(alt_msl if alt_msl is not None else alt) if mode >= MODE_3D else None,
        speed=_number(obj, "speed"),
        track=_number(obj, "track", 0.0, 360.0),
        eph=_number(obj, "eph", 0.0),
        epv=_number(obj, "epv", 0.0),
        sats_used=None if sky is None else sky.sats_used,
        hdop=None if sky is None else sky.hdop,
        device=_text(obj, "device") or device,
    )


def parse_sky(obj: dict) -> Sky:
    used = _integer(obj, "uSat", 0)
    satellites = obj.get("satellites")
    if satellites is not None and not isinstance(satellites, list):
        raise Garbage("satellites is not a list")
    if used is None and satellites is not None:  # gpsd before 3.22 sends no uSat
        if not all(isinstance(satellite, dict) for satellite in satellites):
            raise Garbage("a satellite is not an object")
        used = sum(1 for satellite in satellites if satellite.get("used") is True)
    return Sky(sats_used=used, hdop=_number(obj, "hdop", 0.0))


def parse_time_report(obj: dict, received_ns: int) -> TimeReport:
    real_sec, clock_sec = _integer(obj, "real_sec", 0), _integer(obj, "clock_sec", 0)
    real_nsec, clock_nsec = _integer(obj, "real_nsec", 0, NS - 1), _integer(obj, "clock_nsec", 0, NS - 1)
    if None in (real_sec, real_nsec, clock_sec, clock_nsec):
        raise Garbage(f"{obj['class']} without its times")
    return TimeReport(
        kind=obj["class"].lower(),
        received_ns=received_ns,
        real_ns=real_sec * NS + real_nsec,
        clock_ns=clock_sec * NS + clock_nsec,
        precision=_integer(obj, "precision", -64, 64),
        device=_text(obj, "device"),
    )


def device_named(obj: dict) -> str:
    """The receiver a DEVICE or DEVICES report names ("" when none)."""
    if obj["class"] == "DEVICE":
        return _text(obj, "path")
    devices = obj.get("devices")
    if devices is None:
        return ""
    if not isinstance(devices, list) or not all(isinstance(device, dict) for device in devices):
        raise Garbage("devices is not a list of objects")
    return next((path for path in (_text(device, "path") for device in devices) if path), "")


def _reject_constant(name):
    raise ValueError(f"{name} is not a number gpsd sends")


def _number(obj: dict, key: str, low: float = -math.inf, high: float = math.inf) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Garbage(f"{key} is not a number")
    try:
        value = float(value)
    except OverflowError:  # an integer of 400 digits
        raise Garbage(f"{key} out of range") from None
    if not (math.isfinite(value) and low <= value <= high):  # 1e999 parses as inf
        raise Garbage(f"{key} out of range")
    return value


def _integer(obj: dict, key: str, low: int | None = None, high: int | None = None) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Garbage(f"{key} is not an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise Garbage(f"{key} out of range")
    return value


def _text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Garbage(f"{key} is not a string")
    return value
