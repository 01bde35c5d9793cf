"""Freeing space on the device only under a dock receipt (issue 13, item 7), and what the
verifier makes of a store that freed files (`release`, `release-mismatch`).

Real keys (an agency made by `init_agency`: its dock certificate and P-256 key), a real
recorded store, real files freed; nothing network here (tests/test_dock.py has the link)."""

import json
import multiprocessing
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import copy_device, device_identity
from media import segments_of
from recorder.agency.authority import init_agency
from recorder.agency.certs import new_key
from recorder.clock import SystemClock
from recorder.evidence.canonical import sha256_hex
from recorder.evidence.layout import StoreLayout
from recorder.evidence.ledger import LedgerText
from recorder.evidence.receipts import ReceiptError, sign_receipt
from recorder.evidence.verifier import verify_store
from recorder.offload.release import pending_releases, release_under_receipt
from recorder.seal.ledger import Ledger

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def dock(tmp_path_factory):
    """(the dock's certificate, its private key) from a real agency."""
    root = tmp_path_factory.mktemp("agency") / "agency"
    agency = init_agency(root, "Test City", "dock.test", NOW)
    key = serialization.load_pem_private_key((root / "dock.key").read_bytes(), password=None)
    return agency.dock(), key


@pytest.fixture
def device(recorded_store, tmp_path):
    store = copy_device(recorded_store, tmp_path / "store")
    return StoreLayout(store)


def stamp():
    return SystemClock(discipline=lambda: ("none", None)).stamp()


def files_of(store: StoreLayout, paths) -> list[dict]:
    out = []
    for path in paths:
        data = (store.root / path).read_bytes()
        out.append({"path": path, "sha256": sha256_hex(data), "size": len(data),
                    "stored": {"location": f"file:objects/sha256/{sha256_hex(data)}", "locked": True}})
    return out


def media_files(store: StoreLayout) -> list[str]:
    return sorted(p.relative_to(store.root).as_posix() for p in (store.root / "media").rglob("*") if p.is_file())


def receipt_for(store, dock, files, device_id=None, key=None) -> bytes:
    certificate, dock_key = dock
    head = LedgerText.parse(store.ledger_path.read_bytes()).head_ref
    document = sign_receipt(key or dock_key, certificate, "dock.test", device_id or device_identity(store.root).device_id,
                            "2026-12-03T12:00:00Z", head, files)
    return json.dumps(document, indent=1).encode()


def release(store, dock, data, sent=None):
    identity = device_identity(store.root)
    return release_under_receipt(store, Ledger(store.ledger_path, identity), stamp, data, dock[0], identity.device_id,
                                 sent)


def test_a_receipt_frees_exactly_the_files_it_names_and_the_store_still_verifies(device, dock):
    first = segments_of(device.root)[:2]
    named = [device.relative(p) for p in first] + [device.relative(p.with_name(p.name.replace(".mp4", ".manifest.json")))
                                                   for p in first]
    before = media_files(device)
    released = release(device, dock, receipt_for(device, dock, files_of(device, named)))
    assert sorted(r["path"] for r in released.files) == sorted(named)
    assert media_files(device) == sorted(set(before) - set(named))  # exactly those, nothing else
    kept = device.root / "receipts" / f"{released.receipt}.json"
    assert kept.exists() and sha256_hex(kept.read_bytes()) == released.receipt
    entry = json.loads(device.ledger_path.read_bytes().splitlines()[-1])
    assert entry["type"] == "release" and sorted(f["path"] for f in entry["body"]["files"]) == sorted(named)
    report = verify_store(device.root)
    assert [p.code for p in report.problems] == [] and report.segments == len(segments_of(Path(device.root))) + 2


def test_a_file_changed_since_it_was_sent_is_hashed_again_and_not_freed(device, dock):
    """The offload's hash of a file it sent whole stands for the file only while its inode,
    size, mode, mtime and ctime are unchanged: a file rewritten since is read again."""
    import os

    from recorder.offload.release import Sent, stat_identity

    [first, second] = segments_of(device.root)[:2]
    paths = [device.relative(first), device.relative(second)]
    receipt = receipt_for(device, dock, files_of(device, paths))
    sent = {}
    for path in paths:
        data = (device.root / path).read_bytes()
        sent[path] = Sent(len(data), sha256_hex(data), stat_identity(os.stat(device.root / path)))
    second.chmod(0o644)  # rewritten in place with other bytes of the same size
    data = bytearray(second.read_bytes())
    data[-1] ^= 0xFF
    second.write_bytes(bytes(data))
    released = release(device, dock, receipt, sent)
    assert [r["path"] for r in released.files] == [paths[0]] and released.kept == [paths[1]]
    assert second.exists() and not first.exists()


def test_the_offload_takes_a_file_as_read_only_when_it_was_sent_whole_and_unchanged(tmp_path):
    """What the offload's reader hands the release: the hash of the bytes it sent, for a file
    sent whole that did not change while it was read (a chmod midway: nothing)."""
    from concurrent.futures import ThreadPoolExecutor

    from recorder.offload.run import Outcome, _Reader

    path = tmp_path / "segment"
    path.write_bytes(bytes(range(256)) * 12_000)  # three reads of 1 MiB
    for change_midway in (False, True):
        with ThreadPoolExecutor(1) as hasher, open(path, "rb") as f:
            reader = _Reader(f, path.stat().st_size, Outcome(), hasher)
            reader.read(1 << 20)
            if change_midway:
                path.chmod(0o600)
            while reader.read(1 << 20):
                pass
            sent = reader.sent(f.fileno())
        if change_midway:
            assert sent is None
        else:
            assert (sent.size, sent.sha256) == (path.stat().st_size, sha256_hex(path.read_bytes()))


def tree(store: StoreLayout) -> dict:
    return {p.relative_to(store.root).as_posix(): p.read_bytes() for p in store.root.rglob("*") if p.is_file()}


def test_a_forged_receipt_frees_nothing(device, dock):
    before = tree(device)
    named = files_of(device, [device.relative(p) for p in segments_of(device.root)])
    with pytest.raises(ReceiptError, match="signature"):
        release(device, dock, receipt_for(device, dock, named, key=new_key()))
    edited = json.loads(receipt_for(device, dock, named))
    edited["files"] = edited["files"][:1]  # one file fewer: the signature no longer covers it
    with pytest.raises(ReceiptError, match="signature"):
        release(device, dock, json.dumps(edited).encode())
    with pytest.raises(ReceiptError, match="for device"):
        release(device, dock, receipt_for(device, dock, named, device_id="rec-0000000000000000"))
    assert tree(device) == before


def test_a_receipt_signed_by_an_unknown_dock_frees_nothing(device, dock, tmp_path):
    other = init_agency(tmp_path / "other", "Elsewhere", "dock.test", NOW)
    other_key = serialization.load_pem_private_key((tmp_path / "other" / "dock.key").read_bytes(), password=None)
    before = tree(device)
    named = files_of(device, [device.relative(p) for p in segments_of(device.root)])
    with pytest.raises(ReceiptError, match="another dock certificate"):
        release(device, dock, receipt_for(device, (other.dock(), other_key), named))
    assert tree(device) == before


def test_a_receipt_for_other_hashes_frees_nothing(device, dock):
    before = tree(device)
    named = files_of(device, [device.relative(p) for p in segments_of(device.root)])
    for record in named:
        record["sha256"] = "0" * 64
    released = release(device, dock, receipt_for(device, dock, named))
    assert released.files == [] and len(released.kept) == len(named)
    assert tree(device) == before  # no entry, no receipt kept, no file freed


def test_a_power_cut_between_the_entry_and_the_unlinks_verifies_and_is_finished_later(device, dock, monkeypatch):
    import recorder.offload.release as module

    monkeypatch.setattr(module, "free_files", lambda store, files: None)  # the power went here
    segment = segments_of(device.root)[0]
    released = release(device, dock, receipt_for(device, dock, files_of(device, [device.relative(segment)])))
    assert segment.exists() and released.files
    assert verify_store(device.root).problems == []
    monkeypatch.undo()
    identity = device_identity(device.root)
    pending = pending_releases(device, dock[0], identity.device_id)
    assert [r["path"] for r in pending] == [device.relative(segment)]
    module.free_files(device, pending)
    assert not segment.exists() and verify_store(device.root).problems == []


def test_an_altered_kept_receipt_is_a_release_mismatch(device, dock):
    released = release(device, dock, receipt_for(device, dock, files_of(device, [device.relative(segments_of(device.root)[0])])))
    kept = device.root / "receipts" / f"{released.receipt}.json"
    kept.chmod(0o644)
    kept.write_bytes(kept.read_bytes().replace(b"dock.test", b"dock.evil"))
    report = verify_store(device.root)
    assert [(p.code, p.location) for p in report.problems] == [("release-mismatch", f"receipts/{released.receipt}.json")]


def test_a_release_of_a_file_no_entry_named_is_a_release_mismatch(device, dock):
    identity = device_identity(device.root)
    ledger = Ledger(device.ledger_path, identity)
    released = release(device, dock, receipt_for(device, dock, files_of(device, [device.relative(segments_of(device.root)[0])])))
    body = json.loads(device.ledger_path.read_bytes().splitlines()[-1])["body"]
    body["files"] = [{"path": "media/elsewhere/00001.mp4", "sha256": "1" * 64, "size": 1}]
    ledger.append("release", body, stamp())
    report = verify_store(device.root)
    assert {p.code for p in report.problems} == {"release-mismatch"}
    assert "media/elsewhere/00001.mp4" in report.problems[0].message
    assert released.receipt in body["receipt"]


def _append_many(store_root: str, count: int, tag: str):
    from conftest import device_identity as identity_of

    ledger = Ledger(Path(store_root) / "ledger" / "ledger.jsonl", identity_of(Path(store_root)))
    for n in range(count):
        ledger.append("warning", {"kind": "storage", "level": "storage-low", "detail": f"{tag} {n}"}, stamp())


def test_two_processes_appending_at_once_leave_one_chain(device):
    before = len(device.ledger_path.read_bytes().splitlines())
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(device.root), 50, tag)) for tag in ("agent", "offload")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    lines = device.ledger_path.read_bytes().splitlines()
    assert len(lines) == before + 100
    assert verify_store(device.root).problems == []  # indexes consecutive, every prev the line before


def test_what_receipts_cover_is_what_a_reprovisioning_would_not_orphan(device, dock):
    from recorder.provision.receipts import uncovered_footage

    segments = [device.relative(p) for p in segments_of(device.root)]
    assert sorted(uncovered_footage(device)) == sorted(segments)
    manifests = [s.replace(".mp4", ".manifest.json") for s in segments]
    release(device, dock, receipt_for(device, dock, files_of(device, segments[:1] + manifests[:1])))
    assert sorted(uncovered_footage(device)) == sorted(segments[1:])


def test_a_release_at_the_dock_does_not_stretch_the_shift(device, dock):
    """The offload's entries come after the agent's run, at the dock: the shift still ends
    where the agent's run did (evidence/history.py, OFFLOAD_ENTRIES)."""
    from recorder.evidence.shifts import shift_report

    before = [(s["start"], s["end"]) for s in shift_report(device.root)["shifts"]]
    release(device, dock, receipt_for(device, dock, files_of(device, [device.relative(segments_of(device.root)[0])])))
    assert [(s["start"], s["end"]) for s in shift_report(device.root)["shifts"]] == before
