"""What a dock has taken (docs/DOCK.md): footage a dock receipt covers, which a re-provisioning
would not orphan.

A receipt is the dock's signed statement that it holds the device's ledger up to a head and
the files it lists (evidence/receipts.py). The device acts on one only after checking it
(offload/release.py) and then records a `release` entry naming every file it covered; so the
store's own signed ledger says what is covered: the files its release entries name.
"""

from ..evidence.layout import PARTIAL_SUFFIX, StoreLayout
from ..evidence.ledger import LedgerText


def covered_segments(store: StoreLayout) -> set[str]:
    """Store-relative paths of the files the store's `release` entries name (each freed under
    a dock receipt the device checked before writing the entry)."""
    covered = set()
    if store.ledger_path.exists():
        for _, _, entry in LedgerText.parse(store.ledger_path.read_bytes()).entries():
            body = entry.get("body") if entry else None
            if entry and entry.get("type") == "release" and isinstance(body, dict):
                covered |= {f.get("path") for f in body.get("files", []) if isinstance(f, dict)}
    return covered


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
