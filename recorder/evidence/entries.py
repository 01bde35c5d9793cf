"""The evidence vocabulary: ledger entry types, their bodies, the segment manifest.

The writing side (the agent, the sealer) builds every document through the
functions here, and the verifier checks documents against the member tables here,
so both read from one definition of the format (docs/FORMATS.md).
"""

FORMAT_VERSION = 5  # of the store as a whole; a verifier of version 5 reads versions 1 to 5
LEDGER_VERSION = 5  # what this agent writes
MANIFEST_VERSION = 5
LEDGER_VERSIONS = frozenset({1, 2, 3, 4, 5})  # what the verifier reads
MANIFEST_VERSIONS = frozenset({1, 2, 3, 4, 5})
# -- MANIFEST v5: encryption at rest (docs/ENCRYPTION.md). A v5 manifest may carry
# `encryption` (its file is then age v1 ciphertext; init, fragments and tail describe the
# plaintext MP4); ledger entries are unchanged by it.
AGE_FORMAT = "age-encryption.org/v1"
ENCRYPTION_MEMBERS = {"format": str, "recipients": list, "header_size": int, "aligned": bool,
                      "final_chunk": bool, "plaintext": dict, "index": dict}
MANIFEST_TYPE = "segment-manifest"

# Members every ledger entry has, and their JSON types.
ENTRY_MEMBERS = {
    "v": int, "index": int, "prev": str, "device_id": str,
    "type": str, "at": dict, "body": dict, "sig": str,
}

# Members each entry type's body must have (others may follow; a verifier ignores them).
BODY_MEMBERS_V1 = {
    "device_init": {"public_key": str, "agent_version": str},
    "agent_start": {},
    "agent_stop": {},
    "session_start": {"session_id": str, "officer_id": str, "cause": str},
    "segment": {
        "session_id": str, "seq": int, "path": str, "file_sha256": str, "file_size": int,
        "manifest": str, "manifest_sha256": str, "start_mono_us": int, "end_mono_us": int,
        "duration_us": int, "frames": int,
    },
    "session_stop": {
        "session_id": str, "cause": str, "segments": int, "frames": int,
        "duration_us": int, "end": dict,
    },
    "transition": {"from": str, "to": str, "cause": str},
    "mark": {"session_id": str, "number": int, "cause": str},
    "stealth": {"enabled": bool, "cause": str},
}
# Version 2: the capture sources in agent_start and session_start (null when none opened).
CAPTURE = {"capture": (dict, type(None))}
BODY_MEMBERS_V2 = {
    **BODY_MEMBERS_V1,
    "agent_start": {**BODY_MEMBERS_V1["agent_start"], **CAPTURE},
    "session_start": {**BODY_MEMBERS_V1["session_start"], **CAPTURE},
}
# Version 3: the entries of interruptions, recovery and explanations; session_stop says what
# the pipeline counted.
BODY_MEMBERS_V3 = {
    **BODY_MEMBERS_V2,
    "session_stop": {**BODY_MEMBERS_V2["session_stop"], "pipeline": (dict, type(None))},
    # a torn last line (a power cut mid-append) set aside: the line it names keeps its bytes
    "repair": {"line": int, "size": int, "sha256": str},
    # recording cut by a cause: battery, storage, fault (the running agent), power_loss, crash
    # (found by the next start, which also seals what the dead run left)
    "interruption": {"session_id": (str, type(None)), "cause": str, "detail": str},
    # the window after a resume in which the officer states the reason (regulation art. 8)
    "explanation": {"session_id": str, "interruption": str, "start": dict, "end": dict,
                    "ended_by": str, "speech_ms": int, "spoke": bool},
    # a warning given to the officer (battery or storage running low)
    "warning": {"kind": str, "level": str, "detail": str},
    # the supervisor gave up restarting the agent (the unit head must be told)
    "unrecoverable": {"cause": str, "detail": str, "attempts": int},
}
# Version 4: where and when (docs/TIME.md, docs/GNSS.md). Every time stamp states its error
# bound; a mark carries the position at the mark (a track point, `fix` "none" without one);
# a step of the wall clock is an entry of its own.
POSITION = (dict, type(None))
BODY_MEMBERS_V4 = {
    **BODY_MEMBERS_V3,
    "mark": {**BODY_MEMBERS_V3["mark"], "position": POSITION},
    # the wall clock jumped by step_us (media time did not): mappings before and after
    "clock_step": {"step_us": int, "cause": str, "before": dict, "after": dict},
}
# Version 5: the dock (docs/DOCK.md). Files leave the device only under a dock receipt: the
# receipt is kept in the store (receipts/<sha256>.json) and a `release` entry names it, the
# head it witnessed and every file freed, before a byte is freed.
BODY_MEMBERS_V5 = {
    **BODY_MEMBERS_V4,
    "release": {"receipt": str, "receipt_sha256": str, "head": str, "dock": str, "files": list},
    # checkout at the dock: the device's wall clock against the dock's, measured over the
    # link (recorded as found: past time stamps are never rewritten)
    "clock_offset": {"dock": str, "offset_us": int, "error_us": int, "rtt_us": int, "samples": int,
                     "dock_clock": dict},
    # the officer the dock assigned for the next shift (a document it signed, kept in the
    # identity directory): sessions started within its window carry that officer
    "assignment": {"officer_id": str, "assignment_sha256": str, "valid_from": str, "valid_until": str,
                   "dock": str},
}
BODY_MEMBERS = {1: BODY_MEMBERS_V1, 2: BODY_MEMBERS_V2, 3: BODY_MEMBERS_V3, 4: BODY_MEMBERS_V4, 5: BODY_MEMBERS_V5}
ENTRY_TYPES = frozenset(BODY_MEMBERS_V5)

# Version 4 time stamps: `clock` is one of clock.CLOCK_SOURCES and `error_us` the bound
# (null when none can be stated).
# A track point's fix, and the track's status over a segment.
FIX_KINDS = ("3d", "2d", "none")
TRACK_STATUSES = ("fix", "partial", "no-fix", "no-receiver", "unknown")


# What the pipeline counts of a session's packets (kept in memory before version 3):
#   late_packets             arrived after a later packet of another stream had gone to the muxer
#   dropped_before_keyframe  video before the session's first keyframe (undecodable), and audio
#                            before its first frame: not recorded
PIPELINE_COUNTS = ("late_packets", "dropped_before_keyframe")


# -- ledger entry bodies ------------------------------------------------------------------

def device_init(public_key_pem: str, agent_version: str) -> dict:
    return {"public_key": public_key_pem, "agent_version": agent_version}


def agent_start(agent_version: str, pid: int, config_sha256: str, capture: dict | None,
                boot_id: str | None = None, monotonic: str | None = None) -> dict:
    """capture: the sources the run records from (capture/body.py `capture_record`), or
    None when none could be opened. boot_id: the kernel's id of this boot — the next start
    tells a crash (same boot) from a power loss (another boot) by it. monotonic: which
    monotonic clock the run's `mono_us` are on (clock.Clock.monotonic_id)."""
    body = {"agent_version": agent_version, "pid": pid, "config_sha256": config_sha256, "capture": capture}
    body = body if boot_id is None else {**body, "boot_id": boot_id}
    return body if monotonic is None else {**body, "monotonic": monotonic}


def agent_stop(reason: str) -> dict:
    return {"reason": reason}


def session_start(session_id: str, officer_id: str, cause: str, prerecord: dict,
                  video: dict, audio: dict | None, capture: dict | None, resumes: dict | None = None) -> dict:
    """resumes: {"session_id", "interruption": INDEX:SHA256} of the session an interruption
    cut, when this one records on after it."""
    body = {"session_id": session_id, "officer_id": officer_id, "cause": cause,
            "prerecord": prerecord, "video": video, "audio": audio, "capture": capture}
    return body if resumes is None else {**body, "resumes": resumes}


def session_stop(session_id: str, cause: str, segments: int, frames: int, duration_us: int,
                 end: dict, marks: int, pipeline: dict | None = None) -> dict:
    """pipeline: what the pipeline counted of the session's packets (PIPELINE_COUNTS), or
    None when unknown (a session a dead run left)."""
    return {"session_id": session_id, "cause": cause, "segments": segments, "frames": frames,
            "duration_us": duration_us, "end": end, "marks": marks, "pipeline": pipeline}


def segment(session_id: str, seq: int, path: str, file_sha256: str, file_size: int, manifest: str,
            manifest_sha256: str, start_mono_us: int, end_mono_us: int, frames: int) -> dict:
    return {"session_id": session_id, "seq": seq, "path": path, "file_sha256": file_sha256,
            "file_size": file_size, "manifest": manifest, "manifest_sha256": manifest_sha256,
            "start_mono_us": start_mono_us, "end_mono_us": end_mono_us,
            "duration_us": end_mono_us - start_mono_us, "frames": frames}


def transition(source: str, target: str, cause: str, session_id: str | None, detail: str | None = None) -> dict:
    """`detail` says what happened when the cause alone does not (a fault's error)."""
    body = {"from": source, "to": target, "cause": cause, "session_id": session_id}
    return body if detail is None else {**body, "detail": detail}


def mark(session_id: str, number: int, cause: str, position: dict | None = None) -> dict:
    """position: the track point at the mark (`track_point`; fix "none" when there was no
    fresh fix), or None on a device without a receiver."""
    return {"session_id": session_id, "number": number, "cause": cause, "position": position}


def clock_step(step_us: int, cause: str, before: dict, after: dict) -> dict:
    """before, after: the mappings (clock.TimeMapping.record()) either side of the step."""
    return {"step_us": step_us, "cause": cause, "before": before, "after": after}


def release(receipt: str, receipt_sha256: str, head: str, dock: str, files: list[dict]) -> dict:
    """receipt: the store path of the receipt kept; head: the ledger head it witnessed; dock:
    the SHA-256 of the dock certificate that signed it; files: [{"path", "sha256", "size"}]
    freed under it."""
    return {"receipt": receipt, "receipt_sha256": receipt_sha256, "head": head, "dock": dock,
            "files": [{"path": f["path"], "sha256": f["sha256"], "size": f["size"]} for f in files]}


def clock_offset(dock: str, offset_us: int, error_us: int, rtt_us: int, samples: int, dock_clock: dict,
                 monotonic: str | None = None) -> dict:
    """offset_us: the dock's wall clock minus the device's at the same moment; error_us: the
    bound on that (half the best round trip plus the dock's own stated error); monotonic:
    the monotonic clock it was measured on (a reader carries it back along that clock only)."""
    body = {"dock": dock, "offset_us": offset_us, "error_us": error_us, "rtt_us": rtt_us, "samples": samples,
            "dock_clock": dock_clock}
    return body if monotonic is None else {**body, "monotonic": monotonic}


def assignment(officer_id: str, assignment_sha256: str, valid_from: str, valid_until: str, dock: str) -> dict:
    return {"officer_id": officer_id, "assignment_sha256": assignment_sha256, "valid_from": valid_from,
            "valid_until": valid_until, "dock": dock}


def stealth(enabled: bool, cause: str) -> dict:
    return {"enabled": enabled, "cause": cause}


def repair(line: int, size: int, sha256: str) -> dict:
    return {"line": line, "size": size, "sha256": sha256}


def interruption(session_id: str | None, cause: str, detail: str, **facts) -> dict:
    """facts: what is known of it — `last_recorded` (time stamp of the end of what was
    sealed), `recovered` (segments sealed from what a dead run left), `lost` …"""
    return {"session_id": session_id, "cause": cause, "detail": detail, **facts}


def explanation(session_id: str, interruption_ref: str, start: dict, end: dict, ended_by: str,
                speech_ms: int, spoke: bool) -> dict:
    return {"session_id": session_id, "interruption": interruption_ref, "start": start, "end": end,
            "ended_by": ended_by, "speech_ms": speech_ms, "spoke": spoke}


def warning(kind: str, level: str, detail: str) -> dict:
    return {"kind": kind, "level": level, "detail": detail}


def unrecoverable(cause: str, detail: str, attempts: int) -> dict:
    return {"cause": cause, "detail": detail, "attempts": attempts}


# -- where: the track -----------------------------------------------------------------------

def track_point(mono_us: int, wall_us: int, fix: dict | None) -> dict:
    """One sample of the receiver: `fix` is None (no fresh fix: none is presented as current)
    or {"mode", "lat", "lon", "alt", "speed", "track", "sats", "hdop", "eph", "epv",
    "age_ns", "utc_ns"} with floats from the receiver, written here as integers in fixed
    units (1e-7 degree ≈ 1 cm, millimetres, centidegrees) so the document stays exact."""
    point = {"mono_us": mono_us, "wall_us": wall_us}
    if fix is None:
        return {**point, "fix": "none"}
    return {
        **point,
        "fix": "3d" if fix["mode"] >= 3 else "2d",
        "lat_e7": round(fix["lat"] * 1e7), "lon_e7": round(fix["lon"] * 1e7),
        "alt_mm": _scaled(fix.get("alt"), 1000) if fix["mode"] >= 3 else None,
        "speed_mm_s": _scaled(fix.get("speed"), 1000),
        "heading_cdeg": _scaled(fix.get("track"), 100),
        "sats": fix.get("sats"),
        "hdop_c": _scaled(fix.get("hdop"), 100),
        "eph_mm": _scaled(fix.get("eph"), 1000), "epv_mm": _scaled(fix.get("epv"), 1000),
        "age_ms": fix["age_ns"] // 1_000_000,
        "utc_us": None if fix.get("utc_ns") is None else fix["utc_ns"] // 1000,
    }


def _scaled(value, factor: int) -> int | None:
    return None if value is None else round(value * factor)


def track(receiver: str, points: list, period_ms: int = 1000, max_age_ms: int = 2000,
          status: str | None = None, note: str | None = None) -> dict:
    """A segment's track: the receiver's samples every period_ms while it was recorded.
    status says plainly whether it had a fix: all points (fix), some (partial), none
    (no-fix), no receiver at all (no-receiver), or not known (unknown: the run that took
    the samples died before sealing; `note` says so)."""
    with_fix = sum(1 for p in points if p["fix"] != "none")
    if status is None:
        if receiver == "none":
            status = "no-receiver"
        else:
            status = "no-fix" if with_fix == 0 else "fix" if with_fix == len(points) else "partial"
    document = {"receiver": receiver, "period_ms": period_ms, "max_age_ms": max_age_ms, "status": status,
                "fix_ms": with_fix * period_ms, "points": points}
    return document if note is None else {**document, "note": note}


# -- the segment manifest -------------------------------------------------------------------

def manifest(*, device_id: str, officer_id: str, session_id: str, seq: int, file_name: str,
             layout: dict, start: dict, end: dict, video: dict, audio: dict | None,
             prerecord: dict | None, notes: list, pipeline: dict | None = None,
             recovered: dict | None = None, clock: list | None = None, track: dict | None = None,
             encryption: dict | None = None) -> dict:
    """The unsigned manifest; `layout` is evidence.bmff.hash_layout of the file.
    pipeline (version 3): PIPELINE_COUNTS over this segment (segment 1 also counts what came
    before it).
    recovered (version 3): set when the segment was sealed after a crash or a power cut
    (seal/recovery.py) — the cause, the file's size as found, and the torn bytes set aside.
    clock (version 4): the mappings from monotonic time to UTC that held while it was
    recorded (clock.TimeMapping.record()), oldest first.
    track (version 4): where it was recorded (`track`).
    encryption (version 5): set when the file is age ciphertext (`encryption`); `layout`'s
    file is then the ciphertext, its init/fragments/tail the plaintext's."""
    document = {
        "v": MANIFEST_VERSION,
        "type": MANIFEST_TYPE,
        "device_id": device_id,
        "officer_id": officer_id,
        "session_id": session_id,
        "seq": seq,
        "file": {"name": file_name, **layout["file"]},
        "init": layout["init"],
        "fragments": layout["fragments"],
        "tail": layout["tail"],
        "start": start,
        "end": end,
        "duration_us": end["mono_us"] - start["mono_us"],
        "video": video,
        "audio": audio,
        "prerecord": prerecord,
        "notes": notes,
    }
    if pipeline is not None:
        document["pipeline"] = pipeline
    if recovered is not None:
        document["recovered"] = recovered
    if clock is not None:
        document["clock"] = clock
    if track is not None:
        document["track"] = track
    if encryption is not None:
        document["encryption"] = encryption
    return document


def encryption(recipients: list[str], header_size: int, final_chunk: bool, plaintext: dict, index: dict) -> dict:
    """The manifest's `encryption` (version 5): to whom the file is encrypted, its age
    header's size (header + payload nonce: where chunk 0 starts), whether it ends with age's
    final chunk (false: sealed after a power cut), the plaintext's {size, sha256} and the
    fragment index's {name, size, sha256}. `aligned`: every fragment but a complete file's
    last ends on a 64 KiB chunk boundary (a `free` box fills the chunk)."""
    return {"format": AGE_FORMAT, "recipients": list(recipients), "header_size": header_size, "aligned": True,
            "final_chunk": final_chunk, "plaintext": plaintext, "index": index}
