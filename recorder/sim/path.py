"""Where the simulated body is: a path on the globe from a script's steps, sampled at any
moment of the script (what the simulated sky, sim/sky.py, tells the receiver).

    at 31.2304,121.4737 @0s       standing there from T on
    walk 31.2310,121.4750 60s @10s   walking from where it is to there, in a straight line,
                                  arriving after 60 s
    indoors 30s @80s              in a building: no fix from T for D (for good without D)

Before any step it stands at [gnss] simulated_start. A walk goes straight in latitude and
longitude at a constant speed (the great-circle distance over its time) and heading, as
sim/nmea.py's SkyPath does between waypoints.
"""

from typing import NamedTuple

from ..config.settings import parse_lat_lon
from .nmea import Waypoint, bearing_deg, distance_m

ALTITUDE_M = 12.0  # street level, above mean sea level


class PathStep(NamedTuple):
    at_ns: int
    kind: str  # at | walk | indoors
    lat: float = 0.0
    lon: float = 0.0
    duration_ns: int | None = None  # walk: how long; indoors: how long (None: for good)


class Place(NamedTuple):
    """The truth at a moment: where, how fast, which way, and whether the sky is visible."""

    lat: float
    lon: float
    alt: float
    speed: float  # m/s
    heading: float  # degrees from north
    sky_visible: bool


class Path:
    def __init__(self, start: tuple[float, float], steps=()):
        self.start = start
        self.moves = sorted((s for s in steps if s.kind in ("at", "walk")), key=lambda s: s.at_ns)
        self.indoors = sorted((s for s in steps if s.kind == "indoors"), key=lambda s: s.at_ns)

    def place(self, t_ns: int) -> Place:
        """Where the body is t_ns into the script."""
        lat, lon = self.start
        speed = heading = 0.0
        for move in self.moves:
            if move.at_ns > t_ns:
                break
            if move.kind == "at":
                lat, lon, speed = move.lat, move.lon, 0.0
                continue
            elapsed = t_ns - move.at_ns
            if elapsed >= move.duration_ns:
                lat, lon, speed = move.lat, move.lon, 0.0
                continue
            here, there = Waypoint(0, lat, lon), Waypoint(0, move.lat, move.lon)
            heading = bearing_deg(here, there)
            speed = distance_m(here, there) / (move.duration_ns / 1e9)
            share = elapsed / move.duration_ns
            lat, lon = lat + (move.lat - lat) * share, lon + (move.lon - lon) * share
        return Place(lat, lon, ALTITUDE_M, speed, heading, not self._indoors(t_ns))

    def _indoors(self, t_ns: int) -> bool:
        return any(s.at_ns <= t_ns and (s.duration_ns is None or t_ns < s.at_ns + s.duration_ns)
                   for s in self.indoors)


def parse_path_step(kind: str, args: list[str], at_ns: int, parse_duration) -> PathStep:
    if kind == "at":
        if len(args) != 1:
            raise ValueError("expected 'at LAT,LON @T'")
        return PathStep(at_ns, "at", *parse_lat_lon(args[0]))
    if kind == "walk":
        if len(args) != 2:
            raise ValueError("expected 'walk LAT,LON D @T' (D: how long the walk takes)")
        duration = parse_duration(args[1], "walk")
        if duration <= 0:
            raise ValueError("a walk takes some time")
        return PathStep(at_ns, "walk", *parse_lat_lon(args[0]), duration)
    if len(args) > 1:
        raise ValueError("expected 'indoors [D] @T' (D: how long; for good without it)")
    return PathStep(at_ns, "indoors", duration_ns=parse_duration(args[0], "duration") if args else None)
