"""Freeing space on the device: only against a receipt (the issue's item 7).

The receipt must verify with the dock certificate provisioning pinned, be for this device,
and name each file with the size and SHA-256 the file on the device has now (hashed here,
not taken from the ledger; a file this offload sent whole was hashed as it was read for
sending, and counts as unchanged while its inode, size, mode, mtime and ctime are those it
had then — any write through the filesystem changes the ctime). Then, in this order: the
receipt is kept in the store (receipts/<sha256>.json, read-only, fsync'd), a `release`
entry naming it, its head and every file is appended to the ledger (signed, fsync'd), and
only then are the files unlinked and their directories fsync'd. A power cut between the entry and the unlinks
leaves files the ledger says were released: they still verify, and the next offload frees
them under the same receipt. This is the one place in the package that removes a file
(tests/test_no_deletion.py allows exactly it)."""

import os
import stat
from dataclasses import dataclass

from ..evidence import entries
from ..evidence.files import hash_regular
from ..evidence.layout import StoreLayout
from ..evidence.ledger import LedgerText
from ..evidence.receipts import Receipt, ReceiptError, check_receipt, certificate_sha256
from ..store.disk import fsync_dir, write_sealed_file


@dataclass(frozen=True)
class Sent:
    """A file as the offload read it to send it whole."""

    size: int
    sha256: str
    identity: tuple  # stat_identity when it was read


def stat_identity(info: os.stat_result) -> tuple:
    return (info.st_dev, info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@dataclass(frozen=True)
class Released:
    receipt: str  # its SHA-256
    files: list[dict]  # {"path", "sha256", "size"} freed
    kept: list[str]  # files the receipt names that the device no longer has or has otherwise


def freeable(store: StoreLayout, receipt: Receipt, sent: dict[str, Sent] | None = None) -> tuple[list[dict], list[str]]:
    """(files the receipt covers exactly as the device holds them, the rest it names)."""
    free, other = [], []
    for record in receipt.files:
        path = record["path"]
        if not path.startswith("media/") or "/../" in path or path.endswith(".partial"):
            continue  # the ledger's range, or nothing the device frees
        try:
            size, sha256 = _as_read(store.root / path, (sent or {}).get(path)) or hash_regular(store.root / path)
        except FileNotFoundError:
            continue  # freed already (an earlier release)
        except OSError:
            other.append(path)
            continue
        if (size, sha256) == (record["size"], record["sha256"]):
            free.append({"path": path, "sha256": sha256, "size": size})
        else:
            other.append(path)
    return free, other


def _as_read(path, sent: Sent | None) -> tuple[int, str] | None:
    """(size, SHA-256) of a file sent whole, while it is unchanged since; else None."""
    if sent is None:
        return None
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (sent.size, sent.sha256) if stat.S_ISREG(info.st_mode) and stat_identity(info) == sent.identity else None


def release_under_receipt(store: StoreLayout, ledger, stamp, data: bytes, dock_certificate, device_id: str,
                          sent: dict[str, Sent] | None = None) -> Released:
    """Check the receipt, keep it, record the release, free the files. ReceiptError frees
    nothing. sent: files this offload read whole to send them (not read again)."""
    receipt = check_receipt(data, dock_certificate, device_id)
    free, other = freeable(store, receipt, sent)
    if not free:
        return Released(receipt.sha256, [], other)
    kept = store.root / store.receipt_relative(receipt.sha256)
    if not kept.exists():
        kept.parent.mkdir(exist_ok=True)
        write_sealed_file(kept, receipt.data)
        fsync_dir(kept.parent)
    ledger.append("release", entries.release(store.receipt_relative(receipt.sha256), receipt.sha256, receipt.head,
                                             certificate_sha256(dock_certificate), free), stamp())
    free_files(store, free)
    return Released(receipt.sha256, free, other)


def free_files(store: StoreLayout, files: list[dict]) -> None:
    directories = set()
    for record in files:
        path = store.root / record["path"]
        os.unlink(path)  # the one removal: under a receipt the ledger now names
        directories.add(path.parent)
    for directory in sorted(directories):
        fsync_dir(directory)


def pending_releases(store: StoreLayout, dock_certificate, device_id: str) -> list[dict]:
    """Files a `release` entry names that are still on disk (a power cut came between the
    entry and the unlinks), which the receipt kept beside it covers with the same hash:
    freed by the next offload without a new entry."""
    if not store.ledger_path.exists():
        return []
    pending = []
    for _, _, entry in LedgerText.parse(store.ledger_path.read_bytes()).entries():
        if not (isinstance(entry, dict) and entry.get("type") == "release"):
            continue
        try:
            receipt = check_receipt((store.root / entry["body"]["receipt"]).read_bytes(), dock_certificate, device_id)
        except (OSError, ReceiptError, KeyError, TypeError):
            continue
        free, _ = freeable(store, receipt)
        named = {(r["path"], r["sha256"], r["size"]) for r in entry["body"]["files"] if isinstance(r, dict)}
        pending += [r for r in free if (r["path"], r["sha256"], r["size"]) in named]
    return pending


__all__ = ["ReceiptError", "Released", "Sent", "stat_identity", "release_under_receipt", "pending_releases", "free_files"]
