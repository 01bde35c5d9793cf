"""What a verification found: problems and warnings with their codes and locations, the
sessions as an evidence clerk reads them, totals, and what the store alone cannot prove.

Codes are stable: tools (the dock, reports) key on them. A *problem* means the evidence
is not what the device sealed, or is incomplete; a *warning* is something in the store
that cannot change what the evidence says but should not be there (docs/FORMATS.md,
"What a verifier checks").
"""

from dataclasses import asdict, dataclass, field

from .entries import FORMAT_VERSION

PROBLEM, WARNING = "problem", "warning"

# code -> (severity, meaning). Every code the verifier can emit.
CODES = {
    "unparsable-line": (PROBLEM, "a ledger line is not a JSON object"),
    "torn-line": (PROBLEM, "the last ledger line has no newline (cut while being written)"),
    "not-canonical": (PROBLEM, "a ledger line or manifest is not the JCS form of its own JSON: edited"),
    "malformed-entry": (PROBLEM, "a ledger entry lacks a member or has one of the wrong type/version"),
    "float-in-document": (PROBLEM, "a signed document holds a floating-point number (the format has none)"),
    "unknown-entry-type": (PROBLEM, "a ledger entry has a type this format does not define"),
    "bad-signature": (PROBLEM, "a signature does not verify with the device key"),
    "non-canonical-signature": (PROBLEM, "a signature is not in canonical base64 (the bytes of the entry changed)"),
    "wrong-device": (PROBLEM, "a device_id is not the id of the verifying key"),
    "key-mismatch": (PROBLEM, "a public key in the store is not the verifying key"),
    "bad-genesis": (PROBLEM, "the ledger does not start with exactly one device_init entry"),
    "index-gap": (PROBLEM, "ledger indexes skip: entries were removed"),
    "index-repeat": (PROBLEM, "a ledger index occurs twice: a fork or a duplicated entry"),
    "index-reorder": (PROBLEM, "a ledger index is lower than an earlier one: entries were reordered"),
    "chain-broken": (PROBLEM, "an entry's prev is not the hash of the line before it"),
    "head-missing": (PROBLEM, "a trusted head (--head) names an entry the ledger does not have: its tail was cut"),
    "head-mismatch": (PROBLEM, "the ledger's entry at a trusted head's index has another hash: rewritten"),
    "inconsistent-time": (PROBLEM, "a time stamp's wall text is not its wall_us, it lacks its source or error "
                                   "bound (format 4), or its manifest's clock mappings do not place it"),
    "bad-track": (PROBLEM, "a manifest's track is malformed, outside its segment, disagrees with its own sums, "
                           "or presents a position older than its max age as a fix"),
    "bad-path": (PROBLEM, "a segment entry names a file outside its expected place"),
    "missing-file": (PROBLEM, "a file the ledger names does not exist"),
    "not-a-regular-file": (PROBLEM, "a file the ledger names is a symlink, directory or device"),
    "unreadable-file": (PROBLEM, "a file the ledger names cannot be read"),
    "hash-mismatch": (PROBLEM, "a file's size or SHA-256 differs from what was sealed"),
    "fragment-mismatch": (PROBLEM, "one init/fragment/tail range of a media file differs from its seal"),
    "trailing-data": (PROBLEM, "a media file has bytes after the end of the sealed file"),
    "layout-mismatch": (PROBLEM, "a manifest's init/fragment/tail ranges are not the file's own boxes"),
    "sample-count-mismatch": (PROBLEM, "a manifest's frame or audio counts are not the file's samples"),
    "encryption-mismatch": (PROBLEM, "an encrypted segment's age header, size or chunk alignment disagrees with its "
                                     "manifest, or the manifest's encryption member is malformed (format 5)"),
    "index-mismatch": (PROBLEM, "an encrypted segment's fragment index is missing, altered, or lists other "
                                "fragments or frames than its manifest (format 5)"),
    "decryption-failed": (PROBLEM, "with the agency's key: an encrypted segment does not decrypt and authenticate, "
                                   "ends otherwise than its manifest says, or its plaintext is not the one sealed"),
    "unparsable-manifest": (PROBLEM, "a manifest file is not a JSON object"),
    "manifest-mismatch": (PROBLEM, "a manifest member disagrees with the ledger entry or session"),
    "inconsistent-entry": (PROBLEM, "a segment entry's duration does not match its start and end"),
    "unknown-session": (PROBLEM, "a segment or stop entry names a session with no session_start before it"),
    "duplicate-session-start": (PROBLEM, "a session has more than one session_start"),
    "duplicate-session-stop": (PROBLEM, "a session has more than one session_stop"),
    "segment-after-stop": (PROBLEM, "a segment entry follows its session's session_stop"),
    "seq-gap": (PROBLEM, "segment numbers of a session skip: segments are missing"),
    "seq-out-of-order": (PROBLEM, "a segment number repeats or goes backwards"),
    "segment-gap": (PROBLEM, "a segment does not start where the previous one ended"),
    "stop-mismatch": (PROBLEM, "a session_stop's totals disagree with the session's segments"),
    "session-unterminated": (PROBLEM, "a session has no session_stop: recording was cut short"),
    "unaccounted-file": (PROBLEM, "a file under media/ that no trusted segment entry accounts for"),
    "partial-file": (PROBLEM, "an unsealed .partial file (still written or cut by a crash)"),
    "symlink": (PROBLEM, "a symbolic link in the store: it could point evidence elsewhere"),
    "stray-ledger-file": (PROBLEM, "a file in ledger/ other than ledger.jsonl (a second ledger?)"),
    "bad-transition": (PROBLEM, "a transition not in the state table, or not from the mode the ledger was in"),
    "mark-outside-session": (PROBLEM, "a mark names a session that is not recording at that point"),
    "bad-stop-cause": (PROBLEM, "a session_stop cause is neither a stop nor an interruption cause"),
    "interruption-missing": (PROBLEM, "a session stopped with an interruption cause and no interruption entry names it"),
    "interruption-mismatch": (PROBLEM, "an interruption entry disagrees with the session_stop it explains"),
    "bad-resume": (PROBLEM, "a session_start resumes an interruption the ledger does not have (or one resumed)"),
    "bad-explanation": (PROBLEM, "an explanation entry names an interruption its session does not resume"),
    "torn-mismatch": (PROBLEM, "bytes set aside by recovery are missing, or differ from what was named"),
    "release-mismatch": (PROBLEM, "a release entry's receipt is missing or altered, or it frees a file no earlier "
                                  "entry named with that hash"),
    "unexplained-interruption": (WARNING, "an interruption of a recording with no explanation in which speech "
                                          "was heard (regulation art. 8)"),
    "stray-file": (WARNING, "a file or folder the format does not list, where it cannot change the evidence"),
    "empty-folder": (WARNING, "an empty folder under media/ for a session no entry names"),
    "private-key-present": (WARNING, "the store holds a private key: whoever has this copy can sign as the device"),
}

SELF_CONSISTENCY_NOTE = (
    "the public key was taken from the store's own device/device.pub: this proves only "
    "that the store is self-consistent, not that it comes from the registered device; "
    "verify with --key from the dock's registry for that"
)
UNWITNESSED_TAIL_NOTE = (
    "no trusted head was given: entries cut from the end of the ledger cannot be detected "
    "from the store alone; the last entry is {head} ({what}); verify with --head "
    "INDEX:SHA256 from a dock receipt to prove nothing after it was cut"
)


def severity(code: str) -> str:
    return CODES[code][0]


@dataclass
class Problem:
    code: str
    location: str
    message: str
    session_id: str | None = None  # the session it belongs to, when it belongs to one
    severity: str = ""

    def __post_init__(self):
        if self.code not in CODES:
            raise ValueError(f"unknown problem code {self.code!r}")
        self.severity = severity(self.code)


@dataclass
class Report:
    problems: list[Problem]  # problems and warnings, in the order found
    sessions: list[dict]
    segments: int
    total_duration_us: int
    key_source: str  # "given" (e.g. --key from the dock's registry) or "store"
    device_id: str
    entries: int
    head: str | None  # the last complete entry, INDEX:SHA256
    head_entry: str = ""  # what it is: type and time
    heads_checked: list[str] = field(default_factory=list)
    store: str = ""

    @property
    def ok(self) -> bool:
        return not [p for p in self.problems if p.severity == PROBLEM]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def key_note(self) -> str | None:
        return SELF_CONSISTENCY_NOTE if self.key_source == "store" else None

    @property
    def tail_note(self) -> str | None:
        if self.heads_checked or self.head is None:
            return None
        return UNWITNESSED_TAIL_NOTE.format(head=self.head, what=self.head_entry)

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "store": self.store,
            "ok": self.ok,
            "device_id": self.device_id,
            "key_source": self.key_source,
            "key_note": self.key_note,
            "entries": self.entries,
            "head": self.head,
            "heads_checked": self.heads_checked,
            "tail_note": self.tail_note,
            "segments": self.segments,
            "total_duration_us": self.total_duration_us,
            "sessions": [dict(s) for s in self.sessions],
            "problems": [asdict(p) for p in self.problems if p.severity == PROBLEM],
            "warnings": [asdict(p) for p in self.warnings],
        }

    def summary_text(self) -> str:
        key = "given" if self.key_source == "given" else "taken from the store itself"
        lines = [f"store:    {self.store}", f"device:   {self.device_id} (public key {key})"]
        if self.key_note:
            lines.append(f"note:     {self.key_note}")
        head = f", head {self.head}" if self.head else ""
        lines.append(f"ledger:   {self.entries} entries{head}")
        if self.heads_checked:
            lines.append(f"witness:  trusted head(s) {', '.join(self.heads_checked)} checked")
        elif self.tail_note:
            lines.append(f"note:     {self.tail_note}")
        for s in self.sessions:
            lines += session_lines(s)
        lines.append(f"segments: {self.segments}, total {duration_text(self.total_duration_us)}")
        problems = [p for p in self.problems if p.severity == PROBLEM]
        for title, items in (("problems:", problems), ("warnings:", self.warnings)):
            if items:
                lines.append(title)
                lines += [f"  [{p.code}] {p.location}: {p.message}" for p in items]
        if self.ok:
            scope = " (self-consistency only)" if self.key_source == "store" else ""
            simulated = sum(1 for s in self.sessions if s.get("simulated"))
            note = f"; {simulated} SIMULATED session(s)" if simulated else ""
            lines.append(
                f"VERIFIED{scope}: {self.entries} ledger entries, {len(self.sessions)} "
                f"session(s), {self.segments} segment(s){note}; every entry, manifest and "
                f"media file checks out" + (f"; {len(self.warnings)} warning(s)" if self.warnings else "")
            )
        else:
            lines.append(f"FAILED: {len(problems)} problem(s)" +
                         (f", {len(self.warnings)} warning(s)" if self.warnings else ""))
        return "\n".join(lines)


def session_lines(s: dict) -> list[str]:
    """A session as an evidence clerk reads it: who, when, why it started and stopped,
    what it is made of, its files, its marks as offsets into them."""
    label = {True: "  *** SIMULATED (synthetic sources, not a camera) ***", None: "", False: ""}[s.get("simulated")]
    stop = "NOT STOPPED (cut short)" if s["stop"] is None else f"{wall_text(s['stop'])} ({s['stop_cause']})"
    lines = [
        f"session:  {s['session_id']}{label}",
        f"  officer {s['officer_id']}; started {wall_text(s['start'])} ({s['start_cause']}); stopped {stop}",
        f"  {duration_text(s['duration_us'])} = {duration_text(s['prerecord_us'])} pre-record + "
        f"{duration_text(s['duration_us'] - s['prerecord_us'])} recorded; {s['segments']} segment(s), "
        f"{s['frames']} frames, {s['problems']} problem(s)",
    ]
    if s.get("sources"):
        lines.append(f"  sources: {s['sources']}")
    if s["files"]:
        lines.append(f"  files: {', '.join(s['files'])}")
    for m in s["marks"]:
        where = f"{m['file']} +{m['offset_us'] / 1e6:.1f} s" if m.get("file") else "outside the sealed segments"
        lines.append(f"  mark {m['number']}: {where}, {wall_text(m['at'])} ({m['cause']}){place_text(m.get('position'))}")
    if s.get("where_and_when"):
        lines.append(f"  {where_and_when_text(s['where_and_when'])}")
    if s.get("by_dock"):
        lines.append(f"  {by_dock_text(s['by_dock'])}")
    for t in s["stealth"]:
        lines.append(f"  stealth {'on' if t['enabled'] else 'off'}: {wall_text(t['at'])} ({t['cause']})")
    if s.get("resumes"):
        lines.append(f"  resumes session {s['resumes'].get('session_id')} after its interruption")
    cut = s.get("interruption")
    if cut:
        heard = [e for e in cut["explained"] if e["spoke"]]
        said = ("explained (speech heard)" if heard else
                "NOT EXPLAINED" + (" (no speech in the window)" if cut["explained"] else ""))
        resumed = f"resumed by session {cut['resumed_by']}" if cut["resumed_by"] else "not resumed"
        lines.append(f"  interrupted ({cut['cause']}, entry {cut['entry']}): {resumed}; {said}")
    return lines


def wall_text(stamp) -> str:
    if isinstance(stamp, dict) and isinstance(stamp.get("wall"), str):
        bound = "" if "error_us" not in stamp else (
            " ±?" if stamp["error_us"] is None else f" ±{stamp['error_us'] / 1e6:.3f} s")
        return f"{stamp['wall']} [{stamp.get('clock', '?')}{bound}]"
    return "?"


def place_text(position) -> str:
    """A mark's position: `at 31.2305000,121.4741000 (fix 0.3 s old)` or `no fix`."""
    if not isinstance(position, dict):
        return ""
    if position.get("fix") not in ("2d", "3d") or not isinstance(position.get("lat_e7"), int):
        return ", no fix"
    age = position.get("age_ms")
    return (f", at {position['lat_e7'] / 1e7:.7f},{position['lon_e7'] / 1e7:.7f}"
            + (f" (fix {age / 1000:.1f} s old)" if isinstance(age, int) else ""))


def where_and_when_text(summary: dict) -> str:
    share = summary.get("fix_share")
    error = summary.get("worst_clock_error_us")
    fix = "no track sampled" if share is None else f"fix {share:.0%} of the time"
    worst = "unbounded (no time source)" if error is None else f"±{error / 1e6:.3f} s"
    steps = summary.get("clock_steps") or 0
    return (f"where and when: {fix}; clock {', '.join(summary.get('clock_sources') or ['?'])}, worst stated "
            f"error {worst}" + (f"; {steps} clock step(s)" if steps else ""))


def by_dock_text(placed: dict) -> str:
    """The session on the clock of the dock that checked the device out."""
    start, stop = placed["start"], placed["stop"]
    return (f"on the dock's clock (its offset {placed['offset_us'] / 1e6:+.3f} s, entry {placed['clock_offset']}): "
            f"started {start['wall']} ±{start['error_us'] / 1e6:.3f} s, stopped {stop['wall']} "
            f"±{stop['error_us'] / 1e6:.3f} s")


def duration_text(us: int) -> str:
    """Tenths of a second: 1:02:03.4, 2:03.4, 3.4 s."""
    tenths = round(us / 100_000)
    seconds, tenth = divmod(tenths, 10)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}.{tenth}"
    if minutes:
        return f"{minutes}:{seconds:02d}.{tenth}"
    return f"{seconds}.{tenth} s"
