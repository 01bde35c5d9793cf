"""Issuing a receipt (docs/DOCK.md, "Receipts"): verify, store durably, then sign.

The dock's copy of the device's store is verified with the evidence format's own verifier
(`verify_store`, the code `recorder verify` runs) against the witnessed head. A problem in
the ledger itself refuses everything; a problem in a session keeps that session's files out
of the receipt (they stay on the device for manual handling, and the dock's events say why).
Every file the receipt will name is put in the archive first — `put` returns only once the
object is durable (fsync'd, or the S3 store's checksum-verified, locked version) — and the
receipt is signed last, so no receipt ever names a file the dock could still lose."""

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..durable import create_new, create_numbered
from ..evidence.canonical import sha256_hex
from ..evidence.ledger import LedgerText, parse_head_ref
from ..evidence.receipts import sign_receipt
from ..evidence.verifier import verify_store
from .intake import named_files
from .layout import DockLayout
from .witness import held

LEDGER_PATH = "ledger/ledger.jsonl"
EVIDENCE, PATROL, LEDGER = "evidence", "patrol", "ledger"


@dataclass(frozen=True)
class Withheld:
    """What a receipt does not cover, and why (verifier codes and locations)."""

    ledger_problems: list[dict]
    sessions: dict[str, list[dict]]  # session -> its problems

    def record(self) -> dict:
        return {"ledger": self.ledger_problems, "sessions": self.sessions}


class VerificationRefused(Exception):
    def __init__(self, withheld: Withheld):
        super().__init__("the device's ledger does not verify: nothing can be receipted")
        self.withheld = withheld


def receipted(layout: DockLayout, device_id: str) -> dict[str, str]:
    """Store path -> SHA-256 of everything earlier receipts covered."""
    covered = {}
    for path in sorted(layout.receipts_dir(device_id).glob("*.json")):
        for record in json.loads(path.read_bytes())["files"]:
            covered[record["path"]] = record["sha256"]
    return covered


def issue(layout: DockLayout, device_id: str, keys, archive, head: str, now: datetime,
          checked: dict[str, dict] | None = None) -> tuple[bytes, Withheld]:
    """(the signed receipt's bytes, what it withholds). The caller holds the device's lock.
    checked: store path -> {"sha256", "size", "stored"} of files whose segments were checked
    and archived as they arrived (precheck.py): not hashed or stored again."""
    store = layout.device_store(device_id)
    if held(store / LEDGER_PATH).ref != head:
        raise ValueError(f"the dock has witnessed {held(store / LEDGER_PATH).ref}, not {head}")
    earlier = receipted(layout, device_id)
    checked = {path: c for path, c in (checked or {}).items() if path not in earlier}
    hashed = [*earlier.items(), *((path, c["sha256"]) for path, c in checked.items())]
    report = verify_store(store, heads=[parse_head_ref(head)],
                          hashed=[(path, sha) for path, sha in hashed if path.startswith("media/")])
    problems = [p for p in report.problems if p.severity == "problem"]
    withheld = Withheld([_problem(p) for p in problems if p.session_id is None], {})
    for p in problems:
        if p.session_id is not None:
            withheld.sessions.setdefault(p.session_id, []).append(_problem(p))
    if withheld.ledger_problems:
        raise VerificationRefused(withheld)
    classes = footage_classes(store)
    files = []
    for path, wanted in named_files(store).items():
        session = path.split("/")[1]
        if path in earlier or session in withheld.sessions or not (store / path).is_file():
            continue
        sha256 = wanted.sha256 or _hash(store / path)
        if path in checked and checked[path]["sha256"] == sha256:
            stored = checked[path]["stored"]
        else:
            footage_class, until = classes.get(session, (PATROL, now))
            stored = archive.put(sha256, store / path, footage_class, until)
        files.append({"path": path, "sha256": sha256, "size": stored.size, "stored": stored.record()})
    files += _ledger_range(layout, device_id, store, earlier, archive, now)
    document = sign_receipt(keys.private_key(), keys.certificate, _dock_name(keys), device_id,
                            now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), head, files)
    data = json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"
    create_numbered(layout.receipts_dir(device_id), data)
    return data, withheld


def _ledger_range(layout, device_id, store, earlier, archive, now) -> list[dict]:
    """The ledger lines no earlier receipt covered, as one archived object."""
    lines = LedgerText.parse((store / LEDGER_PATH).read_bytes()).lines
    first = max((int(path.rsplit("@", 1)[1].split("-")[1]) + 1 for path in earlier if path.startswith(LEDGER_PATH + "@")),
                default=0)
    if first >= len(lines):
        return []
    data = b"".join(line + b"\n" for line in lines[first:])
    sha256 = sha256_hex(data)
    staged = layout.staging_dir / device_id / "ledger" / sha256
    if not staged.exists():
        staged.parent.mkdir(parents=True, exist_ok=True)
        create_new(staged, data)
    stored = archive.put(sha256, staged, LEDGER, now)
    return [{"path": f"{LEDGER_PATH}@{first}-{len(lines) - 1}", "sha256": sha256, "size": len(data),
             "stored": stored.record()}]


def footage_classes(store: Path) -> dict[str, tuple[str, datetime]]:
    """Session -> (retention class, when it was last recorded): a session with a mark or an
    interruption is evidence (regulation art. 11: kept as long as its case), the rest patrol."""
    last: dict[str, datetime] = {}
    text = LedgerText.parse((store / LEDGER_PATH).read_bytes())
    flagged = set()
    for _, _, entry in text.entries():
        body = entry.get("body") if isinstance(entry, dict) else None
        if not isinstance(body, dict):
            continue
        sid = body.get("session_id")
        if entry["type"] in ("mark", "interruption") and isinstance(sid, str):
            flagged.add(sid)
        if isinstance(sid, str) and isinstance(entry.get("at"), dict) and isinstance(entry["at"].get("wall_us"), int):
            last[sid] = datetime.fromtimestamp(entry["at"]["wall_us"] / 1e6, timezone.utc)
    return {sid: (EVIDENCE if sid in flagged else PATROL, at) for sid, at in last.items()}


def _problem(p) -> dict:
    return {"code": p.code, "location": p.location, "message": p.message}


def _dock_name(keys) -> str:
    from ..agency.certs import common_name

    return common_name(keys.certificate) or "dock"


def _hash(path: Path) -> str:
    from ..evidence.files import hash_regular

    return hash_regular(path)[1]
