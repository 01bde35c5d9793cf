"""Checking what the ledger says of interruptions (format version 3; docs/FORMATS.md,
"Interruptions").

Every session ends either with a stop the officer or the device's shutdown chose, or with
an interruption cause (battery, storage, fault, power_loss, crash) and an `interruption`
entry naming the session; a session that records on after it names that entry in its
`session_start.resumes`, and the `explanation` entry of the window after the resume names
it too. An interruption of a recording with no explanation in which speech was heard is
reported as a warning (regulation art. 8: the officer states the reason on resuming).

Bytes set aside by recovery (`.torn` files) are accounted for here: a recovered manifest
names its torn tail with size and hash, an interruption entry lists what else was set
aside; anything named must be there, as named.
"""

import os
from dataclasses import dataclass, field

from .canonical import sha256_hex
from .files import NotRegular, open_read_only, safe_relative
from .modes import CLEAN_STOPS, INTERRUPTION_CAUSES, STOPS_V1, STOPS_V2


@dataclass
class _Interruption:
    ref: str
    location: str
    session_id: str | None
    cause: str
    resumed_by: str | None = None
    explanations: list = field(default_factory=list)  # explanation bodies naming it


class InterruptionCheck:
    def __init__(self, store, problem):
        self.store, self.problem = store, problem
        self.interruptions: dict[str, _Interruption] = {}  # by INDEX:SHA256
        self.by_session: dict[str, _Interruption] = {}
        self.stops: dict[str, tuple[str, str, int]] = {}  # session -> (cause, location, ledger version)
        self.accounted: set[str] = set()  # store paths of the files set aside that entries name
        self.released: dict[str, dict] = {}  # path -> file record, freed under a dock receipt

    # -- entries, in ledger order ----------------------------------------------------------------
    def session_stop(self, entry: dict, location: str):
        body = entry["body"]
        cause, version = body["cause"], entry["v"]
        self.stops[body["session_id"]] = (cause, location, version)
        known = CLEAN_STOPS | {1: STOPS_V1, 2: STOPS_V2}.get(version, INTERRUPTION_CAUSES)
        if cause not in known:
            self.problem("bad-stop-cause", location, f"session_stop cause {cause!r} is neither a stop nor an "
                         "interruption the format defines", body["session_id"])

    def interruption(self, entry: dict, location: str, ref: str):
        body = entry["body"]
        sid, cause = body["session_id"], body["cause"]
        if cause not in INTERRUPTION_CAUSES:
            self.problem("interruption-mismatch", location, f"cause {cause!r} is not an interruption cause", sid)
        record = _Interruption(ref, location, sid, cause)
        self.interruptions[ref] = record
        if sid is not None:
            stop = self.stops.get(sid)
            if stop is None:
                self.problem("interruption-mismatch", location,
                             f"names session {sid}, which has no session_stop before it", sid)
            elif stop[0] != cause:
                self.problem("interruption-mismatch", location,
                             f"cause {cause!r}, but the session stopped with {stop[0]!r} ({stop[1]})", sid)
            elif sid in self.by_session:
                self.problem("interruption-mismatch", location,
                             f"a second interruption entry for session {sid} ({self.by_session[sid].location})", sid)
            else:
                self.by_session[sid] = record
        self.set_aside_files(body.get("set_aside"), location, sid)

    def session_start(self, entry: dict, location: str):
        resumes = entry["body"].get("resumes")
        if resumes is None:
            return
        sid = entry["body"]["session_id"]
        named = resumes.get("interruption") if isinstance(resumes, dict) else None
        record = self.interruptions.get(named) if isinstance(named, str) else None
        if record is None or record.session_id != resumes.get("session_id"):
            self.problem("bad-resume", location, f"resumes {resumes!r}: no interruption entry of that session "
                         "with that INDEX:SHA256 precedes it", sid)
        elif record.resumed_by is not None:
            self.problem("bad-resume", location, f"the interruption at {record.location} was already resumed "
                         f"by session {record.resumed_by}", sid)
        else:
            record.resumed_by = sid

    def explanation(self, entry: dict, location: str):
        body = entry["body"]
        record = self.interruptions.get(body["interruption"])
        if record is None or record.resumed_by != body["session_id"]:
            self.problem("bad-explanation", location, f"names interruption {body['interruption']} and session "
                         f"{body['session_id']}, which does not resume it", body["session_id"])
            return
        record.explanations.append(body)

    # -- at the end ----------------------------------------------------------------------------
    def finish(self, sessions: dict):
        for sid, (cause, location, _) in self.stops.items():
            if cause in INTERRUPTION_CAUSES and sid not in self.by_session:
                self.problem("interruption-missing", location,
                             f"session {sid} stopped with cause {cause!r} and no interruption entry names it", sid)
        for record in self.interruptions.values():
            if record.session_id is None:
                continue  # nothing was being recorded: nothing to explain
            if any(e["spoke"] for e in record.explanations):
                continue
            if record.resumed_by is None:
                why = "recording did not resume after it"
            elif not record.explanations:
                why = f"session {record.resumed_by} resumed it, but no explanation window was recorded"
            else:
                why = f"no speech was detected in the explanation window of session {record.resumed_by}"
            self.problem("unexplained-interruption", record.location,
                         f"{record.cause} interruption of session {record.session_id}: {why}", record.session_id)

    def summary(self, sid: str) -> dict | None:
        """What a session report says of its interruption, if it had one."""
        record = self.by_session.get(sid)
        if record is None:
            return None
        return {"cause": record.cause, "entry": record.ref, "resumed_by": record.resumed_by,
                "explained": [{"spoke": e["spoke"], "speech_ms": e["speech_ms"], "ended_by": e["ended_by"]}
                              for e in record.explanations]}

    # -- files set aside -----------------------------------------------------------------------
    def set_aside_files(self, names, location: str, sid: str | None) -> set[str]:
        """Files an interruption entry lists as set aside: they must exist (they are kept
        as found; their content is whatever the cut left)."""
        accounted = set()
        for relative in names if isinstance(names, list) else []:
            if not isinstance(relative, str) or safe_relative(self.store.root, relative) is None \
                    or not relative.startswith("media/"):
                self.problem("torn-mismatch", location, f"set_aside names {relative!r}, not a file under media/", sid)
                continue
            if not (self.store.root / relative).is_file() and relative not in self.released:
                self.problem("torn-mismatch", location, f"{relative} was set aside but is not in the store", sid)
            accounted.add(relative)
        self.accounted |= accounted
        return accounted

    def torn_of_manifest(self, manifest: dict, manifest_relative: str, sid: str) -> tuple[str, str] | None:
        """A recovered manifest's torn tail: there, with the size and hash it names. Returns
        (its store path, the hash named) when the manifest names one."""
        recovered = manifest.get("recovered")
        torn = recovered.get("torn") if isinstance(recovered, dict) else None
        if not isinstance(torn, dict):
            return None
        relative = f"{manifest_relative.rsplit('/', 1)[0]}/{torn.get('name')}"
        if not isinstance(torn.get("name"), str) or "/" in torn["name"] or safe_relative(self.store.root, relative) is None:
            self.problem("torn-mismatch", manifest_relative, f"recovered.torn names {torn.get('name')!r}", sid)
            return None
        self.accounted.add(relative)
        named = (relative, torn.get("sha256"))
        if relative in self.released and not (self.store.root / relative).exists():
            return named
        try:
            with os.fdopen(open_read_only(self.store.root / relative), "rb") as f:
                data = f.read()
        except (OSError, NotRegular) as exc:
            self.problem("torn-mismatch", relative, f"the torn bytes the manifest names cannot be read: {exc}", sid)
            return named
        if len(data) != torn.get("size") or sha256_hex(data) != torn.get("sha256"):
            self.problem("torn-mismatch", relative, f"{len(data)} bytes with SHA-256 {sha256_hex(data)[:16]}…, "
                         f"the manifest names {torn.get('size')!r} bytes with {str(torn.get('sha256'))[:16]}…", sid)
        return named
