"""`recorder status`: identity, ledger head and a summary of the store (read-only)."""

from .errors import StoreError
from .evidence.keys import device_id_for, load_public_key
from .evidence.layout import PARTIAL_SUFFIX, SEGMENT_SUFFIX, StoreLayout
from .evidence.ledger import GENESIS_PREV, LedgerText


def store_status(root) -> dict:
    store = StoreLayout(root)
    if not store.root.is_dir():
        raise StoreError(f"no store at {store.root}")
    pub = store.public_key_path
    device_id = device_id_for(load_public_key(pub)) if pub.exists() else "(not provisioned)"
    text = LedgerText.parse(store.ledger_path.read_bytes()) if store.ledger_path.exists() else None
    sessions, open_sessions, last_wall = 0, set(), None
    for _, _, entry in text.entries() if text else ():
        if entry is None:
            continue
        at, body = entry.get("at"), entry.get("body")
        last_wall = at.get("wall", last_wall) if isinstance(at, dict) else last_wall
        body = body if isinstance(body, dict) else {}
        if entry.get("type") == "session_start":
            sessions += 1
            open_sessions.add(body.get("session_id"))
        elif entry.get("type") == "session_stop":
            open_sessions.discard(body.get("session_id"))
    media = [p for p in store.media_dir.rglob("*") if p.is_file()] if store.media_dir.exists() else []
    return {
        "store": str(store.root),
        "device_id": device_id,
        "ledger_entries": len(text.lines) + (1 if text.torn else 0) if text else 0,
        "ledger_head": text.head if text else GENESIS_PREV,
        "last_entry_at": last_wall,
        "sessions": sessions,
        "unterminated": len(open_sessions),
        "segments": sum(1 for p in media if p.suffix == SEGMENT_SUFFIX),
        "partial_files": sum(1 for p in media if p.name.endswith(PARTIAL_SUFFIX)),
        "media_bytes": sum(p.stat().st_size for p in media),
    }
