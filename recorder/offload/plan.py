"""The order files go to the dock (issue: "segments with marks or interruptions first, then
oldest first; ledger and manifests before media"). The ledger goes first of all (witness);
then every manifest (run.py sends them alone, so that the dock can name the files they name);
then the media, what the manifests name and the set-aside bytes, sessions with a mark or an
interruption before the rest, each group oldest first (ledger order), and by name within a
session (a segment's `.index` before its `.mp4.age`: the dock checks a segment once it holds
all of it)."""

from ..evidence.ledger import LedgerText


def session_order(ledger: bytes) -> tuple[list[str], set[str]]:
    """(sessions in ledger order, those with a mark or an interruption)."""
    order, flagged = [], set()
    for _, _, entry in LedgerText.parse(ledger).entries():
        body = entry.get("body") if isinstance(entry, dict) else None
        sid = body.get("session_id") if isinstance(body, dict) else None
        if not isinstance(sid, str):
            continue
        if sid not in order:
            order.append(sid)
        if entry.get("type") in ("mark", "interruption"):
            flagged.add(sid)
    return order, flagged


def ordered(missing: list[dict], ledger: bytes) -> list[dict]:
    """The dock's list of missing files ({"path", …}), in the order they are sent."""
    order, flagged = session_order(ledger)
    rank = {sid: (0 if sid in flagged else 1, i) for i, sid in enumerate(order)}

    def key(item):
        parts = item["path"].split("/")
        session = parts[1] if len(parts) > 2 else ""
        is_manifest = item["path"].endswith(".manifest.json")
        return (0 if is_manifest else 1, rank.get(session, (2, 0)), item["path"])

    return sorted(missing, key=key)
