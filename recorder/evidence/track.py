"""Where and when, as a version 4 manifest states them: the mappings from monotonic time
to UTC (`clock`) and the 1 Hz track (`track`) are checked against the manifest's own times,
and summed per session (the share of time with a fix, the worst stated clock error).

The rules (docs/FORMATS.md, "Track" and "Clock mappings"):
  - mappings start no later than the segment, in order, each with a known source and a
    non-negative or null error; the manifest's start and end are placed by them exactly;
  - track points lie within the segment, in order, one period apart at most, each placed
    on the wall clock by the mappings; a point with a fix has coordinates on the globe and
    an age no greater than the track's max_age_ms (a stale position is never a fix);
  - fix_ms and status agree with the points.
"""

from dataclasses import dataclass, field

from ..clock import CLOCK_SOURCES
from .entries import FIX_KINDS, TRACK_STATUSES

MAPPING_MEMBERS = {"from_mono_us": int, "offset_us": int, "source": str, "drift_ppb": int}
TRACK_MEMBERS = {"receiver": str, "period_ms": int, "max_age_ms": int, "status": str, "fix_ms": int, "points": list}
FIX_MEMBERS = {"lat_e7": int, "lon_e7": int, "age_ms": int}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def mappings_problem(mappings) -> str | None:
    if not isinstance(mappings, list) or not mappings:
        return "clock is not a non-empty list of mappings"
    previous = None
    for i, m in enumerate(mappings):
        if not isinstance(m, dict) or any(not _is_int(m.get(k)) if t is int else not isinstance(m.get(k), t)
                                          for k, t in MAPPING_MEMBERS.items()):
            return f"clock[{i}] lacks a member or has one of the wrong type"
        if m["source"] not in CLOCK_SOURCES:
            return f"clock[{i}].source {m['source']!r} is not one of {', '.join(CLOCK_SOURCES)}"
        error = m.get("error_us", "missing")
        if error is not None and (not _is_int(error) or error < 0):
            return f"clock[{i}].error_us {error!r} is not a non-negative integer or null"
        if previous is not None and m["from_mono_us"] < previous:
            return f"clock[{i}] starts before the mapping it follows"
        previous = m["from_mono_us"]
    return None


def mapping_at(mappings: list, mono_us: int) -> dict:
    held = mappings[0]
    for m in mappings:
        if m["from_mono_us"] <= mono_us:
            held = m
    return held


def placement_problem(mappings: list, stamp: dict, what: str) -> str | None:
    """A stamp placed on the wall clock by the mapping that held at its moment."""
    m = mapping_at(mappings, stamp["mono_us"])
    if stamp["wall_us"] != stamp["mono_us"] + m["offset_us"]:
        return (f"{what} wall_us {stamp['wall_us']} is not mono_us + the offset of the mapping that held "
                f"({stamp['mono_us']} + {m['offset_us']})")
    if stamp.get("clock") != m["source"]:
        return f"{what} says clock {stamp.get('clock')!r}, the mapping that held says {m['source']!r}"
    return None


def track_problems(track, start_us: int, end_us: int, mappings: list | None) -> list[str]:
    if not isinstance(track, dict) or any(not _is_int(track.get(k)) if t is int else not isinstance(track.get(k), t)
                                          for k, t in TRACK_MEMBERS.items()):
        return ["track lacks a member or has one of the wrong type"]
    problems = []
    if track["status"] not in TRACK_STATUSES:
        problems.append(f"status {track['status']!r} is not one of {', '.join(TRACK_STATUSES)}")
    period, max_age = track["period_ms"] * 1000, track["max_age_ms"]
    if period <= 0:
        return problems + [f"period_ms {track['period_ms']} is not positive"]
    previous, with_fix = None, 0
    for i, point in enumerate(track["points"]):
        wrong = _point_problem(point, max_age)
        if wrong is None:
            mono = point["mono_us"]
            if not start_us - period < mono < end_us + period:
                wrong = f"mono_us {mono} is outside the segment ({start_us} to {end_us})"
            elif previous is not None and not 0 < mono - previous <= period + period // 2:
                wrong = f"mono_us {mono} is not after the point before it by at most a period"
            elif mappings is not None and point["wall_us"] != mono + mapping_at(mappings, mono)["offset_us"]:
                wrong = f"wall_us {point['wall_us']} is not placed by the clock mappings"
            previous = mono
            with_fix += point["fix"] != "none"
        if wrong:
            problems.append(f"points[{i}]: {wrong}")
    if not problems:
        problems += _summary_problems(track, with_fix)
    return problems


def _point_problem(point, max_age_ms: int) -> str | None:
    if not isinstance(point, dict) or not _is_int(point.get("mono_us")) or not _is_int(point.get("wall_us")):
        return "not a point with integer mono_us and wall_us"
    if point.get("fix") not in FIX_KINDS:
        return f"fix {point.get('fix')!r} is not one of {', '.join(FIX_KINDS)}"
    if point["fix"] == "none":
        return None if "lat_e7" not in point else "a position on a point without a fix"
    if any(not _is_int(point.get(k)) for k in FIX_MEMBERS):
        return "a fix without integer lat_e7, lon_e7 and age_ms"
    if not (-900_000_000 <= point["lat_e7"] <= 900_000_000 and -1_800_000_000 <= point["lon_e7"] <= 1_800_000_000):
        return f"({point['lat_e7']}, {point['lon_e7']}) is not on the globe"
    if not 0 <= point["age_ms"] <= max_age_ms:
        return f"a position {point['age_ms']} ms old presented as a fix (max_age_ms {max_age_ms})"
    return None


def _summary_problems(track: dict, with_fix: int) -> list[str]:
    points, status = track["points"], track["status"]
    problems = []
    if track["fix_ms"] != with_fix * track["period_ms"]:
        problems.append(f"fix_ms {track['fix_ms']} is not {with_fix} points with a fix × {track['period_ms']} ms")
    expected = {"no-receiver": (0,), "unknown": (with_fix,), "no-fix": (0,), "fix": (len(points),),
                "partial": tuple(range(1, len(points)))}.get(status, ())
    if points and with_fix not in expected or (status == "fix" and not points):
        problems.append(f"status {status!r} but {with_fix} of {len(points)} points have a fix")
    return problems


@dataclass
class WhereAndWhen:
    """A session's sums: time sampled and with a fix, and the worst error bound stated."""

    sampled_ms: int = 0
    fix_ms: int = 0
    worst_error_us: int | None = 0  # None: some time had no bound at all
    sources: set = field(default_factory=set)  # empty: nothing of version 4 stated a source
    steps: int = 0

    def add_manifest(self, manifest: dict):
        track = manifest.get("track")
        if isinstance(track, dict) and isinstance(track.get("points"), list) and _is_int(track.get("period_ms")):
            if track.get("status") not in ("no-receiver", "unknown"):
                self.sampled_ms += len(track["points"]) * track["period_ms"]
                self.fix_ms += track.get("fix_ms", 0) if _is_int(track.get("fix_ms")) else 0
        for stamp in (manifest.get("start"), manifest.get("end")):
            self.add_stamp(stamp)

    def add_stamp(self, stamp):
        if not isinstance(stamp, dict) or "error_us" not in stamp:
            return
        self.sources.add(stamp.get("clock"))
        error = stamp["error_us"]
        if error is None or self.worst_error_us is None:
            self.worst_error_us = None
        elif _is_int(error):
            self.worst_error_us = max(self.worst_error_us, error)

    def summary(self) -> dict | None:
        if not self.sources:
            return None  # written before version 4: nothing stated
        return {
            "fix_share": None if not self.sampled_ms else round(self.fix_ms / self.sampled_ms, 3),
            "sampled_ms": self.sampled_ms, "fix_ms": self.fix_ms,
            "worst_clock_error_us": self.worst_error_us,
            "clock_sources": sorted(s for s in self.sources if isinstance(s, str)),
            "clock_steps": self.steps,
        }
