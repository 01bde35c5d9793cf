"""A session's track as GPX 1.1 (https://www.topografix.com/GPX/1/1/), for maps and for the
case file: `recorder export --gpx SESSION`.

Only what the device signed goes in: entries whose signature verifies, and manifests whose
bytes are the ones the ledger sealed and whose signature verifies; anything left out is
named in the file's description. The track has one `trkseg` per stretch with a fix (a new
one wherever the fix was lost, or recording stopped); a point's time is the receiver's UTC
of its fix where the receiver gave one, else the device's wall time of the sample less the
fix's age. Marks and the interruption that cut the session are waypoints: a mark where it
was made (when there was a fix), the interruption at the last position before it. A
session with no fix at all is still a valid GPX: no points, and its description says why.
"""

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ..clock import iso_utc
from .canonical import sha256_hex
from .documents import signature_valid
from .files import NotRegular, read_regular, safe_relative
from .layout import StoreLayout
from .trusted import find_session, signed_history

GPX_NS = "http://www.topografix.com/GPX/1/1"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd"

TEXTS = {
    "zh-CN": {
        "mark": "标记 {number}", "interruption": "中断：{cause}", "session": "执法记录 {session}",
        "mark_desc": "原因 {cause}；定位时效 {age} 毫秒", "interruption_desc": "{detail}；位置为中断前最后定位（早 {before} 秒）",
        "summary": "设备 {device}，警员 {officer}；{points} 个定位点，{segments} 段轨迹",
        "no_fix": "整个记录期间无定位：{why}", "mark_no_fix": "标记 {number} 时无定位",
        "left_out": "未采用：{what}（签名或哈希不符）", "no_why": "各片段轨迹状态：{statuses}", "sep": "；",
    },
    "en": {
        "mark": "Mark {number}", "interruption": "Interruption: {cause}", "session": "Recording {session}",
        "mark_desc": "cause {cause}; fix age {age} ms", "interruption_desc": "{detail}; at the last fix before it ({before} s earlier)",
        "summary": "device {device}, officer {officer}; {points} points with a fix in {segments} track segment(s)",
        "no_fix": "no fix during the whole session: {why}", "mark_no_fix": "mark {number}: no fix",
        "left_out": "left out: {what} (signature or hash does not verify)", "no_why": "track status per segment: {statuses}",
        "sep": "; ",
    },
}


@dataclass
class SessionTrack:
    session_id: str
    device_id: str
    officer_id: str
    points: list = field(default_factory=list)  # track points of trusted manifests, in order
    statuses: list = field(default_factory=list)  # each trusted manifest's track status
    marks: list = field(default_factory=list)  # trusted mark entries
    interruption: dict | None = None
    left_out: list = field(default_factory=list)  # what could not be trusted


def read_session_track(store_root, session_id: str, public_key_path: Path | None = None) -> SessionTrack:
    signed = signed_history(store_root, public_key_path)
    store = signed.store
    session_id, session = find_session(signed, session_id)
    left_out = [f"ledger entry {index}" for index in signed.rejected]
    start_body = session.start["body"]
    result = SessionTrack(session_id, session.start.get("device_id", ""), start_body.get("officer_id", ""),
                          marks=session.mark_entries, interruption=session.interruption, left_out=left_out)
    for segment in session.segments:
        manifest = trusted_manifest(store, signed.key, segment)
        if manifest is None:
            result.left_out.append(f"segment {segment.get('seq')}")
            continue
        track = manifest.get("track")
        if isinstance(track, dict):
            result.statuses.append(track.get("status"))
            result.points += [p for p in track.get("points", []) if isinstance(p, dict)]
        else:
            result.statuses.append("not recorded (format before 4)")
    return result


def trusted_manifest(store: StoreLayout, key, segment: dict) -> dict | None:
    relative = segment.get("manifest")
    path = safe_relative(store.root, relative) if isinstance(relative, str) else None
    if path is None:
        return None
    try:
        data = read_regular(store.root / relative)
    except (OSError, NotRegular):
        return None
    if sha256_hex(data) != segment.get("manifest_sha256"):
        return None
    try:
        manifest = json.loads(data)
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) and signature_valid(key, manifest) else None


def _degrees(e7: int) -> str:
    """1e-7 degrees as exact decimal text (no float on the way)."""
    sign = "-" if e7 < 0 else ""
    whole, frac = divmod(abs(e7), 10_000_000)
    return f"{sign}{whole}.{frac:07d}"


def _fix_time_us(point: dict) -> int:
    if isinstance(point.get("utc_us"), int):
        return point["utc_us"]
    return point["wall_us"] - point.get("age_ms", 0) * 1000


def _stretches(points: list) -> list[list]:
    """Runs of points with a fix, split where the fix was lost or sampling stopped."""
    stretches, current, last_mono = [], [], None
    for point in points:
        broken = last_mono is not None and point["mono_us"] - last_mono > 1_500_000
        if point.get("fix") in ("2d", "3d") and not broken:
            current.append(point)
        elif point.get("fix") in ("2d", "3d"):
            if current:
                stretches.append(current)
            current = [point]
        elif current:
            stretches.append(current)
            current = []
        last_mono = point["mono_us"]
    if current:
        stretches.append(current)
    return stretches


def _sub(parent, tag: str, text: str | None = None, **attrs):
    element = ET.SubElement(parent, f"{{{GPX_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _position(parent, tag: str, point: dict, time_us: int, name: str | None = None, desc: str | None = None):
    """A wpt or trkpt, its children in the schema's order."""
    element = _sub(parent, tag, lat=_degrees(point["lat_e7"]), lon=_degrees(point["lon_e7"]))
    if isinstance(point.get("alt_mm"), int):
        _sub(element, "ele", f"{point['alt_mm'] / 1000:.3f}")
    _sub(element, "time", iso_utc(time_us * 1000))
    if name:
        _sub(element, "name", name)
    if desc:
        _sub(element, "desc", desc)
    _sub(element, "fix", point["fix"])
    if isinstance(point.get("sats"), int):
        _sub(element, "sat", str(point["sats"]))
    if isinstance(point.get("hdop_c"), int):
        _sub(element, "hdop", f"{point['hdop_c'] / 100:.2f}")
    return element


def session_gpx(track: SessionTrack, language: str = "zh-CN") -> bytes:
    t = TEXTS[language]
    ET.register_namespace("", GPX_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(f"{{{GPX_NS}}}gpx", {"version": "1.1", "creator": "recorder (body-worn camera agent)",
                                           f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION})
    stretches = _stretches(track.points)
    fixes = [p for stretch in stretches for p in stretch]
    notes = [t["summary"].format(device=track.device_id, officer=track.officer_id, points=len(fixes),
                                 segments=len(stretches))]
    if not fixes:
        statuses = ", ".join(str(s) for s in track.statuses) or "-"
        notes.append(t["no_fix"].format(why=t["no_why"].format(statuses=statuses)))
    notes += [t["left_out"].format(what=what) for what in track.left_out]
    waypoints = []
    for mark in track.marks:
        body, position = mark["body"], mark["body"].get("position")
        if isinstance(position, dict) and position.get("fix") in ("2d", "3d"):
            waypoints.append((position, mark["at"]["wall_us"], t["mark"].format(number=body.get("number")),
                              t["mark_desc"].format(cause=body.get("cause"), age=position.get("age_ms"))))
        else:
            notes.append(t["mark_no_fix"].format(number=body.get("number")))
    cut = track.interruption
    if cut is not None:
        cut_mono = cut["at"].get("mono_us", 0)
        before = [p for p in fixes if p["mono_us"] <= cut_mono]
        if before:
            seconds = (cut_mono - before[-1]["mono_us"]) / 1e6
            waypoints.append((before[-1], cut["at"]["wall_us"],
                              t["interruption"].format(cause=cut["body"].get("cause")),
                              t["interruption_desc"].format(detail=cut["body"].get("detail", ""),
                                                            before=f"{seconds:.1f}")))
    metadata = _sub(root, "metadata")
    _sub(metadata, "name", t["session"].format(session=track.session_id))
    _sub(metadata, "desc", t["sep"].join(notes))
    for point, wall_us, name, desc in waypoints:
        _position(root, "wpt", point, wall_us, name, desc)
    if stretches:
        trk = _sub(root, "trk")
        _sub(trk, "name", t["session"].format(session=track.session_id))
        for stretch in stretches:
            segment = _sub(trk, "trkseg")
            for point in stretch:
                _position(segment, "trkpt", point, _fix_time_us(point))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
