"""Independent verification of an evidence store (docs/FORMATS.md, version 1).

`verify_store(root, key)` re-derives everything the device claims and reports
every discrepancy with its location; it never stops at the first one and never
modifies the store (files are opened read-only, without following symlinks and
without updating access times where the OS allows it).

What is checked:
  ledger     every line is canonical JSON of a well-formed entry, signed by the key,
             with the key's device id; indexes run 0, 1, 2, … and each `prev` is the
             hash of the line before (entry 0: `device_init`, prev = 64 zeros);
  segments   the manifest and media file of each trusted `segment` entry exist and
             hash to what the entry says; the manifest is canonical, signed and agrees
             with the entry; a damaged media file is located to its init/fragment/tail;
  sessions   start before segments, seq 1, 2, 3 … without gaps, each segment starting
             where the previous one ended, a stop after them that sums them up;
  files      every file under media/ is accounted for by a trusted segment entry;
  modes      each transition is in the state table (evidence/modes.py) and starts from
             the mode the previous one left the recorder in (an agent_start resets it);
  marks      name a session that is recording, numbered 1, 2, 3 … as session_stop counts.

An entry is *trusted* (used for the session and file checks) only when it is
well-formed and its signature verifies; an untrusted entry accounts for nothing.
Fragments are numbered from 1 in locations, in the order of the manifest.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from .bmff import hash_range
from .canonical import canonical_bytes, sha256_hex
from .documents import signature_valid
from .entries import (
    BODY_MEMBERS, ENTRY_MEMBERS, ENTRY_TYPES, LEDGER_VERSION, MANIFEST_TYPE, MANIFEST_VERSION,
)
from .files import NotRegular, hash_regular, open_read_only, read_regular, safe_relative
from .keys import device_id_for, load_public_key, pem_is_key
from .layout import PARTIAL_SUFFIX, StoreLayout
from .ledger import GENESIS_PREV, LedgerText, entry_hash, parse_object
from .modes import BOOTING, allowed
from .report import Problem, Report


# ---------------------------------------------------------------------------- entry point


def verify_store(store_root: Path, public_key_path: Path | None = None) -> Report:
    """Verify a store; raise StoreError only when verification cannot run at all."""
    store = StoreLayout(Path(store_root))
    _require_store(store)
    if public_key_path is not None:
        key, key_source = load_public_key(Path(public_key_path)), "given"
    else:
        store_key = store.public_key_path
        if not store_key.is_file():
            raise StoreError(f"no public key given and {store_key} does not exist")
        key, key_source = load_public_key(store_key), "store"
    try:
        ledger = read_regular(store.ledger_path)
    except (OSError, NotRegular) as exc:
        raise StoreError(f"cannot read ledger {store.ledger_path}: {exc}") from None
    return _Verification(store, key, key_source).run(ledger)


def _require_store(store: StoreLayout) -> None:
    if not store.root.exists():
        raise StoreError(f"store {store.root} does not exist")
    if not store.root.is_dir():
        raise StoreError(f"store {store.root} is not a directory")
    if not store.ledger_path.is_file():
        raise StoreError(f"{store.root} is not an evidence store: no ledger at {store.ledger_path}")


# ---------------------------------------------------------------------------- helpers


def _is_type(value, expected: type) -> bool:
    if expected is int:  # JSON booleans are not numbers
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _bad_members(document: dict, members: dict) -> list[str]:
    return [name for name, kind in members.items() if not _is_type(document.get(name), kind)]


def _canonical_or_none(document) -> bytes | None:
    try:
        return canonical_bytes(document)
    except Exception:  # e.g. integers outside the JCS range, NaN: cannot be canonical
        return None


def _signature_ok(key, document: dict) -> bool:
    try:
        return signature_valid(key, document)
    except Exception:  # a document JCS cannot serialise cannot carry a valid signature
        return False


def _line_location(number: int, entry=None) -> str:
    index = entry.get("index") if isinstance(entry, dict) else None
    if _is_type(index, int):
        return f"ledger line {number} (index {index})"
    return f"ledger line {number}"


# ---------------------------------------------------------------------------- verification


@dataclass
class _Session:
    session_id: str
    officer_id: str
    start_location: str
    start_at: dict
    start_cause: str
    stop_at: dict | None = None
    stop_cause: str | None = None
    stop_location: str | None = None
    segments: int = 0
    frames: int = 0
    duration_us: int = 0
    last_seq: int = 0
    last_end_us: int | None = None
    marks: list = field(default_factory=list)


@dataclass
class _Verification:
    store: StoreLayout
    key: object
    key_source: str
    problems: list[Problem] = field(default_factory=list)
    sessions: dict[str, _Session] = field(default_factory=dict)
    accounted: set[str] = field(default_factory=set)  # store-relative paths
    segments: int = 0
    total_duration_us: int = 0
    mode: str | None = None  # the recorder's mode as the transitions so far say; None before any

    def __post_init__(self):
        self.device_id = device_id_for(self.key)

    def problem(self, code, location, message, session_id=None):
        self.problems.append(Problem(code, location, message, session_id))

    def run(self, ledger: bytes) -> Report:
        self.check_store_key()
        entries = self.check_ledger(ledger)
        self.check_unterminated_sessions()
        self.check_media_tree()
        return self.report(entries)

    def check_store_key(self):
        """With a given key, say so when the store's own device.pub is another key."""
        if self.key_source != "given":
            return
        path = self.store.public_key_path
        try:
            pem = read_regular(path)
        except (OSError, NotRegular):
            return  # an offloaded store need not carry device.pub
        if not pem_is_key(pem, self.key):
            self.problem(
                "key-mismatch", "device/device.pub",
                "the store's public key is not the given key: the store is from another "
                "device or its key was replaced",
            )

    # --- ledger lines

    def check_ledger(self, data: bytes) -> int:
        text = LedgerText.parse(data)
        lines, torn = text.lines, text.torn
        if not data:
            self.problem("bad-genesis", "ledger line 1", "the ledger is empty: no device_init entry")
        chain = _ChainState()
        for number, line, entry in text.entries():
            self.check_line(number, line, chain, entry)
        if torn:
            number = len(lines) + 1
            self.problem(
                "torn-line", f"ledger line {number}",
                f"the last line ({len(torn)} bytes) has no newline: it was cut while being "
                "written and was never a committed entry",
            )
            if parse_object(torn) is not None:  # complete JSON: check what it says anyway
                self.check_line(number, torn, chain)
        return len(lines) + (1 if torn else 0)

    def check_line(self, number: int, line: bytes, chain: "_ChainState", entry: dict | None = None):
        entry = parse_object(line) if entry is None else entry
        location = _line_location(number, entry)
        expected_prev = chain.previous_hash
        chain.previous_hash = entry_hash(line)
        if entry is None:
            chain.unindexed += 1
            self.problem("unparsable-line", location, "the line is not a JSON object")
            return
        if _canonical_or_none(entry) != line:
            self.problem(
                "not-canonical", location,
                "the line is not the canonical (JCS) form of its own JSON: it was edited",
            )
        bad = _bad_members(entry, ENTRY_MEMBERS)
        if bad:
            self.problem("malformed-entry", location, f"missing or mistyped member(s): {', '.join(bad)}")
        self.check_index(entry, location, chain)
        if _is_type(entry.get("prev"), str) and entry["prev"] != expected_prev:
            what = "64 zeros (first entry)" if number == 1 else f"the hash of line {number - 1}"
            self.problem(
                "chain-broken", location,
                f"prev is {entry['prev'][:16]}…, expected {what} {expected_prev[:16]}…: "
                "the line before it is not the one this entry was chained to",
            )
        trusted = self.check_authenticity(entry, location)
        self.check_genesis(number, entry, location)
        if bad:
            return
        if entry["v"] != LEDGER_VERSION:
            self.problem("malformed-entry", location, f"format version {entry['v']!r}, expected 1")
            return
        if entry["type"] not in ENTRY_TYPES:
            self.problem("unknown-entry-type", location, f"unknown entry type {entry['type']!r}")
            return
        bad_body = _bad_members(entry["body"], BODY_MEMBERS[entry["type"]])
        if bad_body:
            self.problem(
                "malformed-entry", location,
                f"{entry['type']} body: missing or mistyped member(s): {', '.join(bad_body)}",
            )
        elif trusted:
            self.apply(entry, location)

    def check_index(self, entry: dict, location: str, chain: "_ChainState"):
        index = entry.get("index")
        if not _is_type(index, int):
            chain.unindexed += 1
            return
        expected = chain.highest + 1 + chain.unindexed
        if index > expected:
            missing = index - expected
            self.problem(
                "index-gap", location,
                f"index {index} where {expected} was expected: {missing} entr"
                f"{'y' if missing == 1 else 'ies'} missing or moved",
            )
        elif index < expected and index in chain.seen:
            self.problem(
                "index-repeat", location,
                f"index {index} already occurred: a fork or a duplicated entry",
            )
        elif index < expected:
            self.problem(
                "index-reorder", location,
                f"index {index} after index {chain.highest}: entries are out of order",
            )
        chain.seen.add(index)
        chain.highest = max(chain.highest, index)
        chain.unindexed = 0

    def check_authenticity(self, entry: dict, location: str) -> bool:
        """Signature and device id; True when the entry may be used downstream."""
        signature_ok = _signature_ok(self.key, entry)
        if not signature_ok:
            self.problem(
                "bad-signature", location,
                f"the signature does not verify with the key of {self.device_id}: "
                "the entry was altered or not written by this device",
            )
        device = entry.get("device_id")
        if device != self.device_id:
            self.problem("wrong-device", location, f"device_id is {device!r}, the key's is {self.device_id}")
        return signature_ok and not _bad_members(entry, ENTRY_MEMBERS)

    def check_genesis(self, number: int, entry: dict, location: str):
        kind, index = entry.get("type"), entry.get("index")
        if number == 1 and kind != "device_init":
            self.problem("bad-genesis", location, f"the first entry is {kind!r}, expected device_init")
        elif number != 1 and kind == "device_init":
            self.problem(
                "bad-genesis", location, "a second device_init: the store was re-initialised or spliced"
            )
        if kind == "device_init" and number == 1 and index != 0:
            self.problem("bad-genesis", location, f"device_init has index {index!r}, expected 0")

    # --- entries, in ledger order

    def apply(self, entry: dict, location: str):
        handler = {
            "device_init": self.on_device_init,
            "session_start": self.on_session_start,
            "segment": self.on_segment,
            "session_stop": self.on_session_stop,
            "agent_start": self.on_agent_start,
            "transition": self.on_transition,
            "mark": self.on_mark,
        }.get(entry["type"])
        if handler:
            handler(entry, location)

    def known_session(self, sid: str, location: str, unknown: str) -> "_Session | None":
        """The session an entry names, or None after reporting it as unknown."""
        session = self.sessions.get(sid)
        if session is None:
            self.problem("unknown-session", location, unknown, sid)
        return session

    def on_agent_start(self, entry: dict, location: str):
        self.mode = BOOTING  # every run of the agent starts booting

    def on_transition(self, entry: dict, location: str):
        body = entry["body"]
        source, target, cause = body["from"], body["to"], body["cause"]
        if not allowed(source, target, cause):
            self.problem(
                "bad-transition", location, f"{source} -> {target} ({cause}) is not in the state table"
            )
        elif self.mode is not None and source != self.mode:
            self.problem(
                "bad-transition", location,
                f"a transition from {source}, but the ledger had the recorder in {self.mode}",
            )
        self.mode = target

    def on_mark(self, entry: dict, location: str):
        body = entry["body"]
        sid = body["session_id"]
        session = self.sessions.get(sid)
        if session is None or session.stop_location is not None:
            state = "never started" if session is None else "already stopped"
            self.problem("mark-outside-session", location, f"mark for session {sid}, which was {state}", sid)
            return
        if body["number"] != len(session.marks) + 1:
            self.problem(
                "seq-gap", location,
                f"mark number {body['number']} follows mark {len(session.marks)}: marks are missing", sid,
            )
        session.marks.append(
            {"number": body["number"], "at": entry["at"], "cause": body["cause"], "position": body.get("position")}
        )

    def on_device_init(self, entry: dict, location: str):
        if not pem_is_key(entry["body"]["public_key"].encode(), self.key):
            self.problem(
                "key-mismatch", location,
                "the public key recorded at device_init is not the verifying key",
            )

    def on_session_start(self, entry: dict, location: str):
        body = entry["body"]
        sid = body["session_id"]
        if sid in self.sessions:
            self.problem(
                "duplicate-session-start", location,
                f"session {sid} was already started at {self.sessions[sid].start_location}", sid,
            )
            return
        self.sessions[sid] = _Session(sid, body["officer_id"], location, entry["at"], body["cause"])

    def on_session_stop(self, entry: dict, location: str):
        body = entry["body"]
        sid = body["session_id"]
        session = self.known_session(sid, location, f"session_stop for session {sid}, which was never started")
        if session is None:
            return
        if session.stop_location is not None:
            self.problem(
                "duplicate-session-stop", location,
                f"session {sid} was already stopped at {session.stop_location}", sid,
            )
            return
        session.stop_at, session.stop_cause, session.stop_location = entry["at"], body["cause"], location
        claimed = {
            "segments": (body["segments"], session.segments),
            "frames": (body["frames"], session.frames),
            "duration_us": (body["duration_us"], session.duration_us),
            "end.mono_us": (body["end"].get("mono_us"), session.last_end_us),
            "marks": (body.get("marks", len(session.marks)), len(session.marks)),
        }
        for name, (says, found) in claimed.items():
            if says != found:
                self.problem(
                    "stop-mismatch", location,
                    f"session_stop says {name} = {says!r}, the verified segments give {found!r}", sid,
                )

    def on_segment(self, entry: dict, location: str):
        body = entry["body"]
        sid = body["session_id"]
        session = self.known_session(sid, location, f"segment of session {sid}, which has no session_start before it")
        if session is not None:
            self.check_segment_order(session, body, location)
        if body["end_mono_us"] - body["start_mono_us"] != body["duration_us"]:
            self.problem(
                "inconsistent-entry", location,
                f"duration_us {body['duration_us']} is not end_mono_us - start_mono_us", sid,
            )
        self.segments += 1
        self.total_duration_us += body["duration_us"]
        media, manifest = self.segment_paths(body, location)
        officer = session.officer_id if session else None
        manifest_doc = self.check_manifest(manifest, body, officer, location) if manifest else None
        if media:
            self.check_media(media, body, manifest_doc, location)

    def check_segment_order(self, session: _Session, body: dict, location: str):
        sid, seq = session.session_id, body["seq"]
        if session.stop_location is not None:
            self.problem(
                "segment-after-stop", location,
                f"segment {seq} after session_stop at {session.stop_location}", sid,
            )
        expected = session.last_seq + 1
        if seq > expected:
            self.problem(
                "seq-gap", location, f"segment {seq} where {expected} was expected: segment(s) missing", sid
            )
        elif seq < expected:
            self.problem("seq-out-of-order", location, f"segment {seq} after segment {session.last_seq}", sid)
        if session.last_end_us is not None and body["start_mono_us"] != session.last_end_us:
            gap_us = body["start_mono_us"] - session.last_end_us
            kind = "a gap" if gap_us > 0 else "an overlap"
            self.problem(
                "segment-gap", location,
                f"segment {seq} starts at mono {body['start_mono_us']} µs, the previous one ended "
                f"at {session.last_end_us} µs: {kind} of {abs(gap_us)} µs", sid,
            )
        session.last_seq = max(session.last_seq, seq)
        session.last_end_us = body["end_mono_us"]
        session.segments += 1
        session.frames += body["frames"]
        session.duration_us += body["duration_us"]

    def segment_paths(self, body: dict, location: str):
        """Store paths of the media and manifest, when they are safe to open."""
        sid, seq = body["session_id"], body["seq"]
        expected_media = self.store.segment_relative(sid, seq)
        expected_manifest = self.store.manifest_relative(sid, seq)
        paths = []
        for member, expected in (("path", expected_media), ("manifest", expected_manifest)):
            relative = body[member]
            if relative != expected:
                self.problem("bad-path", location, f"{member} is {relative!r}, expected {expected!r}", sid)
            safe = safe_relative(self.store.root, relative)
            if safe is None:
                paths.append(None)
                continue
            self.accounted.add(relative)
            paths.append(relative)
        return paths

    # --- manifests

    def check_manifest(self, relative: str, body: dict, officer: str | None, entry_location: str):
        """Check one manifest; returns it when its bytes are exactly the sealed ones."""
        sid = body["session_id"]
        data = self.read_named_file(relative, entry_location, sid)
        if data is None:
            return None
        authentic = sha256_hex(data) == body["manifest_sha256"]
        if not authentic:
            self.problem(
                "hash-mismatch", relative,
                f"SHA-256 is {sha256_hex(data)[:16]}…, the ledger ({entry_location}) sealed "
                f"{body['manifest_sha256'][:16]}…: the manifest was altered or replaced", sid,
            )
        manifest = parse_object(data)
        if manifest is None:
            self.problem("unparsable-manifest", relative, "the manifest is not a JSON object", sid)
            return None
        if _canonical_or_none(manifest) != data:
            self.problem(
                "not-canonical", relative,
                "the manifest is not the canonical (JCS) form of its own JSON: it was edited", sid,
            )
        if not _signature_ok(self.key, manifest):
            self.problem(
                "bad-signature", relative,
                f"the manifest signature does not verify with the key of {self.device_id}", sid,
            )
        if manifest.get("device_id") != self.device_id:
            self.problem(
                "wrong-device", relative,
                f"device_id is {manifest.get('device_id')!r}, the key's is {self.device_id}", sid,
            )
        self.compare_manifest(manifest, body, officer, relative, entry_location)
        return manifest if authentic else None

    def compare_manifest(self, manifest: dict, body: dict, officer, relative: str, entry_location: str):
        file_info = manifest.get("file") if isinstance(manifest.get("file"), dict) else {}
        video = manifest.get("video") if isinstance(manifest.get("video"), dict) else {}
        start = manifest.get("start") if isinstance(manifest.get("start"), dict) else {}
        end = manifest.get("end") if isinstance(manifest.get("end"), dict) else {}
        pairs = {
            "v": (manifest.get("v"), MANIFEST_VERSION),
            "type": (manifest.get("type"), MANIFEST_TYPE),
            "session_id": (manifest.get("session_id"), body["session_id"]),
            "seq": (manifest.get("seq"), body["seq"]),
            "file.name": (file_info.get("name"), body["path"].rsplit("/", 1)[-1]),
            "file.size": (file_info.get("size"), body["file_size"]),
            "file.sha256": (file_info.get("sha256"), body["file_sha256"]),
            "start.mono_us": (start.get("mono_us"), body["start_mono_us"]),
            "end.mono_us": (end.get("mono_us"), body["end_mono_us"]),
            "duration_us": (manifest.get("duration_us"), body["duration_us"]),
            "video.frames": (video.get("frames"), body["frames"]),
        }
        if officer is not None:
            pairs["officer_id"] = (manifest.get("officer_id"), officer)
        for name, (says, expected) in pairs.items():
            if says != expected or type(says) is not type(expected):
                self.problem(
                    "manifest-mismatch", relative,
                    f"{name} is {says!r}, the ledger ({entry_location}) says {expected!r}",
                    body["session_id"],
                )

    def read_named_file(self, relative: str, entry_location: str, sid: str) -> bytes | None:
        path = self.store.root / relative
        try:
            return read_regular(path)
        except FileNotFoundError:
            self.problem("missing-file", relative, f"named by {entry_location} but does not exist", sid)
        except NotRegular as exc:
            self.problem("not-a-regular-file", relative, f"named by {entry_location} but {exc}", sid)
        except OSError as exc:
            self.problem("unreadable-file", relative, f"cannot be read: {exc.strerror}", sid)
        return None

    # --- media

    def check_media(self, relative: str, body: dict, manifest: dict | None, entry_location: str):
        sid = body["session_id"]
        path = self.store.root / relative
        try:
            size, digest = hash_regular(path)
        except FileNotFoundError:
            self.problem("missing-file", relative, f"named by {entry_location} but does not exist", sid)
            return
        except NotRegular as exc:
            self.problem("not-a-regular-file", relative, f"named by {entry_location} but {exc}", sid)
            return
        except OSError as exc:
            self.problem("unreadable-file", relative, f"cannot be read: {exc.strerror}", sid)
            return
        if size == body["file_size"] and digest == body["file_sha256"]:
            return
        self.problem(
            "hash-mismatch", relative,
            f"{size} bytes with SHA-256 {digest[:16]}…, sealed ({entry_location}) as "
            f"{body['file_size']} bytes with {body['file_sha256'][:16]}…",
            sid,
        )
        if manifest is None:
            return  # no authentic manifest: the damage cannot be located
        with os.fdopen(open_read_only(path), "rb") as f:
            self.locate_damage(f, size, body["file_size"], relative, manifest, sid)

    def locate_damage(self, f, actual_size: int, sealed_size: int, relative: str, manifest: dict, sid: str):
        """Name every sealed byte range (init, fragments, tail) whose bytes changed.

        The manifest's own offsets are re-hashed rather than a fresh box scan compared
        with it: a flipped byte in a box header would shift a fresh scan and blame every
        fragment after it, while the sealed ranges stay where they were.
        """
        for name, part in _sealed_ranges(manifest):
            got, digest = hash_range(f, part["offset"], part["size"])
            if got == part["size"] and digest == part["sha256"]:
                continue
            where = f"{relative} {name} (offset {part['offset']}, {part['size']} bytes)"
            if got < part["size"]:
                detail = f"the file ends {part['size'] - got} bytes before its end"
            else:
                detail = f"its SHA-256 is {digest[:16]}…, sealed as {part['sha256'][:16]}…"
            self.problem("fragment-mismatch", where, f"{name} differs from its seal: {detail}", sid)
        if actual_size > sealed_size:
            self.problem(
                "trailing-data", f"{relative} after offset {sealed_size}",
                f"{actual_size - sealed_size} bytes were appended after the sealed file", sid,
            )

    # --- sessions and files

    def check_unterminated_sessions(self):
        for session in self.sessions.values():
            if session.stop_location is None:
                self.problem(
                    "session-unterminated", session.start_location,
                    f"session {session.session_id} has no session_stop: the recording was cut "
                    f"short after {session.segments} segment(s) (or the ledger's tail is missing)",
                    session.session_id,
                )

    def check_media_tree(self):
        """Every file under media/ must be a sealed file some trusted entry accounts for."""
        media = self.store.media_dir
        if not media.is_dir():
            return
        for directory, subdirs, files in os.walk(media):  # does not follow symlinks
            subdirs.sort()
            for name in sorted(files):
                relative = (Path(directory) / name).relative_to(self.store.root).as_posix()
                session = relative.split("/")[1] if relative.count("/") >= 2 else None
                if name.endswith(PARTIAL_SUFFIX):
                    self.problem(
                        "partial-file", relative,
                        "an unsealed segment (still being written, or cut by a crash): "
                        "recovery pending; it is not evidence until sealed", session,
                    )
                elif relative not in self.accounted:
                    self.problem(
                        "unaccounted-file", relative,
                        "no trusted ledger segment entry accounts for this file", session,
                    )

    def report(self, entries: int) -> Report:
        per_session: dict[str, int] = {}
        for p in self.problems:
            if p.session_id is not None:
                per_session[p.session_id] = per_session.get(p.session_id, 0) + 1
        sessions = [
            {
                "session_id": s.session_id,
                "officer_id": s.officer_id,
                "start": s.start_at,
                "stop": s.stop_at,
                "start_cause": s.start_cause,
                "stop_cause": s.stop_cause,
                "segments": s.segments,
                "frames": s.frames,
                "duration_us": s.duration_us,
                "marks": s.marks,
                "problems": per_session.get(s.session_id, 0),
            }
            for s in self.sessions.values()
        ]
        return Report(
            ok=not self.problems,
            problems=self.problems,
            sessions=sessions,
            segments=self.segments,
            total_duration_us=self.total_duration_us,
            key_source=self.key_source,
            device_id=self.device_id,
            entries=entries,
            store=str(self.store.root),
        )


@dataclass
class _ChainState:
    previous_hash: str = GENESIS_PREV
    highest: int = -1  # highest index seen so far
    unindexed: int = 0  # lines since then without a readable index
    seen: set = field(default_factory=set)


def _sealed_ranges(manifest: dict):
    """(name, {offset, size, sha256}) for each well-formed range in a manifest."""
    parts = [("init", manifest.get("init"))]
    fragments = manifest.get("fragments") if isinstance(manifest.get("fragments"), list) else []
    parts += [(f"fragment {n}", part) for n, part in enumerate(fragments, start=1)]
    parts.append(("tail", manifest.get("tail")))
    for name, part in parts:
        if isinstance(part, dict) and not _bad_members(part, {"offset": int, "size": int, "sha256": str}):
            yield name, part
