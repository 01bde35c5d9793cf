"""The ledger read as history, taking only the entries whose signature verifies with the
device's key: what the shift report and the GPX export read (a reading for people, not a
verification: `recorder verify` is that)."""

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from .documents import signature_valid
from .files import read_regular
from .history import History
from .layout import StoreLayout
from .ledger import LedgerText
from .verifier import require_store, verifying_key


LATEST = "latest"  # as a session id: the store's last session


class ExportError(StoreError):
    """The session cannot be exported (unknown, or nothing of it can be trusted)."""


@dataclass
class SignedHistory:
    store: StoreLayout
    key: object
    key_source: str
    text: LedgerText
    history: History
    rejected: list = field(default_factory=list)  # indexes of entries whose signature fails


def signed_history(store_root, public_key_path: Path | None = None) -> SignedHistory:
    store = StoreLayout(Path(store_root))
    require_store(store)
    key, key_source = verifying_key(store, public_key_path)
    text = LedgerText.parse(read_regular(store.ledger_path))
    rejected = []

    def trusted(entry: dict) -> bool:
        if signature_valid(key, entry):
            return True
        rejected.append(entry.get("index"))
        return False

    return SignedHistory(store, key, key_source, text, History.read(text, accept=trusted), rejected)


def find_session(signed: SignedHistory, session_id: str):
    """(its id, its history) for a session id or LATEST; ExportError naming the latest ones."""
    history = signed.history
    if session_id == LATEST and history.sessions:
        session_id = list(history.sessions)[-1]
    session = history.sessions.get(session_id)
    if session is None:
        known = ", ".join(list(history.sessions)[-5:]) or "none"
        raise ExportError(f"no session {session_id} in {signed.store.root} (latest: {known})")
    return session_id, session
