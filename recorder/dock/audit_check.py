"""Verifying the dock's access log (`recorder dock audit`): every line canonical, well formed,
signed by the dock certificate's key, indexes 0, 1, 2 … and each `prev` the hash of the line
before; a torn line only as the device's ledger allows it (named by the repair entry right
after it); and each head given (`INDEX:SHA256`, written down earlier) still in the log with
that hash — the one way to see entries cut from its end. Every problem names its line."""

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..evidence.canonical import canonical_bytes, sha256_hex
from ..evidence.files import NotRegular, open_read_only
from ..evidence.ledger import GENESIS_PREV, LedgerText, entry_hash, head_ref
from .audit import ACCESS_ACTIONS, AUDIT_VERSION, MEMBERS, REPAIR, STATUSES, AuditError, named, signature_ok


@dataclass(frozen=True)
class Problem:
    code: str  # not-canonical, malformed, bad-signature, index, chain-broken, torn-line, grant, head-missing, …
    line: int | None  # the file's line number, from 1 (None: the log as a whole)
    detail: str  # what was found, in English (the CLI adds the clerk's words for the code)


@dataclass
class AuditReport:
    entries: list = field(default_factory=list)  # (line, entry, signature ok) for each line that parsed
    set_aside: list = field(default_factory=list)  # line numbers a repair entry names
    problems: list = field(default_factory=list)
    head: str | None = None  # the last entry as INDEX:SHA256
    heads_checked: list = field(default_factory=list)
    unfinished: list = field(default_factory=list)  # indexes of grants no done/failed followed (not a problem:
    # a process killed mid-export leaves one; its files, if any, were never confirmed)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"ok": self.ok, "head": self.head, "heads_checked": self.heads_checked,
                "entries": [{"line": line, "signature_ok": good, **entry} for line, entry, good in self.entries],
                "set_aside": self.set_aside, "unfinished": self.unfinished,
                "problems": [{"code": p.code, "line": p.line, "detail": p.detail} for p in self.problems]}


def verify_audit(path: Path, public_key, heads=()) -> AuditReport:
    """The log at `path` checked against the dock's public key and the heads given."""
    try:
        with os.fdopen(open_read_only(Path(path)), "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)  # not mid-append: an append holds LOCK_EX
            data = f.read()
    except FileNotFoundError:
        data = b""  # no access yet; a head given shows whether there should have been
    except (OSError, NotRegular) as exc:
        raise AuditError(f"cannot read the access log {path}: {exc}") from None
    return _Check(public_key).run(LedgerText.parse(data), list(heads))


@dataclass
class _Check:
    key: object
    report: AuditReport = field(default_factory=AuditReport)
    prev: str = GENESIS_PREV
    expected_index: int = 0
    grants: dict = field(default_factory=dict)  # index -> the granted entry

    def problem(self, code: str, line: int | None, detail: str):
        self.report.problems.append(Problem(code, line, detail))

    def run(self, text: LedgerText, heads: list) -> AuditReport:
        set_aside = self.lines_set_aside(text)
        self.report.set_aside = sorted(set_aside)
        hashes = {}
        for number, line, entry in text.entries():
            if number in set_aside:
                continue
            self.check_line(number, line, entry)
            if isinstance(entry, dict) and isinstance(entry.get("index"), int):
                hashes.setdefault(entry["index"], (number, entry_hash(line)))
                self.report.head = head_ref(entry["index"], entry_hash(line))
        if text.torn:
            self.problem("torn-line", len(text.lines) + 1,
                         f"the last line ({len(text.torn)} bytes) has no newline: an append was cut short; it "
                         "was never an entry, and the next append sets it aside with a repair entry")
        self.check_heads(heads, hashes, len(text.lines))
        self.report.unfinished = sorted(self.grants)
        return self.report

    def lines_set_aside(self, text: LedgerText) -> set[int]:
        """Lines named by a correctly signed repair entry on the very next line, with their
        size and hash: nothing else is passed over."""
        found = set()
        for number, _, entry in text.entries():
            if not (isinstance(entry, dict) and entry.get("action") == REPAIR and signature_ok(self.key, entry)):
                continue
            subject = entry.get("subject") if isinstance(entry.get("subject"), dict) else {}
            if subject.get("line") != number - 1 or number < 2:
                continue
            torn = text.lines[number - 2]
            if subject.get("size") == len(torn) and subject.get("sha256") == sha256_hex(torn):
                found.add(number - 1)
        return found

    def check_line(self, number: int, line: bytes, entry):
        expected_prev, self.prev = self.prev, entry_hash(line)
        if entry is None:
            self.problem("unparsable", number, "the line is not a JSON object")
            self.expected_index += 1  # it still takes a place
            return
        good = signature_ok(self.key, entry)
        self.report.entries.append((number, entry, good))
        try:
            canonical = canonical_bytes(entry) == line
        except (ValueError, TypeError):
            canonical = False
        if not canonical:
            self.problem("not-canonical", number, "the line is not the canonical (RFC 8785) form of its JSON: "
                                                  "it was edited")
        bad = [name for name, kind in MEMBERS.items()
               if not isinstance(entry.get(name), kind) or isinstance(entry.get(name), bool)]
        extra = sorted(set(entry) - set(MEMBERS))
        if bad or extra:
            self.problem("malformed", number, "missing or mistyped: " + ", ".join(bad) if bad
                         else "members the format does not have: " + ", ".join(extra))
        if not good:
            self.problem("bad-signature", number, "the signature does not verify with the dock certificate's key: "
                                                  "the entry was altered, or written with another key")
        self.check_index(number, entry)
        if entry.get("prev") != expected_prev:
            before = "64 zeros (the first entry)" if expected_prev == GENESIS_PREV else \
                f"the hash of the line before ({expected_prev[:16]}…)"
            self.problem("chain-broken", number, f"prev is not {before}: the line before it is not the one this "
                                                 "entry was chained to (a line removed, inserted, moved or edited)")
        if not bad:
            self.check_meaning(number, entry)

    def check_index(self, number: int, entry: dict):
        index = entry.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            self.expected_index += 1
            return
        if index != self.expected_index:
            self.problem("index", number, f"index {index} where {self.expected_index} was expected: entries "
                                          "missing, repeated or out of order")
        self.expected_index = index + 1

    def check_meaning(self, number: int, entry: dict):
        if entry["v"] != AUDIT_VERSION:
            self.problem("malformed", number, f"format version {entry['v']}, expected {AUDIT_VERSION}")
        action, status = entry["action"], entry["result"].get("status")
        if action not in ACCESS_ACTIONS + (REPAIR,):
            self.problem("malformed", number, f"unknown action {action!r}")
        if status not in STATUSES:
            self.problem("malformed", number, f"unknown result status {status!r}")
        if named(entry["requester"]) is None or named(entry["reason"]) is None:
            self.problem("malformed", number, "no named requester or no reason")
        if status == "granted":
            self.grants[entry["index"]] = entry
        elif action in ACCESS_ACTIONS and "grant" in entry["result"]:
            grant = self.grants.pop(entry["result"]["grant"], None)
            if grant is None or any(grant[k] != entry[k] for k in ("requester", "reason", "action", "subject")):
                self.problem("grant", number, f"{status} names grant {entry['result']['grant']!r}, which is not an "
                                              "earlier granted entry for the same requester, reason and subject")
        elif status in ("done", "failed") and action in ACCESS_ACTIONS:
            self.problem("grant", number, f"{status} without the grant it completes")

    def check_heads(self, heads: list, hashes: dict, lines: int):
        for index, digest in heads:
            ref = head_ref(index, digest)
            self.report.heads_checked.append(ref)
            if index not in hashes:
                end = f"it ends at {self.report.head}, line {lines}" if self.report.head else "it is empty"
                self.problem("head-missing", lines + 1,
                             f"head {ref} given, but the log has no entry {index} ({end}): "
                             "entries were cut from its end")
            elif hashes[index][1] != digest:
                number, found = hashes[index]
                self.problem("head-mismatch", number, f"entry {index} has hash {found[:16]}…, not the "
                                                      f"{digest[:16]}… given: the log was rewritten since")
