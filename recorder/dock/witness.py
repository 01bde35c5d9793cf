"""The dock as the witness of a device's ledger (docs/DOCK.md, "Ledger first").

The dock's copy of a device's ledger (DOCK/devices/<id>/store/ledger/ledger.jsonl) is the
head it accepted: lines are appended to it only after every new line is checked — the
canonical form, the device's signature, consecutive indexes, each `prev` the hash of the
line before — and only when the new lines extend exactly what it holds. A device that
offers a ledger that forks from the held one, rolls it back, or skips a range is refused
with the reason, and nothing of its offer is kept but the refusal."""

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from ..durable import create_new, fsync_dir, write_all
from ..evidence.canonical import canonical_bytes, sha256_hex
from ..evidence.documents import signature_valid
from ..evidence.keys import device_id_for, load_public_key, pem_is_key
from ..evidence.ledger import GENESIS_PREV, LedgerText, entry_hash, head_ref, parse_object

FORK, ROLLBACK, MISSING, BAD_LINE, WRONG_KEY = "fork", "rollback", "missing-range", "bad-line", "wrong-key"


class Refused(Exception):
    """The offer is refused: `code` (one of the above) and a message naming where."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Held:
    lines: int  # lines in the dock's copy (a torn line the device set aside counts: it is kept)
    next_index: int  # the index the next entry must have
    head: str  # the hash of the last entry's line (64 zeros before the first)

    @property
    def ref(self) -> str | None:
        return None if self.next_index == 0 else head_ref(self.next_index - 1, self.head)


def held(ledger_path: Path) -> Held:
    try:
        text = LedgerText.parse(ledger_path.read_bytes())
    except FileNotFoundError:
        return Held(0, 0, GENESIS_PREV)
    for line in reversed(text.lines):  # the last entry (a line set aside is none)
        entry = parse_object(line)
        if isinstance(entry, dict) and isinstance(entry.get("index"), int) and entry.get("type"):
            return Held(len(text.lines), entry["index"] + 1, entry_hash(line))
    return Held(len(text.lines), 0, GENESIS_PREV)


def check_offer(store: Path, device_id: str, public_key_pem: bytes, from_line: int, head: str,
                data: bytes) -> tuple[Held, list[bytes]]:
    """The new lines of an offer, checked against what the dock holds for this device:
    `data` holds the device's complete ledger lines from line `from_line` (0-based) on, ending
    at the entry `head` (INDEX:SHA256). Returns (what is held, the lines to append); Refused
    otherwise. A line a power cut tore, which the device ended and named in a signed `repair`
    entry right after (or after the next), is kept as found and the chain passes over it, as
    the verifier does (docs/FORMATS.md, "Lines")."""
    key_path = store / "device" / "device.pub"
    try:
        key = _device_key(key_path, public_key_pem)
    except ValueError as exc:
        raise Refused(WRONG_KEY, str(exc)) from None
    if device_id_for(key) != device_id:
        raise Refused(WRONG_KEY, f"the ledger's key is device {device_id_for(key)}, the certificate's {device_id}")
    now = held(store / "ledger" / "ledger.jsonl")
    lines = LedgerText.parse(data).lines if data else []
    if data and not data.endswith(b"\n"):
        raise Refused(BAD_LINE, "the offer ends in a torn line: only complete lines are witnessed")
    head_index = _head_index(head)
    if head_index < now.next_index - 1:
        raise Refused(ROLLBACK, f"the device's head is entry {head_index}, the dock holds up to "
                                f"{now.next_index - 1} ({now.ref}): its ledger was rolled back or cut")
    if from_line > now.lines:
        raise Refused(MISSING, f"the offer starts at line {from_line + 1}, the dock holds {now.lines} lines: "
                               f"lines {now.lines + 1}..{from_line} are missing")
    overlap = now.lines - from_line
    if overlap > 0:
        held_lines = LedgerText.parse((store / "ledger" / "ledger.jsonl").read_bytes()).lines[from_line:]
        if lines[:overlap] != held_lines[:overlap]:
            raise Refused(FORK, f"the device's lines {from_line + 1}..{now.lines} differ from those the dock "
                                f"witnessed: its ledger forks from the held one")
    new = lines[max(overlap, 0):]
    set_aside = _set_aside(key, new, now.lines)
    previous, index = now.head, now.next_index
    for offset, line in enumerate(new):
        if now.lines + offset + 1 in set_aside:
            continue
        _check_line(key, device_id, line, index, previous)
        previous, index = entry_hash(line), index + 1
    end = head_ref(index - 1, previous) if index else None
    if end != head:
        raise Refused(FORK, f"the lines offered end at {end}, not at the head the device claims ({head})")
    return now, new


def _set_aside(key, lines: list[bytes], first: int) -> set[int]:
    """Line numbers (from 1, in the whole ledger) of torn lines a signed repair entry names,
    one or two lines after, with their size and hash."""
    named = set()
    for offset, line in enumerate(lines):
        entry = parse_object(line)
        if not (isinstance(entry, dict) and entry.get("type") == "repair" and signature_valid(key, entry)):
            continue
        body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
        number = first + offset + 1
        torn = body.get("line")
        if isinstance(torn, int) and 1 <= number - torn <= 2 and torn > first:
            data = lines[torn - first - 1]
            if body.get("size") == len(data) and body.get("sha256") == sha256_hex(data):
                named.add(torn)
    return named


def _head_index(head: str) -> int:
    index, _, digest = head.partition(":")
    if not index.isdigit() or len(digest) != 64:
        raise Refused(BAD_LINE, f"{head!r} is not a ledger head (INDEX:SHA256)")
    return int(index)


def _device_key(key_path: Path, offered: bytes):
    """The device key the dock knows (device.pub), or the offered one on first contact."""
    if not key_path.exists():
        return _load_offered(offered)
    key = load_public_key(key_path)
    if not pem_is_key(offered, key):
        raise ValueError("the device offers another public key than the one the dock holds for it")
    return key


def _load_offered(pem: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ValueError("the offered public key is not a PEM key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the offered public key is not an Ed25519 key")
    return key


def _check_line(key, device_id: str, line: bytes, index: int, previous: str) -> None:
    entry = parse_object(line)
    where = f"entry {index}"
    if entry is None:
        raise Refused(BAD_LINE, f"{where} is not a JSON object")
    try:
        canonical = canonical_bytes(entry) == line
    except (ValueError, TypeError):
        canonical = False
    if not canonical:
        raise Refused(BAD_LINE, f"{where} is not canonical JSON: edited")
    if entry.get("index") != index:
        raise Refused(MISSING if isinstance(entry.get("index"), int) and entry["index"] > index else FORK,
                      f"{where}: the line says index {entry.get('index')!r}")
    if entry.get("prev") != previous:
        raise Refused(FORK, f"{where}: prev is not the hash of the entry before it (the held head)")
    if entry.get("device_id") != device_id or not signature_valid(key, entry):
        raise Refused(BAD_LINE, f"{where}: not signed by the device's key")


def append_witnessed(store: Path, public_key_pem: bytes, lines: list[bytes]) -> Held:
    """Append checked lines to the dock's copy durably (file and directory), device.pub first
    on first contact; returns the new head. One writer per device at a time (flock)."""
    (store / "ledger").mkdir(parents=True, exist_ok=True)
    (store / "device").mkdir(exist_ok=True)
    key_path = store / "device" / "device.pub"
    if not key_path.exists():
        create_new(key_path, public_key_pem)
    path = store / "ledger" / "ledger.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        write_all(fd, b"".join(line + b"\n" for line in lines))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return held(path)
