"""The simulated sky: NMEA 0183 as a GNSS receiver writes it, from a known path.

A `SkyPath` walks through `Waypoint`s (straight lines in latitude and longitude, each leg at
its own constant speed) and gives a `SkySample` for any moment; `sentences_at(utc_ns,
sample)` turns a sample into one reporting cycle of sentences, with their checksums and
CRLF endings, ready for gpsd (through `gpsd_feed.GpsdFeed`, or a log that gpsfake replays).
Positions carry 5 decimals of minutes (ddmm.mmmmm: 1.85 cm of latitude), altitudes
centimetres, speeds thousandths of a knot.

The order of the sentences is chosen for gpsd 3.22 (measured; docs/GNSS.md): RMC, GSA,
GSV…, GGA. gpsd ends a reporting cycle on the sentence it saw last before the time
changed, and only a sentence whose time it takes counts. GGA's time counts with or
without a fix, RMC's only with one (status A), so a cycle that ends on GGA is reported the
moment its GGA arrives, a lost fix as promptly as a good one; GSV before GGA puts the
cycle's SKY report ahead of its TPV.

What each kind of cycle looks like:
  - a 3D fix: all four; GSA mode 3, GGA with an altitude;
  - a 2D fix (`three_d=False`): GSA mode 2 and GGA without an altitude (gpsd takes a GGA
    altitude as a 3D fix whatever GSA says);
  - no fix (`fix=False`): GGA quality 0 and RMC status V, both without a position; GSA
    mode 1; nothing in view;
  - a fix before the receiver knows the date (`with_time=False`): no RMC. GGA has only the
    time of day, so gpsd reports the position without a `time` — until it has seen one
    RMC (it keeps that date).

`bad_checksum`, `truncated` and `garbage` spoil a receiver's output as a bad line does.
Careful: gpsd accepts a complete sentence *without* a checksum, so cutting off only the
`*hh` does not make a sentence bad; `truncated` cuts into the fields.
"""

import math
import random
import time
from dataclasses import dataclass

NS = 1_000_000_000
KNOT_MPS = 1852 / 3600
EARTH_RADIUS_M = 6_371_008.8  # mean radius: distances along a walk, not geodesy
MAX_USED = 12  # GSA lists at most 12 satellites


@dataclass(frozen=True)
class SkySample:
    """What the receiver knows at one moment."""

    lat: float  # degrees
    lon: float
    alt: float = 0.0  # metres above mean sea level
    speed: float = 0.0  # m/s over ground
    heading: float = 0.0  # degrees from true north
    fix: bool = True
    sats: int = 8  # satellites used (0..12)
    hdop: float = 0.9
    with_time: bool = True  # False: the receiver does not know the date yet (no RMC)
    three_d: bool = True  # False: a 2D fix (no altitude)

    def __post_init__(self):
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError(f"no such place: {self.lat}, {self.lon}")
        if not 0 <= self.sats <= MAX_USED:
            raise ValueError(f"sats must be 0..{MAX_USED}")
        if not self.hdop > 0:
            raise ValueError("hdop must be positive")


@dataclass(frozen=True)
class Waypoint:
    at_s: float  # seconds from the start of the path
    lat: float
    lon: float
    alt: float = 0.0


class SkyPath:
    """Where the receiver is at any moment: straight between waypoints, still before the
    first and after the last. `fix_lost` lists (from_s, to_s) spans without a fix."""

    def __init__(self, waypoints, *, sats: int = 8, hdop: float = 0.9, fix_lost=()):
        self.waypoints = sorted(waypoints, key=lambda point: point.at_s)
        if not self.waypoints:
            raise ValueError("a path needs a waypoint")
        self.sats, self.hdop, self.fix_lost = sats, hdop, tuple(fix_lost)

    @property
    def duration_s(self) -> float:
        return self.waypoints[-1].at_s - self.waypoints[0].at_s

    def sample_at(self, offset_ns: int) -> SkySample:
        at_s = offset_ns / NS
        fix = not any(start <= at_s < end for start, end in self.fix_lost)
        points = self.waypoints
        if at_s <= points[0].at_s or len(points) == 1:
            return self._still(points[0], fix)
        if at_s >= points[-1].at_s:
            return self._still(points[-1], fix)
        for a, b in zip(points, points[1:]):
            if a.at_s <= at_s < b.at_s:
                share = (at_s - a.at_s) / (b.at_s - a.at_s)
                return SkySample(lat=a.lat + (b.lat - a.lat) * share, lon=a.lon + (b.lon - a.lon) * share,
                                 alt=a.alt + (b.alt - a.alt) * share, speed=distance_m(a, b) / (b.at_s - a.at_s),
                                 heading=bearing_deg(a, b), fix=fix, sats=self.sats, hdop=self.hdop)
        raise AssertionError("unreachable: the waypoints are sorted")

    def _still(self, point: Waypoint, fix: bool) -> SkySample:
        return SkySample(lat=point.lat, lon=point.lon, alt=point.alt, fix=fix, sats=self.sats, hdop=self.hdop)


def distance_m(a, b) -> float:
    """Great-circle distance between two points with .lat/.lon (haversine)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlam = phi2 - phi1, math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a, b) -> float:
    """Initial bearing from a to b, degrees from true north, 0..360."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dlam = math.radians(b.lon - a.lon)
    y = math.sin(dlam) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlam)
    return math.degrees(math.atan2(y, x)) % 360.0


# --- sentences -------------------------------------------------------------------------------


def checksum(body: str) -> str:
    """NMEA's checksum: the XOR of the characters between '$' and '*', two hex digits."""
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return f"{value:02X}"


def sentence(body: str) -> str:
    """'GPGGA,…' -> '$GPGGA,…*hh\\r\\n'."""
    return f"${body}*{checksum(body)}\r\n"


def sentences_at(utc_ns: int, sample: SkySample) -> list[str]:
    """One reporting cycle for the moment utc_ns: RMC (unless the date is unknown), GSA,
    GSV…, GGA (see the module's docstring for why that order)."""
    clock, date = _time_of_day(utc_ns), _date(utc_ns)
    out = []
    if sample.fix:
        lat, ns = _angle(sample.lat, 2, "NS")
        lon, ew = _angle(sample.lon, 3, "EW")
        if sample.with_time:
            out.append(sentence(f"GPRMC,{clock},A,{lat},{ns},{lon},{ew},{sample.speed / KNOT_MPS:.3f},"
                                f"{sample.heading % 360:.2f},{date},,,A"))
        vdop = sample.hdop * 1.5
        out.append(_gsa(3 if sample.three_d else 2, range(1, sample.sats + 1),
                        f"{math.hypot(sample.hdop, vdop):.2f},{sample.hdop:.2f},{vdop:.2f}"))
        out += _gsv(in_view=sample.sats + 2)  # two low satellites seen but not used
        altitude = f"{sample.alt:.2f},M" if sample.three_d else ","
        out.append(sentence(f"GPGGA,{clock},{lat},{ns},{lon},{ew},1,{sample.sats:02d},{sample.hdop:.2f},"
                            f"{altitude},,,,"))
    else:
        if sample.with_time:
            out.append(sentence(f"GPRMC,{clock},V,,,,,,,{date},,,N"))
        out.append(_gsa(1, (), ",,"))
        out += _gsv(in_view=0)
        out.append(sentence(f"GPGGA,{clock},,,,,0,00,,,,,,,"))
    return out


def _gsa(mode: int, used, dops: str) -> str:
    """Fix mode, the satellites used (12 fields, empty ones too), then PDOP,HDOP,VDOP."""
    prns = [f"{prn:02d}" for prn in used]
    return sentence(",".join(["GPGSA", "A", str(mode), *prns, *[""] * (MAX_USED - len(prns)), dops]))


def _gsv(in_view: int) -> list[str]:
    """Satellites in view, four to a sentence (PRN, elevation, azimuth, SNR)."""
    satellites = [f"{prn:02d},{15 + (prn * 7) % 70:02d},{(prn * 47) % 360:03d},{35 + prn % 10:02d}"
                  for prn in range(1, in_view + 1)]
    groups = [satellites[i:i + 4] for i in range(0, len(satellites), 4)] or [[]]
    return [sentence(",".join([f"GPGSV,{len(groups)},{number},{in_view:02d}", *group]))
            for number, group in enumerate(groups, 1)]


def _angle(value: float, degree_digits: int, hemispheres: str) -> tuple[str, str]:
    """Degrees -> ('ddmm.mmmmm', 'N'): counted in 1e-5 minutes so that 59.999995' carries
    into the next degree instead of printing 60.00000."""
    units = round(abs(value) * 60 * 100_000)
    degrees, rest = divmod(units, 60 * 100_000)
    minutes, fraction = divmod(rest, 100_000)
    return f"{degrees:0{degree_digits}d}{minutes:02d}.{fraction:05d}", hemispheres[1 if value < 0 else 0]


def _time_of_day(utc_ns: int) -> str:
    seconds, ns = divmod(utc_ns, NS)
    return time.strftime("%H%M%S", time.gmtime(seconds)) + f".{ns // 10_000_000:02d}"


def _date(utc_ns: int) -> str:
    return time.strftime("%d%m%y", time.gmtime(utc_ns // NS))


# --- a receiver's bad lines --------------------------------------------------------------------


def bad_checksum(line: str) -> str:
    """The same sentence with a checksum that does not match."""
    body, _, rest = line.partition("*")
    wrong = int(rest[:2], 16) ^ 0x5A
    return f"{body}*{wrong:02X}\r\n"


def truncated(line: str, keep: float = 0.5) -> str:
    """The start of a sentence, as when the line dropped bytes: cut into its fields, with
    no checksum and no line end (the next sentence's '$' starts afresh)."""
    body = line.partition("*")[0]
    return body[:max(1, int(len(body) * keep))]


def garbage(count: int, seed: int = 0) -> bytes:
    """Line noise: random bytes."""
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(count))
