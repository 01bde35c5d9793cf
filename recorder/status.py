"""`recorder status`: identity, ledger head and a summary of the store (read-only)."""

import json

from .errors import StoreError
from .segments.store import PARTIAL_SUFFIX, Store
from .sign.keys import PUBLIC_KEY_FILE, device_id_for, load_public_key
from .sign.ledger import GENESIS_PREV, entry_hash


def store_status(root) -> dict:
    store = Store(root)
    if not store.root.is_dir():
        raise StoreError(f"no store at {store.root}")
    pub = store.device_dir / PUBLIC_KEY_FILE
    device_id = device_id_for(load_public_key(pub)) if pub.exists() else "(not provisioned)"
    entries, head, sessions, open_sessions = 0, GENESIS_PREV, 0, set()
    last_wall = None
    if store.ledger_path.exists():
        with open(store.ledger_path, "rb") as f:
            for line in f:
                entries += 1
                head = entry_hash(line)
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                last_wall = entry.get("at", {}).get("wall", last_wall)
                body = entry.get("body", {})
                if entry.get("type") == "session_start":
                    sessions += 1
                    open_sessions.add(body.get("session_id"))
                elif entry.get("type") == "session_stop":
                    open_sessions.discard(body.get("session_id"))
    media = [p for p in store.media_dir.rglob("*") if p.is_file()] if store.media_dir.exists() else []
    segments = [p for p in media if p.suffix == ".mp4"]
    return {
        "store": str(store.root),
        "device_id": device_id,
        "ledger_entries": entries,
        "ledger_head": head,
        "last_entry_at": last_wall,
        "sessions": sessions,
        "unterminated": len(open_sessions),
        "segments": len(segments),
        "partial_files": sum(1 for p in media if p.name.endswith(PARTIAL_SUFFIX)),
        "media_bytes": sum(p.stat().st_size for p in media),
    }
