"""What a ledger says happened, entry by entry: agent runs, sessions and how each ended,
interruptions and their explanations.

A reading, not a verification (that is verifier.py): it takes the entries as written
(signed or not) and is what the agent consults at start-up — was a session cut short,
should recording resume — and what `recorder report` summarises for a supervisor.
"""

from dataclasses import dataclass, field

from .ledger import LedgerText, entry_hash, head_ref


# Entries the offload writes at the dock, between the agent's runs (docs/DOCK.md): they are
# not the last thing an agent run did, so a run (and the shift it belongs to) does not end there.
OFFLOAD_ENTRIES = frozenset({"release", "clock_offset", "assignment"})


@dataclass
class SessionHistory:
    session_id: str
    start: dict  # the session_start entry
    run: int  # index into History.runs of the run that recorded it
    segments: list = field(default_factory=list)  # segment entry bodies, in ledger order
    stop: dict | None = None  # the session_stop entry
    interruption: dict | None = None  # the interruption entry naming it
    interruption_ref: str | None = None  # its INDEX:SHA256
    marks: int = 0
    mark_entries: list = field(default_factory=list)  # the mark entries, in order
    resumed_by: str | None = None  # the session that recorded on after its interruption

    @property
    def closed(self) -> bool:
        return self.stop is not None

    @property
    def last_seq(self) -> int:
        return max((s["seq"] for s in self.segments), default=0)

    @property
    def end_mono_us(self) -> int | None:
        return self.segments[-1]["end_mono_us"] if self.segments else None


@dataclass
class RunHistory:
    start: dict  # the agent_start entry
    stop: dict | None = None  # its agent_stop entry, when the run ended cleanly
    last: dict | None = None  # the run's last entry

    @property
    def boot_id(self) -> str | None:
        return self.start["body"].get("boot_id")


@dataclass
class History:
    runs: list[RunHistory] = field(default_factory=list)
    sessions: dict[str, SessionHistory] = field(default_factory=dict)
    interruptions: list[tuple[str, dict]] = field(default_factory=list)  # (INDEX:SHA256, entry)
    explanations: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    unrecoverable: list[dict] = field(default_factory=list)

    @classmethod
    def read(cls, text: LedgerText, accept=None) -> "History":
        """accept(entry) -> bool: only entries it accepts count (a report takes only those
        whose signature verifies)."""
        history = cls()
        for _, line, entry in text.entries():
            if isinstance(entry, dict) and isinstance(entry.get("body"), dict) and isinstance(entry.get("index"), int) \
                    and isinstance(entry.get("at"), dict) and (accept is None or accept(entry)):
                history._apply(entry, head_ref(entry["index"], entry_hash(line)))
        return history

    def _apply(self, entry: dict, ref: str):
        kind, body = entry.get("type"), entry["body"]
        if kind == "agent_start":
            self.runs.append(RunHistory(entry))
        if self.runs and kind not in OFFLOAD_ENTRIES:
            self.runs[-1].last = entry
        sid = body.get("session_id")
        session = self.sessions.get(sid) if isinstance(sid, str) else None
        if kind == "session_start" and isinstance(sid, str):
            self.sessions[sid] = SessionHistory(sid, entry, len(self.runs) - 1)
            resumed = body.get("resumes")
            if isinstance(resumed, dict) and resumed.get("session_id") in self.sessions:
                self.sessions[resumed["session_id"]].resumed_by = sid
        elif kind == "segment" and session is not None:
            session.segments.append(body)
        elif kind == "session_stop" and session is not None:
            session.stop = entry
        elif kind == "mark" and session is not None:
            session.marks += 1
            session.mark_entries.append(entry)
        elif kind == "interruption":
            self.interruptions.append((ref, entry))
            if session is not None:
                session.interruption, session.interruption_ref = entry, ref
        elif kind == "explanation":
            self.explanations.append(entry)
        elif kind == "warning":
            self.warnings.append(entry)
        elif kind == "unrecoverable":
            self.unrecoverable.append(entry)
        elif kind == "agent_stop" and self.runs:
            self.runs[-1].stop = entry

    @property
    def open_sessions(self) -> list[SessionHistory]:
        """Sessions without a stop: the run recording them died (crash, power loss)."""
        return [s for s in self.sessions.values() if not s.closed]

    def to_resume(self) -> SessionHistory | None:
        """The latest session an interruption cut that nothing recorded on after, if it is
        the latest session of all: recording resumes where it was cut."""
        if not self.sessions:
            return None
        latest = list(self.sessions.values())[-1]
        if latest.interruption is not None and latest.resumed_by is None:
            return latest
        return None
