"""`recorder status`: identity, ledger head and a summary of the store (read-only).

The head is the last *complete* ledger entry, as `INDEX:SHA256` (the form a dock receipt
witnesses and `recorder verify --head` takes). What needs a look is listed in `warnings`:
a torn last ledger line (cut while being written: never a committed entry) and `.partial`
files (a segment being written, or one cut by a crash or power loss, not sealed).
"""

from .errors import StoreError
from .evidence.keys import device_id_for, load_public_key
from .evidence.layout import PARTIAL_SUFFIX, SEGMENT_SUFFIX, StoreLayout, is_encrypted_name
from .evidence.ledger import LedgerText

LISTED_PARTIALS = 5  # a warning names this many .partial files at most


def store_status(root) -> dict:
    store = StoreLayout(root)
    if not store.root.is_dir():
        raise StoreError(f"no store at {store.root}")
    pub = store.public_key_path
    device_id = device_id_for(load_public_key(pub)) if pub.exists() else "(not provisioned)"
    text = LedgerText.parse(store.ledger_path.read_bytes()) if store.ledger_path.exists() else None
    sessions, open_sessions, last_wall, simulated = 0, set(), None, 0
    for _, _, entry in text.entries() if text else ():
        if entry is None:
            continue
        at, body = entry.get("at"), entry.get("body")
        last_wall = at.get("wall", last_wall) if isinstance(at, dict) else last_wall
        body = body if isinstance(body, dict) else {}
        if entry.get("type") == "session_start":
            sessions += 1
            open_sessions.add(body.get("session_id"))
            capture = body.get("capture")
            simulated += bool(isinstance(capture, dict) and capture.get("simulated"))
        elif entry.get("type") == "session_stop":
            open_sessions.discard(body.get("session_id"))
    media = sorted(p for p in store.media_dir.rglob("*") if p.is_file()) if store.media_dir.exists() else []
    partials = [store.relative(p) for p in media if p.name.endswith(PARTIAL_SUFFIX)]
    head = text.head_ref if text else None
    return {
        "store": str(store.root),
        "device_id": device_id,
        "ledger_entries": len(text.lines) if text else 0,  # complete entries; a torn line is none
        "ledger_head": head,  # INDEX:SHA256 of the last complete entry; None for an empty ledger
        "ledger_torn_bytes": len(text.torn) if text else 0,
        "last_entry_at": last_wall,
        "sessions": sessions,
        "simulated_sessions": simulated,  # recorded from synthetic sources: not a camera's pictures
        "unterminated": len(open_sessions),
        "segments": sum(1 for p in media if p.suffix == SEGMENT_SUFFIX or is_encrypted_name(p.name)),
        "partial_files": len(partials),
        "media_bytes": sum(p.stat().st_size for p in media),
        "warnings": _warnings(text, head, partials, simulated),
    }


def _warnings(text: LedgerText | None, head: str | None, partials: list[str], simulated: int) -> list[str]:
    warnings = []
    if simulated:
        warnings.append(f"SIMULATED: {simulated} session(s) recorded from synthetic sources (a test pattern, "
                        "generated sound), not from a camera and microphone")
    if text is not None and text.torn:
        after = f"after entry {head.partition(':')[0]}" if head else "and no complete entry"
        warnings.append(
            f"the ledger ends in a torn line ({len(text.torn)} bytes {after}): an entry cut while being "
            "written (a crash or power loss), never committed; the head is the last complete entry"
        )
    if partials:
        shown = ", ".join(partials[:LISTED_PARTIALS]) + (", …" if len(partials) > LISTED_PARTIALS else "")
        warnings.append(
            f"{len(partials)} partial file(s), not sealed: {shown} (a segment being recorded now, "
            "or one cut by a crash or power loss; `recorder verify` reports them)"
        )
    return warnings
