"""Independent verification of an evidence store (docs/FORMATS.md, versions 1 to 3).

`verify_store(root, key, heads)` re-derives everything the device claims and reports
every discrepancy with its location; it never stops at the first one and never
modifies the store (files are opened read-only, without following symlinks and
without updating access times where the OS allows it).

What is checked (docs/FORMATS.md, "What a verifier checks", says which finding is a
problem and which a warning):
  ledger     every line is canonical JSON of a well-formed entry of a known version,
             integers only, signed by the key in canonical base64, with the key's device
             id and consistent time stamps; indexes run 0, 1, 2, … and each `prev` is the
             hash of the line before (entry 0: `device_init`, prev = 64 zeros); a trusted
             head (from a dock receipt) must be in the ledger with its hash;
  segments   the manifest and media file of each trusted `segment` entry exist and hash
             to what the entry says; the manifest obeys the document rules, agrees with
             the entry and with its session's start (picture, sound, officer); its ranges
             are exactly the file's own boxes and every range's hash checks, all in one
             read of the file; the file's fragments hold the frames and audio packets the
             manifest counts; a damaged file is located to its init/fragment/tail;
  sessions   start before segments, seq 1, 2, 3 … without gaps, each segment starting
             where the previous one ended, a stop after them that sums them up;
  modes      each transition is in the state table (evidence/modes.py) and starts from
             the mode the previous one left the recorder in (an agent_start resets it);
  marks      name a session that is recording, numbered 1, 2, 3 … as session_stop counts;
  files      everything in the store is listed by the format (evidence/tree.py).

An entry is *trusted* (used for the session and file checks) only when it is
well-formed and its signature verifies; an untrusted entry accounts for nothing.
Fragments are numbered from 1 in locations, in the order of the manifest.
"""

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from .canonical import canonical_bytes, sha256_hex
from .dock_time import DockTime
from .documents import signature_valid
from .entries import BODY_MEMBERS, ENTRY_MEMBERS, ENTRY_TYPES, LEDGER_VERSIONS
from .files import NotRegular, read_regular, safe_relative
from .interruptions import InterruptionCheck
from .keys import device_id_for, load_public_key, pem_is_key
from .layout import StoreLayout, is_encrypted_name
from .ledger import GENESIS_PREV, LedgerText, entry_hash, head_ref, parse_object
from .modes import BOOTING, allowed
from .report import Problem, Report
from .rules import canonical_signature, floats_in, timestamp_problem
from .segments import SegmentCheck
from .track import WhereAndWhen
from .tree import check_tree


# ---------------------------------------------------------------------------- entry point


def verify_store(store_root: Path, public_key_path: Path | None = None, heads=(), identities=(),
                 hashed=()) -> Report:
    """Verify a store; raise StoreError only when verification cannot run at all.
    heads: trusted (index, sha256) pairs, e.g. from dock receipts (`INDEX:SHA256`).
    identities: the agency's age identities: encrypted segments' plaintext is checked too.
    hashed: (store path, SHA-256) of media files the caller hashed and checked before (the
    dock: under its earlier receipts, in its write-once store): not read again, so that a
    dock's verification costs what is new; everything else is checked as ever."""
    store = StoreLayout(Path(store_root))
    require_store(store)
    key, key_source = verifying_key(store, public_key_path)
    try:
        ledger = read_regular(store.ledger_path)
    except (OSError, NotRegular) as exc:
        raise StoreError(f"cannot read ledger {store.ledger_path}: {exc}") from None
    verification = _Verification(store, key, key_source, heads=list(heads), identities=list(identities))
    verification.segment_check.hashed = set(hashed)
    return verification.run(ledger)


def check_segment(store_root: Path, body: dict, digested: dict[str, str] | None = None) -> list[Problem]:
    """One sealed segment's manifest and media file against the `segment` entry that sealed
    them (`body`, from a ledger the caller trusts: the dock's witnessed copy), with the
    store's key: the per-segment checks verify_store makes, for a caller that checks each
    segment as it arrives and later passes the clean ones to verify_store as `hashed`. The
    session checks (order, gaps, picture and sound as the session started) are left to
    verify_store, which reads every manifest again.
    digested: store path -> the whole file's SHA-256 as the caller computed it from the bytes
    (the dock's intake, as they arrived): that hash is not computed again; every range's is."""
    store = StoreLayout(Path(store_root))
    key, _ = verifying_key(store, None)
    problems: list[Problem] = []
    unsafe = [body[m] for m in ("path", "manifest") if safe_relative(store.root, body[m]) is None]
    if unsafe:
        return [Problem("bad-path", repr(unsafe[0]), "not a path inside the store", body["session_id"])]
    check = SegmentCheck(store, key, device_id_for(key), lambda *a: problems.append(Problem(*a)))
    check.digested = dict(digested or {})
    manifest = check.manifest(body["manifest"], body, None, "its segment entry")
    check.media(body["path"], body, manifest, "its segment entry")
    return problems


def verifying_key(store: StoreLayout, public_key_path: Path | None):
    """(key, "given") from public_key_path, or (key, "store") from the store's device.pub."""
    if public_key_path is not None:
        return load_public_key(Path(public_key_path)), "given"
    if not store.public_key_path.is_file():
        raise StoreError(f"no public key given and {store.public_key_path} does not exist")
    return load_public_key(store.public_key_path), "store"


def require_store(store: StoreLayout) -> None:
    if not store.root.exists():
        raise StoreError(f"store {store.root} does not exist")
    if not store.root.is_dir():
        raise StoreError(f"store {store.root} is not a directory")
    if not store.ledger_path.is_file():
        raise StoreError(f"{store.root} is not an evidence store: no ledger at {store.ledger_path}")


# ---------------------------------------------------------------------------- helpers


def _is_type(value, expected) -> bool:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in kinds:  # JSON booleans are not numbers
        return False
    return isinstance(value, kinds)


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
    video: dict = field(default_factory=dict)
    audio: dict | None = None
    prerecord_audio: bool = False
    capture: dict | None = None  # format 2: the sources it was recorded from
    stop_at: dict | None = None
    stop_cause: str | None = None
    stop_location: str | None = None
    segments: int = 0
    frames: int = 0
    duration_us: int = 0
    first_start_us: int | None = None
    last_seq: int = 0
    last_end_us: int | None = None
    files: list = field(default_factory=list)  # (name, start_us, end_us)
    marks: list = field(default_factory=list)
    stealth: list = field(default_factory=list)
    resumes: dict | None = None  # format 3: the interrupted session it records on after
    whereabouts: WhereAndWhen = field(default_factory=WhereAndWhen)  # format 4: fix share, clock error
    start_index: int | None = None  # ledger indexes: where its stamps can be placed by the dock's clock
    stop_index: int | None = None
    mark_indexes: list = field(default_factory=list)


@dataclass
class _ChainState:
    previous_hash: str = GENESIS_PREV
    highest: int = -1  # highest index seen so far
    unindexed: int = 0  # lines since then without a readable index
    seen: set = field(default_factory=set)


@dataclass
class _Verification:
    store: StoreLayout
    key: object
    key_source: str
    heads: list = field(default_factory=list)
    identities: list = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sessions: dict[str, _Session] = field(default_factory=dict)
    accounted: set[str] = field(default_factory=set)  # store-relative paths
    named_hashes: dict = field(default_factory=dict)  # store path -> SHA-256 a trusted entry sealed
    released: dict = field(default_factory=dict)  # store path -> record, freed under a receipt
    segments: int = 0
    total_duration_us: int = 0
    mode: str | None = None  # the recorder's mode as the transitions so far say; None before any
    recording: str | None = None  # the session between its start and stop, as the ledger goes

    def __post_init__(self):
        self.device_id = device_id_for(self.key)
        self.segment_check = SegmentCheck(self.store, self.key, self.device_id, self.problem, self.identities)
        self.interruptions = InterruptionCheck(self.store, self.problem)
        self.dock_time = DockTime()  # version 5: the stamps a checkout's clock_offset reaches
        self.ref = ""  # INDEX:SHA256 of the entry being applied

    def problem(self, code, location, message, session_id=None):
        self.problems.append(Problem(code, location, message, session_id))

    def run(self, ledger: bytes) -> Report:
        self.check_store_key()
        self.released = released_files(self.key, LedgerText.parse(ledger))
        self.segment_check.released = self.interruptions.released = self.released
        text = self.check_ledger(ledger)
        self.check_heads(text)
        self.check_unterminated_sessions()
        self.interruptions.finish(self.sessions)
        check_tree(self.store, self.accounted | self.interruptions.accounted | self.segment_check.accounted,
                   set(self.sessions), self.problem)
        return self.report(text)

    def check_store_key(self):
        """With a given key, say so when the store's own device.pub is another key."""
        if self.key_source != "given":
            return
        try:
            pem = read_regular(self.store.public_key_path)
        except (OSError, NotRegular):
            return  # an offloaded store need not carry device.pub
        if not pem_is_key(pem, self.key):
            self.problem(
                "key-mismatch", "device/device.pub",
                "the store's public key is not the given key: the store is from another "
                "device or its key was replaced",
            )

    # --- ledger lines

    def check_ledger(self, data: bytes) -> LedgerText:
        text = LedgerText.parse(data)
        if not data:
            self.problem("bad-genesis", "ledger line 1", "the ledger is empty: no device_init entry")
        chain = _ChainState()
        set_aside = self.lines_set_aside(text)
        for number, line, entry in text.entries():
            if number not in set_aside:
                # a line set aside before it (a torn first line) does not make it the second
                self.check_line(number - sum(1 for n in set_aside if n < number), line, chain, entry)
        if text.torn:
            number = len(text.lines) + 1
            self.problem(
                "torn-line", f"ledger line {number}",
                f"the last line ({len(text.torn)} bytes) has no newline: it was cut while being "
                "written and was never a committed entry",
            )
            if parse_object(text.torn) is not None:  # complete JSON: check what it says anyway
                self.check_line(number, text.torn, chain, parse_object(text.torn))
        return text

    def lines_set_aside(self, text: LedgerText) -> set[int]:
        """Lines a power cut tore mid-append, which the next start ended with a newline and
        named in a signed `repair` entry (right after, or after the device_init that followed a
        torn first line): kept as found, they are not entries and the chain passes over them.
        Nothing else is set aside."""
        set_aside = set()
        lines = text.lines
        for number, line, entry in text.entries():
            if not (isinstance(entry, dict) and entry.get("type") == "repair" and _signature_ok(self.key, entry)):
                continue
            body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
            named = body.get("line")
            if not _is_type(named, int) or not 1 <= number - named <= 2:
                continue
            torn = lines[named - 1]
            if body.get("size") == len(torn) and body.get("sha256") == sha256_hex(torn):
                set_aside.add(named)
        return set_aside

    def check_line(self, number: int, line: bytes, chain: _ChainState, entry: dict | None):
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
        for path in floats_in(entry):
            self.problem("float-in-document", location, f"{path} is a floating-point number")
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
        if entry["v"] not in LEDGER_VERSIONS:
            self.problem("malformed-entry", location,
                         f"format version {entry['v']!r}, expected one of {sorted(LEDGER_VERSIONS)}")
            return
        wrong_time = timestamp_problem(entry["at"], entry["v"])
        if wrong_time:
            self.problem("inconsistent-time", location, f"at: {wrong_time}")
        if entry["type"] not in BODY_MEMBERS[entry["v"]]:
            known = "unknown entry type" if entry["type"] not in ENTRY_TYPES else \
                f"format version {entry['v']} has no entry type"
            self.problem("unknown-entry-type", location, f"{known} {entry['type']!r}")
            return
        bad_body = _bad_members(entry["body"], BODY_MEMBERS[entry["v"]][entry["type"]])
        if bad_body:
            self.problem(
                "malformed-entry", location,
                f"{entry['type']} body: missing or mistyped member(s): {', '.join(bad_body)}",
            )
        elif trusted:
            self.ref = head_ref(entry["index"], chain.previous_hash)
            self.apply(entry, location)

    def check_index(self, entry: dict, location: str, chain: _ChainState):
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
            self.problem("index-repeat", location, f"index {index} already occurred: a fork or a duplicated entry")
        elif index < expected:
            self.problem("index-reorder", location, f"index {index} after index {chain.highest}: entries are out of order")
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
        elif not canonical_signature(entry):
            self.problem(
                "non-canonical-signature", location,
                "the signature verifies but is not written in canonical base64: the entry's bytes "
                "(and the hash the next entry chains to) were changed after signing",
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
            self.problem("bad-genesis", location, "a second device_init: the store was re-initialised or spliced")
        if kind == "device_init" and number == 1 and index != 0:
            self.problem("bad-genesis", location, f"device_init has index {index!r}, expected 0")

    def check_heads(self, text: LedgerText):
        """Each trusted head must be an entry of this ledger, with this hash."""
        hashes = {}
        for _, line, entry in text.entries():
            if isinstance(entry, dict) and _is_type(entry.get("index"), int):
                hashes.setdefault(entry["index"], entry_hash(line))
        last = text.head_ref
        for index, digest in self.heads:
            where = f"trusted head {head_ref(index, digest)}"
            if index not in hashes:
                self.problem("head-missing", where,
                             f"the ledger has no entry {index} (its last is {last}): entries were cut from its end")
            elif hashes[index] != digest:
                self.problem("head-mismatch", where,
                             f"entry {index} has hash {hashes[index][:16]}…: the ledger was rewritten since")

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
            "stealth": self.on_stealth,
            "interruption": lambda e, where: self.interruptions.interruption(e, where, self.ref),
            "explanation": self.interruptions.explanation,
            "clock_step": self.on_clock_step,
            "release": self.on_release,
        }.get(entry["type"])
        self.dock_time.add(entry)
        session = self.sessions.get(self.recording) if self.recording else None
        if session is not None:
            session.whereabouts.add_stamp(entry["at"])
        if handler:
            handler(entry, location)

    def known_session(self, sid: str, location: str, unknown: str) -> _Session | None:
        """The session an entry names, or None after reporting it as unknown."""
        session = self.sessions.get(sid)
        if session is None:
            self.problem("unknown-session", location, unknown, sid)
        return session

    def on_agent_start(self, entry: dict, location: str):
        self.mode = BOOTING  # every run of the agent starts booting
        self.recording = None

    def on_transition(self, entry: dict, location: str):
        body = entry["body"]
        source, target, cause = body["from"], body["to"], body["cause"]
        if not allowed(source, target, cause):
            self.problem("bad-transition", location, f"{source} -> {target} ({cause}) is not in the state table")
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
        session.mark_indexes.append(entry["index"])

    def on_clock_step(self, entry: dict, location: str):
        if self.recording in self.sessions:
            self.sessions[self.recording].whereabouts.steps += 1

    def on_release(self, entry: dict, location: str):
        """Files freed under a dock receipt: the receipt is kept, and every file it frees is
        one an earlier entry named, with the hash that entry sealed."""
        body = entry["body"]
        receipt = body["receipt"]
        if receipt != self.store.receipt_relative(body["receipt_sha256"]):
            self.problem("release-mismatch", location, f"the receipt is kept as {receipt!r}, not under its hash")
        else:
            self.accounted.add(receipt)
            try:
                data = read_regular(self.store.root / receipt)
            except (OSError, NotRegular) as exc:
                self.problem("release-mismatch", receipt, f"the receipt {location} freed files under cannot be "
                             f"read: {exc}")
            else:
                if sha256_hex(data) != body["receipt_sha256"]:
                    self.problem("release-mismatch", receipt, "the receipt's bytes are not those the release sealed")
        for record in body["files"]:
            path = record.get("path") if isinstance(record, dict) else None
            set_aside = path in self.interruptions.accounted and path not in self.named_hashes  # named, no hash
            if path not in self.named_hashes and self.manifest_released_with(path):
                continue  # named by its segment's manifest, freed too: the dock holds both
            if not set_aside and (path not in self.named_hashes or self.named_hashes[path] != record.get("sha256")):
                self.problem("release-mismatch", location, f"frees {path!r}, which no earlier entry named with "
                             f"that hash")

    def manifest_released_with(self, path) -> bool:
        """A torn tail or fragment index whose segment's manifest (which names it) is freed."""
        if not isinstance(path, str) or "/" not in path:
            return False
        directory, name = path.rsplit("/", 1)
        return f"{directory}/{name[:5]}.manifest.json" in self.released

    def on_stealth(self, entry: dict, location: str):
        session = self.sessions.get(self.recording) if self.recording else None
        if session is not None:
            body = entry["body"]
            session.stealth.append({"enabled": body["enabled"], "at": entry["at"], "cause": body["cause"]})

    def on_device_init(self, entry: dict, location: str):
        if not pem_is_key(entry["body"]["public_key"].encode(), self.key):
            self.problem("key-mismatch", location, "the public key recorded at device_init is not the verifying key")

    def on_session_start(self, entry: dict, location: str):
        body = entry["body"]
        sid = body["session_id"]
        if sid in self.sessions:
            self.problem(
                "duplicate-session-start", location,
                f"session {sid} was already started at {self.sessions[sid].start_location}", sid,
            )
            return
        video = body.get("video") if isinstance(body.get("video"), dict) else {}
        audio = body.get("audio") if isinstance(body.get("audio"), dict) else None
        prerecord = body.get("prerecord") if isinstance(body.get("prerecord"), dict) else {}
        self.sessions[sid] = _Session(
            sid, body["officer_id"], location, entry["at"], body["cause"], video=video, audio=audio,
            prerecord_audio=bool(prerecord.get("audio")), capture=body.get("capture"),
            resumes=body.get("resumes") if isinstance(body.get("resumes"), dict) else None,
            start_index=entry["index"],
        )
        self.recording = sid
        self.interruptions.session_start(entry, location)

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
        session.stop_index = entry["index"]
        self.interruptions.session_stop(entry, location)
        if self.recording == sid:
            self.recording = None
        wrong_end = timestamp_problem(body["end"], entry["v"])
        if wrong_end:
            self.problem("inconsistent-time", location, f"end: {wrong_end}", sid)
        claimed = {
            "segments": (body["segments"], session.segments),
            "frames": (body["frames"], session.frames),
            "duration_us": (body["duration_us"], session.duration_us),
            "end.mono_us": (body["end"].get("mono_us"), session.last_end_us),
            "marks": (body.get("marks", len(session.marks)), len(session.marks)),
        }
        if session.last_end_us is None:  # nothing sealed (cut at once): it ends where it stopped
            says = body["end"].get("mono_us")
            started = session.start_at.get("mono_us") if isinstance(session.start_at, dict) else None
            claimed["end.mono_us"] = (says, says if isinstance(says, int) and started is not None
                                      and says >= started else f"not before the start ({started})")
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
        media, manifest_path = self.segment_paths(body, location)
        self.named_hashes[body["path"]] = body["file_sha256"]
        self.named_hashes[body["manifest"]] = body["manifest_sha256"]
        manifest = self.segment_check.manifest(manifest_path, body, session, location) if manifest_path else None
        if manifest is not None:
            torn = self.interruptions.torn_of_manifest(manifest, manifest_path, sid)
            if torn is not None:
                self.named_hashes[torn[0]] = torn[1]
            index = (manifest.get("encryption") or {}).get("index") if isinstance(manifest.get("encryption"), dict) \
                else None
            if isinstance(index, dict) and isinstance(index.get("name"), str):
                self.named_hashes[f"{manifest_path.rsplit('/', 1)[0]}/{index['name']}"] = index.get("sha256")
            if session is not None:
                session.whereabouts.add_manifest(manifest)
            self.dock_time.saw(entry["index"], manifest)
        if media:
            self.segment_check.media(media, body, manifest, location)

    def check_segment_order(self, session: _Session, body: dict, location: str):
        sid, seq = session.session_id, body["seq"]
        if session.stop_location is not None:
            self.problem("segment-after-stop", location, f"segment {seq} after session_stop at {session.stop_location}", sid)
        expected = session.last_seq + 1
        if seq > expected:
            self.problem("seq-gap", location, f"segment {seq} where {expected} was expected: segment(s) missing", sid)
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
        if session.first_start_us is None:
            session.first_start_us = body["start_mono_us"]
        session.last_seq = max(session.last_seq, seq)
        session.last_end_us = body["end_mono_us"]
        session.segments += 1
        session.frames += body["frames"]
        session.duration_us += body["duration_us"]
        session.files.append((body["path"].rsplit("/", 1)[-1], body["start_mono_us"], body["end_mono_us"]))

    def segment_paths(self, body: dict, location: str):
        """Store paths of the media and manifest, when they are safe to open."""
        sid, seq = body["session_id"], body["seq"]
        paths = []
        encrypted = is_encrypted_name(body["path"])  # format 5: the ciphertext's name
        expected = {"path": self.store.segment_relative(sid, seq, encrypted),
                    "manifest": self.store.manifest_relative(sid, seq)}
        for member in ("path", "manifest"):
            relative = body[member]
            if relative != expected[member]:
                self.problem("bad-path", location, f"{member} is {relative!r}, expected {expected[member]!r}", sid)
            if safe_relative(self.store.root, relative) is None:
                paths.append(None)
                continue
            self.accounted.add(relative)
            paths.append(relative)
        return paths

    # --- sessions and the report

    def check_unterminated_sessions(self):
        for session in self.sessions.values():
            if session.stop_location is None:
                self.problem(
                    "session-unterminated", session.start_location,
                    f"session {session.session_id} has no session_stop: the recording was cut "
                    f"short after {session.segments} segment(s) (or the ledger's tail is missing)",
                    session.session_id,
                )

    def report(self, text: LedgerText) -> Report:
        per_session: dict[str, int] = {}
        for p in self.problems:
            if p.session_id is not None and p.severity == "problem":
                per_session[p.session_id] = per_session.get(p.session_id, 0) + 1
        last = parse_object(text.lines[-1]) if text.lines else None
        head_entry = ""
        if isinstance(last, dict):
            at = last.get("at") if isinstance(last.get("at"), dict) else {}
            head_entry = f"{last.get('type')} at {at.get('wall', '?')}"
        return Report(
            problems=self.problems,
            sessions=[_session_report(s, per_session.get(s.session_id, 0), self.interruptions.summary(s.session_id),
                                      self.dock_time) for s in self.sessions.values()],
            segments=self.segments,
            total_duration_us=self.total_duration_us,
            key_source=self.key_source,
            device_id=self.device_id,
            entries=len(text.lines) + (1 if text.torn else 0),
            head=text.head_ref,
            head_entry=head_entry,
            heads_checked=[head_ref(i, d) for i, d in self.heads],
            store=str(self.store.root),
        )


def released_files(key, text: LedgerText) -> dict[str, dict]:
    """Store path -> {"path", "sha256", "size"} of every file a signed, well-formed `release`
    entry frees (read before the chain, since segments come before their release)."""
    released = {}
    for _, _, entry in text.entries():
        if not (isinstance(entry, dict) and entry.get("type") == "release" and _signature_ok(key, entry)):
            continue
        files = entry.get("body", {}).get("files") if isinstance(entry.get("body"), dict) else None
        for record in files if isinstance(files, list) else []:
            if isinstance(record, dict) and isinstance(record.get("path"), str):
                released[record["path"]] = record
    return released


def _session_report(s: _Session, problems: int, interruption: dict | None, dock_time: DockTime) -> dict:
    press_us = s.start_at.get("mono_us", 0)
    prerecord_us = max(0, press_us - s.first_start_us) if s.first_start_us is not None else 0
    capture = s.capture if isinstance(s.capture, dict) else None
    return {
        "session_id": s.session_id,
        "officer_id": s.officer_id,
        "start": s.start_at,
        "stop": s.stop_at,
        "start_cause": s.start_cause,
        "stop_cause": s.stop_cause,
        "segments": s.segments,
        "frames": s.frames,
        "duration_us": s.duration_us,
        "prerecord_us": min(prerecord_us, s.duration_us),
        "files": [name for name, _, _ in s.files],
        "simulated": bool(capture.get("simulated")) if capture is not None else None,
        "sources": _sources_text(capture),
        "marks": [{**m, **_offset_in_files(s.files, m["at"])} for m in s.marks],
        "stealth": s.stealth,
        "interruption": interruption,
        "resumes": s.resumes,
        "where_and_when": s.whereabouts.summary(),
        "by_dock": _placed_by_dock(s, dock_time),
        "problems": problems,
    }


def _placed_by_dock(s: _Session, dock_time: DockTime) -> dict | None:
    """The session's start, stop and marks on the clock of the dock that checked the device
    out, when one checkout reaches them all (docs/TIME.md, "Placed by the dock")."""
    if s.stop_index is None:
        return None
    placed = [dock_time.place(s.start_index, s.start_at), dock_time.place(s.stop_index, s.stop_at)]
    placed += [dock_time.place(i, m["at"]) for i, m in zip(s.mark_indexes, s.marks)]
    if None in placed:
        return None
    anchor = min(placed, key=lambda p: p.error_us).anchor
    return {"dock": anchor.dock, "clock_offset": anchor.index, "offset_us": anchor.offset_us,
            "start": placed[0].record(), "stop": placed[1].record(), "marks": [p.record() for p in placed[2:]],
            "worst_error_us": max(p.error_us for p in placed)}


def _offset_in_files(files, at) -> dict:
    """Where a moment falls: the file and the offset into it (e.g. 00003.mp4 +12.4 s)."""
    mono = at.get("mono_us") if isinstance(at, dict) else None
    for name, start, end in files:
        if isinstance(mono, int) and start <= mono < end:
            return {"file": name, "offset_us": mono - start}
    return {"file": None, "offset_us": None}


def _sources_text(capture: dict | None) -> str | None:
    if capture is None:
        return None
    parts = []
    for role in ("camera", "microphone"):
        source = capture.get(role)
        if isinstance(source, dict):
            detail = ", ".join(str(source[k]) for k in ("model", "device", "encoder") if source.get(k))
            parts.append(f"{role} {source.get('kind')}" + (f" ({detail})" if detail else ""))
        else:
            parts.append(f"no {role}")
    return "; ".join(parts)
