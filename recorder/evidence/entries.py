"""The evidence vocabulary: ledger entry types, their bodies, the segment manifest.

The writing side (the agent, the sealer) builds every document through the
functions here, and the verifier checks documents against the member tables here,
so both read from one definition of the format (docs/FORMATS.md).
"""

FORMAT_VERSION = 2  # of the store as a whole; a verifier of version 2 reads versions 1 and 2
LEDGER_VERSION = 2  # what this agent writes
MANIFEST_VERSION = 2
LEDGER_VERSIONS = frozenset({1, 2})  # what the verifier reads
MANIFEST_VERSIONS = frozenset({1, 2})
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
BODY_MEMBERS = {
    1: BODY_MEMBERS_V1,
    2: {**BODY_MEMBERS_V1,
        "agent_start": {**BODY_MEMBERS_V1["agent_start"], **CAPTURE},
        "session_start": {**BODY_MEMBERS_V1["session_start"], **CAPTURE}},
}
ENTRY_TYPES = frozenset(BODY_MEMBERS_V1)


# -- ledger entry bodies ------------------------------------------------------------------

def device_init(public_key_pem: str, agent_version: str) -> dict:
    return {"public_key": public_key_pem, "agent_version": agent_version}


def agent_start(agent_version: str, pid: int, config_sha256: str, capture: dict | None) -> dict:
    """capture: the sources the run records from (capture/body.py `capture_record`), or
    None when none could be opened."""
    return {"agent_version": agent_version, "pid": pid, "config_sha256": config_sha256, "capture": capture}


def agent_stop(reason: str) -> dict:
    return {"reason": reason}


def session_start(session_id: str, officer_id: str, cause: str, prerecord: dict,
                  video: dict, audio: dict | None, capture: dict | None) -> dict:
    return {"session_id": session_id, "officer_id": officer_id, "cause": cause,
            "prerecord": prerecord, "video": video, "audio": audio, "capture": capture}


def session_stop(session_id: str, cause: str, segments: int, frames: int, duration_us: int,
                 end: dict, marks: int) -> dict:
    return {"session_id": session_id, "cause": cause, "segments": segments, "frames": frames,
            "duration_us": duration_us, "end": end, "marks": marks}


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


def mark(session_id: str, number: int, cause: str, position=None) -> dict:
    return {"session_id": session_id, "number": number, "cause": cause, "position": position}


def stealth(enabled: bool, cause: str) -> dict:
    return {"enabled": enabled, "cause": cause}


# -- the segment manifest -------------------------------------------------------------------

def manifest(*, device_id: str, officer_id: str, session_id: str, seq: int, file_name: str,
             layout: dict, start: dict, end: dict, video: dict, audio: dict | None,
             prerecord: dict | None, notes: list) -> dict:
    """The unsigned manifest; `layout` is evidence.bmff.hash_layout of the file."""
    return {
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
