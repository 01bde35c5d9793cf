"""The shift report at the dock (`recorder dock report`; docs/DOCK.md, "Shift report").

Per device, from the dock's own records only — its events (events.jsonl), the receipts it
issued (receipts/), its copy of the device's store and the ledger it witnessed — never the
network: each offload (the head witnessed, the files received, the receipt issued and where
it stored them, what it withheld and why, every refusal), the releases the device wrote into
its ledger since (what it confirms it freed, under which receipt), each session's state
(held, receipted, released), the shifts with their interruptions (`evidence/shifts.py`, on
the dock's copy), and whether the device is overdue (regulation art. 4: data leaves the
device at the end of every shift; art. 14–15: late offloads are reported).

The dock sees only what was offloaded: a device that never came back shows as one whose last
offload is long ago (`hours_since_offload`); what it recorded since, the dock cannot know."""

import json
from datetime import datetime, timezone

from ..errors import RecorderError
from ..evidence.documents import signature_valid
from ..evidence.shifts import DEFAULT_GAP_HOURS, shift_report
from ..evidence.trusted import signed_history
from .events import read_events
from .intake import named_files
from .layout import DockLayout

DEFAULT_OVERDUE_HOURS = 24.0
ENDS = ("receipt", "refused")  # an offload ends with one of these (the device stops at a refusal)


def dock_report(root, device_id: str | None = None, since: datetime | None = None,
                overdue_hours: float = DEFAULT_OVERDUE_HOURS, now: datetime | None = None,
                gap_hours: float = DEFAULT_GAP_HOURS) -> dict:
    layout = DockLayout(root)
    if not layout.keys_dir.is_dir():
        raise RecorderError(f"{layout.root} is not a dock directory (no keys/): `recorder dock init` makes one")
    now = now or datetime.now(timezone.utc)
    known = sorted(p.name for p in layout.devices_dir.iterdir() if p.is_dir()) if layout.devices_dir.is_dir() else []
    if device_id is not None and device_id not in known:
        raise RecorderError(f"the dock {layout.root} holds nothing of device {device_id}")
    return {
        "dock": str(layout.root),
        "at": _iso(now),
        "since": _iso(since) if since else None,
        "overdue_hours": overdue_hours,
        "devices": [device_report(layout, d, since, overdue_hours, now, gap_hours)
                    for d in known if device_id in (None, d)],
    }


def device_report(layout: DockLayout, device_id: str, since, overdue_hours: float, now: datetime,
                  gap_hours: float) -> dict:
    receipts = read_receipts(layout, device_id)
    offloads = group_offloads(read_events(layout, device_id), receipts)
    store = layout.device_store(device_id)
    ledger = _ledger(store, gap_hours)
    named = named_files(store)
    held = {path for path in named if (store / path).is_file()}
    sessions = [_session(s, named, held, receipts, ledger["released"], now, overdue_hours)
                for s in ledger["sessions"]]
    receipted = [o for o in offloads if o["receipt"]]
    last = _when(receipted[-1]["ended"]) if receipted else None
    media = sorted(p for p in store.glob("media/**/*") if p.is_file())
    return {
        "device_id": device_id,
        "held": ledger["head"],
        "entries": ledger["entries"],
        "untrusted_entries": ledger["untrusted_entries"],
        "store": {"files": len(media), "bytes": sum(p.stat().st_size for p in media),
                  "named": len(named), "missing": sorted(set(named) - held)},
        "last_offload": receipted[-1]["ended"] if receipted else None,
        "hours_since_offload": round((now - last).total_seconds() / 3600, 1) if last else None,
        "overdue": any(s["overdue"] for s in sessions),
        "late_sessions": sum(1 for s in sessions if s["late"]),
        "offloads": [o for o in offloads if _after(o["ended"] or o["started"], since)],
        "receipts": [{k: v for k, v in r.items() if k != "paths"} for r in receipts if _after(r["issued_at"], since)],
        "releases": [r for r in ledger["releases"] if _after(r["at"], since)],
        "sessions": [s for s in sessions if _after(s["end"], since)],
        "shifts": [s for s in ledger["shifts"] if _after(s["end"], since)],
        "unrecoverable": [u for u in ledger["unrecoverable"] if _after(u["at"], since)],
    }


# -- the receipts issued (receipts/NNNNNN.json, the dock's own signed documents)

def read_receipts(layout: DockLayout, device_id: str) -> list[dict]:
    found = []
    for path in sorted(layout.receipts_dir(device_id).glob("*.json")):
        data = path.read_bytes()
        try:
            document = json.loads(data)
            files = document["files"]
        except (ValueError, KeyError, TypeError):
            continue  # not a receipt this dock wrote whole: `dock audit`/verify are the tools for that
        media = [f for f in files if f["path"].startswith("media/")]
        found.append({
            "name": path.name, "sha256": _sha256(data), "issued_at": document.get("issued_at"),
            "head": (document.get("ledger") or {}).get("head"),
            "files": len(files), "media_files": len(media), "bytes": sum(f["size"] for f in files),
            "stored": _where(files), "paths": {f["path"]: f["sha256"] for f in files},
        })
    return found


def _where(files: list[dict]) -> dict:
    """How many of a receipt's files are in the local archive or S3, and locked or not."""
    where = {"local": 0, "s3": 0, "other": 0, "locked": 0, "unlocked": 0}
    for f in files:
        stored = f.get("stored") or {}
        location = str(stored.get("location", ""))
        where["local" if location.startswith("file:") else "s3" if location.startswith("s3://") else "other"] += 1
        where["locked" if stored.get("locked") else "unlocked"] += 1
    return where


# -- the offloads, from the events

def group_offloads(events: list[dict], receipts: list[dict]) -> list[dict]:
    """Events up to and including a receipt or a refusal make one offload (an attempt cut by
    the link and resumed is one); events after the last end are one still unfinished."""
    offloads, current = [], []
    used: set[str] = set()  # receipts already matched to an event: each to one, in order
    for event in events:
        current.append(event)
        if event.get("event") in ENDS:
            offloads.append(_offload(current, receipts, used))
            current = []
    if current:
        offloads.append(_offload(current, receipts, used))
    return offloads


def _offload(events: list[dict], receipts: list[dict], used: set[str]) -> dict:
    received = [e for e in events if e.get("event") == "received"]
    witnessed = [e for e in events if e.get("event") == "witnessed"]
    ended = events[-1] if events[-1].get("event") in ENDS else None
    withheld = {}
    refusals = []
    for e in events:
        if e.get("event") in ("receipt", "refused") and isinstance(e.get("withheld"), dict):
            withheld = e["withheld"]
        if e.get("event") == "refused":
            refusals.append({k: v for k, v in e.items() if k not in ("event", "withheld")})
    receipt = None
    if ended is not None and ended["event"] == "receipt":
        receipt = next((r for r in receipts if r["name"] not in used and r["head"] == ended.get("head")
                        and r["files"] == ended.get("files")), None)
        if receipt is not None:
            used.add(receipt["name"])
    head = witnessed[-1]["head"] if witnessed else (ended or {}).get("head")
    return {
        "started": events[0].get("at"),
        "ended": ended.get("at") if ended else None,
        "outcome": ended["event"] if ended else "unfinished",
        "head": head,
        "witnessed": [{"at": e.get("at"), "head": e.get("head"), "entries": e.get("entries"),
                       "previous": e.get("previous")} for e in witnessed],
        "received": {"files": len(received), "bytes": sum(e.get("size") or 0 for e in received),
                     "paths": [e.get("path") for e in received]},
        "receipt": None if receipt is None else {k: v for k, v in receipt.items() if k != "paths"},
        "withheld": [{"session_id": sid, "codes": sorted({p.get("code") for p in problems}), "problems": problems}
                     for sid, problems in (withheld.get("sessions") or {}).items()],
        "withheld_ledger": withheld.get("ledger") or [],
        "refusals": refusals,
    }


# -- the device's ledger as the dock holds it (signed entries only)

def _ledger(store, gap_hours: float) -> dict:
    empty = {"head": None, "entries": 0, "untrusted_entries": [], "sessions": [], "releases": [], "released": {},
             "shifts": [], "unrecoverable": []}
    try:
        signed = signed_history(store)
        shifts = shift_report(store, gap_hours=gap_hours)
    except (RecorderError, OSError):
        return empty  # nothing witnessed yet (a first contact refused)
    releases, released = [], {}
    for _, _, entry in signed.text.entries():
        if not (isinstance(entry, dict) and entry.get("type") == "release" and signature_valid(signed.key, entry)):
            continue
        body = entry["body"]
        for f in body.get("files") or []:
            released[f["path"]] = entry["index"]
        releases.append({"entry": entry["index"], "at": entry["at"]["wall"], "receipt_sha256": body["receipt_sha256"],
                         "head": body["head"], "files": len(body.get("files") or []),
                         "bytes": sum(f["size"] for f in body.get("files") or []),
                         "paths": [f["path"] for f in body.get("files") or []]})
    return {"head": signed.text.head_ref, "entries": len(signed.text.lines), "untrusted_entries": signed.rejected,
            "sessions": list(signed.history.sessions.values()), "releases": releases, "released": released,
            "shifts": shifts["shifts"], "unrecoverable": shifts["unrecoverable"]}


def _session(session, named: dict, held: set, receipts: list[dict], released: dict, now: datetime,
             overdue_hours: float) -> dict:
    """One session's files: named by the ledger, held by the dock, receipted (when the last
    of them first was), released by the device; late when not receipted within the threshold
    of its end (overdue while that is still so)."""
    last = session.stop or session.interruption or (session.mark_entries[-1] if session.mark_entries else None) \
        or session.start
    end = _when(last["at"]["wall"])
    paths = [p for p in named if p.split("/")[:2] == ["media", session.session_id]]
    first_receipt = {}
    for receipt in receipts:
        for path in paths:
            if path in receipt["paths"] and path not in first_receipt:
                first_receipt[path] = receipt["issued_at"]
    receipted_at = max(first_receipt.values()) if paths and len(first_receipt) == len(paths) else None
    waited_h = ((_when(receipted_at) if receipted_at else now) - end).total_seconds() / 3600
    return {
        "session_id": session.session_id,
        "start": session.start["at"]["wall"],
        "end": last["at"]["wall"],
        "marks": session.marks,
        "interrupted": session.interruption is not None,
        "files": len(paths),
        "held": sum(1 for p in paths if p in held),
        "receipted": len(first_receipt),
        "receipted_at": receipted_at,
        "released": sum(1 for p in paths if p in released),
        "late": waited_h > overdue_hours,
        "overdue": receipted_at is None and waited_h > overdue_hours,
    }


def _when(text: str) -> datetime:
    when = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    return when if when.tzinfo else datetime.combine(when.date(), when.time(), timezone.utc)


def _after(text: str | None, since: datetime | None) -> bool:
    return since is None or text is None or _when(text) >= since


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def parse_since(text: str) -> datetime:
    """--since: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time (UTC when it names no zone)."""
    try:
        return _when(text)
    except ValueError:
        raise RecorderError(f"--since {text!r}: a date (2026-12-01) or a time (2026-12-01T08:00:00Z)") from None
