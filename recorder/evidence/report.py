"""What a verification found: problems with their codes and locations, sessions, totals.

Problem codes are stable: tools (the dock, reports) key on them.
"""

from dataclasses import asdict, dataclass

from .entries import FORMAT_VERSION

# Every problem code the verifier can emit, with what it means. Codes are stable.
CODES = {
    "unparsable-line": "a ledger line is not a JSON object",
    "torn-line": "the last ledger line has no newline (cut while being written)",
    "not-canonical": "a ledger line or manifest is not the JCS form of its own JSON: edited",
    "malformed-entry": "a ledger entry lacks a member or has one of the wrong type/version",
    "unknown-entry-type": "a ledger entry has a type this format does not define",
    "bad-signature": "a signature does not verify with the device key",
    "wrong-device": "a device_id is not the id of the verifying key",
    "key-mismatch": "a public key in the store is not the verifying key",
    "bad-genesis": "the ledger does not start with exactly one device_init entry",
    "index-gap": "ledger indexes skip: entries were removed",
    "index-repeat": "a ledger index occurs twice: a fork or a duplicated entry",
    "index-reorder": "a ledger index is lower than an earlier one: entries were reordered",
    "chain-broken": "an entry's prev is not the hash of the line before it",
    "bad-path": "a segment entry names a file outside its expected place",
    "missing-file": "a file the ledger names does not exist",
    "not-a-regular-file": "a file the ledger names is a symlink, directory or device",
    "unreadable-file": "a file the ledger names cannot be read",
    "hash-mismatch": "a file's size or SHA-256 differs from what was sealed",
    "fragment-mismatch": "one init/fragment/tail range of a media file differs from its seal",
    "trailing-data": "a media file has bytes after the end of the sealed file",
    "unparsable-manifest": "a manifest file is not a JSON object",
    "manifest-mismatch": "a manifest member disagrees with the ledger entry or session",
    "inconsistent-entry": "a segment entry's duration does not match its start and end",
    "unknown-session": "a segment or stop entry names a session with no session_start before it",
    "duplicate-session-start": "a session has more than one session_start",
    "duplicate-session-stop": "a session has more than one session_stop",
    "segment-after-stop": "a segment entry follows its session's session_stop",
    "seq-gap": "segment numbers of a session skip: segments are missing",
    "seq-out-of-order": "a segment number repeats or goes backwards",
    "segment-gap": "a segment does not start where the previous one ended",
    "stop-mismatch": "a session_stop's totals disagree with the session's segments",
    "session-unterminated": "a session has no session_stop: recording was cut short",
    "unaccounted-file": "a file under media/ that no trusted segment entry accounts for",
    "partial-file": "an unsealed .partial segment (still written or cut by a crash)",
    "bad-transition": "a transition not in the state table, or not from the mode the ledger was in",
    "mark-outside-session": "a mark names a session that is not recording at that point",
}

SELF_CONSISTENCY_NOTE = (
    "the public key was taken from the store's own device/device.pub: this proves only "
    "that the store is self-consistent, not that it comes from the registered device; "
    "verify with --key from the dock's registry for that"
)


# ---------------------------------------------------------------------------- results


@dataclass
class Problem:
    code: str
    location: str
    message: str
    session_id: str | None = None  # the session it belongs to, when it belongs to one

    def __post_init__(self):
        if self.code not in CODES:
            raise ValueError(f"unknown problem code {self.code!r}")


@dataclass
class Report:
    ok: bool
    problems: list[Problem]
    sessions: list[dict]
    segments: int
    total_duration_us: int
    key_source: str  # "given" (e.g. --key from the dock's registry) or "store"
    device_id: str
    entries: int
    store: str = ""

    @property
    def key_note(self) -> str | None:
        return SELF_CONSISTENCY_NOTE if self.key_source == "store" else None

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "store": self.store,
            "ok": self.ok,
            "device_id": self.device_id,
            "key_source": self.key_source,
            "key_note": self.key_note,
            "entries": self.entries,
            "segments": self.segments,
            "total_duration_us": self.total_duration_us,
            "sessions": [dict(s) for s in self.sessions],
            "problems": [asdict(p) for p in self.problems],
        }

    def summary_text(self) -> str:
        key = "given" if self.key_source == "given" else "taken from the store itself"
        lines = [f"store:    {self.store}", f"device:   {self.device_id} (public key {key})"]
        if self.key_note:
            lines.append(f"note:     {self.key_note}")
        lines.append(f"ledger:   {self.entries} entries")
        lines += [session_line(s) for s in self.sessions]
        lines.append(f"segments: {self.segments}, total duration {duration_text(self.total_duration_us)}")
        if self.problems:
            lines.append("problems:")
        lines += [f"  [{p.code}] {p.location}: {p.message}" for p in self.problems]
        if self.ok:
            scope = " (self-consistency only)" if self.key_source == "store" else ""
            lines.append(
                f"VERIFIED{scope}: {self.entries} ledger entries, {len(self.sessions)} "
                f"session(s), {self.segments} segment(s); every entry, manifest and "
                "media file checks out"
            )
        else:
            lines.append(f"FAILED: {len(self.problems)} problem(s)")
        return "\n".join(lines)


def session_line(s: dict) -> str:
    start = wall_text(s["start"])
    if s["stop"] is None:
        stop = "NOT STOPPED (cut short)"
    else:
        stop = f"{wall_text(s['stop'])} ({s['stop_cause']})"
    return (
        f"session:  {s['session_id']} officer {s['officer_id']}: {start} ({s['start_cause']})"
        f" -> {stop}; {s['segments']} segment(s), {s['frames']} frames, "
        f"{duration_text(s['duration_us'])}, {len(s['marks'])} mark(s), {s['problems']} problem(s)"
    ) + "".join(f"\n  mark {m['number']}: {wall_text(m['at'])} ({m['cause']})" for m in s["marks"])


def wall_text(stamp) -> str:
    if isinstance(stamp, dict) and isinstance(stamp.get("wall"), str):
        return f"{stamp['wall']} [{stamp.get('clock', '?')}]"
    return "?"


def duration_text(us: int) -> str:
    seconds, micro = divmod(us, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}.{micro:06d}"
