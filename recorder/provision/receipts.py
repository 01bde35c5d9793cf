"""What a dock has taken: the seam where dock receipts come in (the dock issue, 13).

A receipt will be the dock's signed statement (its certificate's key, issued by the agency
CA the device pinned) that it holds the device's ledger up to a head, INDEX:SHA256, and every
segment that ledger names up to it. A segment entry at or below a verified head is covered.
Until the dock exists no receipt does, so every sealed segment counts as not covered.
"""

from ..evidence.layout import PARTIAL_SUFFIX, StoreLayout
from ..evidence.ledger import LedgerText


def covered_segments(store: StoreLayout) -> set[str]:
    """Store-relative paths of segments a verified dock receipt covers. None yet (issue 13)."""
    return set()


def uncovered_footage(store: StoreLayout) -> list[str]:
    """Footage in the store no receipt covers: every segment the ledger names (whether its
    entry verifies or not: counting too much only refuses more), and any unsealed `.partial`
    a dead run left, which the next start seals."""
    segments = []
    if store.ledger_path.exists():
        for _, _, entry in LedgerText.parse(store.ledger_path.read_bytes()).entries():
            body = entry.get("body") if entry else None
            if entry and entry.get("type") == "segment" and isinstance(body, dict):
                segments.append(str(body.get("path")))
    if store.media_dir.exists():
        segments += [store.relative(p) for p in store.media_dir.rglob(f"*{PARTIAL_SUFFIX}")]
    covered = covered_segments(store)
    return [path for path in segments if path not in covered]
