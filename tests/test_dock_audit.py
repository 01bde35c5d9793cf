"""Audited access at the dock (issue 13, item 10; docs/DOCK.md, "Audited access"): every export
or view names a requester and a reason and is written to the dock's hash-chained, signed
access log before a byte leaves; `recorder dock audit` shows the log and finds every edit,
removal, reordering, forgery and (against a head written down) every cut of its end.

Real keys (an agency and a dock made by the real code), a real recording of the simulated
body, real files; what is exported is hashed and decoded here, and the log is checked here
with `cryptography` and `rfc8785` directly, not only through the code under test."""

import ast
import base64
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import av
import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import device_identity, record, recorder, require_tool
from media import ledger_entries
from recorder.agency.authority import init_agency
from recorder.dock import access
from recorder.dock.audit import AuditLog
from recorder.dock.audit_check import verify_audit
from recorder.dock.keys import init_dock, load_dock_keys
from recorder.dock.layout import DockLayout
from recorder.encryption import Identity, Recipient, StreamEncryptor
from recorder.evidence.documents import signed, unsigned
from recorder.seal.ledger import Ledger

DOCK_PACKAGE = Path(access.__file__).parent


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def device_store(tmp_path_factory) -> Path:
    """A real recording: the simulated body, 1 s of pre-record, 5 s recorded (two segments)."""
    return record(tmp_path_factory.mktemp("device"), start_at=1, duration=5)


@pytest.fixture(scope="module")
def agency(tmp_path_factory):
    return init_agency(tmp_path_factory.mktemp("agency") / "agency", "Test PSB", "dock.test",
                       datetime.now(timezone.utc))


def device_id_of(store: Path) -> str:
    return ledger_entries(store)[0]["device_id"]


def segments_in(store: Path) -> list[dict]:
    return [e["body"] for e in ledger_entries(store) if e["type"] == "segment"]


@pytest.fixture
def dock(tmp_path, agency, device_store) -> Path:
    """A dock holding the device's store as received."""
    root = tmp_path / "dock"
    init_dock(root, agency.root)
    shutil.copytree(device_store, DockLayout(root).device_store(device_id_of(device_store)))
    return root


def audit_lines(dock: Path) -> list[dict]:
    return [json.loads(line) for line in DockLayout(dock).audit_path.read_bytes().splitlines()]


def dock_public_key(dock: Path):
    return load_dock_keys(dock).certificate.public_key()


def independently_verified(dock: Path, entry: dict) -> bool:
    """The entry's signature checked here: ECDSA P-256 SHA-256 over RFC 8785 of it without sig."""
    message = rfc8785.dumps({k: v for k, v in entry.items() if k != "sig"})
    try:
        dock_public_key(dock).verify(base64.b64decode(entry["sig"]), message, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


def export_args(dock, store, output, *extra, requester="Wang Fang, 区检察院", reason="案件 2026-0417, 批准 #88"):
    session = segments_in(store)[0]["session_id"]
    return ["dock", "export", dock, "--requester", requester, "--reason", reason, "--device", device_id_of(store),
            "--session", session, "-o", output, *extra]


def audit_json(dock, *extra) -> tuple[int, dict]:
    result = recorder("dock", "audit", dock, "--json", *extra, check=False)
    return result.returncode, json.loads(result.stdout)


def frames_decoded(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ exports


@pytest.mark.parametrize("requester,reason", [("", "a reason"), ("Li", "   "), (None, "a reason"), ("Li", None)])
def test_an_export_without_a_requester_or_a_reason_is_refused_and_nothing_is_written(
        dock, device_store, tmp_path, requester, reason):
    args = export_args(dock, device_store, tmp_path / "out", requester=requester or "", reason=reason or "")
    if requester is None:
        args = [a for a in args if a not in ("--requester", "")]
    if reason is None:
        args = [a for a in args if a not in ("--reason", "")]
    result = recorder(*args, check=False)
    assert result.returncode == 2
    assert "requester" in result.stderr or "reason" in result.stderr
    assert not (tmp_path / "out").exists()
    assert not DockLayout(dock).audit_path.parent.exists()


def test_an_export_logs_its_grant_then_writes_the_sealed_segments_and_logs_what_it_wrote(dock, device_store, tmp_path):
    out = tmp_path / "out"
    result = recorder(*export_args(dock, device_store, out))
    granted, done = audit_lines(dock)
    assert [granted["result"]["status"], done["result"]["status"]] == ["granted", "done"]
    assert granted["requester"] == done["requester"] == "Wang Fang, 区检察院"
    assert granted["reason"] == "案件 2026-0417, 批准 #88"
    assert done["result"]["grant"] == granted["index"] == 0 and done["index"] == 1
    assert all(independently_verified(dock, e) for e in (granted, done))
    assert granted["prev"] == "0" * 64
    first_line = DockLayout(dock).audit_path.read_bytes().split(b"\n")[0]
    assert done["prev"] == hashlib.sha256(first_line).hexdigest()
    segments = segments_in(device_store)
    assert len(segments) >= 2
    for body in segments:
        exported = out / f"{body['seq']:05d}.mp4"
        assert sha256_of(exported) == body["file_sha256"]  # the file the device sealed, to the byte
        assert frames_decoded(exported) == body["frames"]
        manifest = out / f"{body['seq']:05d}.manifest.json"
        assert sha256_of(manifest) == body["manifest_sha256"]
    listed = {f["name"]: f["sha256"] for f in done["result"]["files"]}
    assert listed == {p.name: sha256_of(p) for p in out.iterdir()}
    assert done["result"]["bytes"] == sum(p.stat().st_size for p in out.iterdir())
    assert str(out) in result.stdout
    code, report = audit_json(dock)
    assert code == 0 and report["ok"] and report["problems"] == []


def test_the_grant_is_on_disk_before_the_first_byte_is_written(dock, device_store, tmp_path, monkeypatch):
    seen = []
    real = access._write_segment

    def watching(output, segment, identities):
        seen.append(([json.loads(x) for x in DockLayout(dock).audit_path.read_bytes().splitlines()],
                     sorted(p.name for p in output.iterdir())))
        return real(output, segment, identities)

    monkeypatch.setattr(access, "_write_segment", watching)
    body = segments_in(device_store)[1]
    request = access.Request("Li", "review", device_id_of(device_store), body["session_id"], body["seq"])
    access.export(dock, request, tmp_path / "one")
    (log_then, files_then), = seen
    assert [e["result"]["status"] for e in log_then] == ["granted"]
    assert files_then == []
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["00002.manifest.json", "00002.mp4"]


def test_a_failure_after_the_grant_is_logged_as_failed(dock, device_store, tmp_path, monkeypatch):
    def full_disk(output, segment, identities):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(access, "_write_segment", full_disk)
    body = segments_in(device_store)[0]
    request = access.Request("Li", "review", device_id_of(device_store), body["session_id"])
    with pytest.raises(access.AccessRefused, match="do not use"):
        access.export(dock, request, tmp_path / "out")
    statuses = [(e["result"]["status"], e["result"].get("grant")) for e in audit_lines(dock)]
    assert statuses == [("granted", None), ("failed", 0)]


def test_a_grant_without_its_completion_is_shown_as_unfinished(dock):
    log = AuditLog(DockLayout(dock).audit_path, load_dock_keys(dock).private_key())
    log.append("Li", "review", "export", {"device_id": "rec-0", "session_id": "s", "seq": None},
               {"status": "granted", "output": "/x", "segments": [1], "identities": []})
    code, report = audit_json(dock)
    assert code == 0 and report["unfinished"] == [0]
    assert "grant 0 has no done" in recorder("dock", "audit", dock, "--language", "en").stdout


def test_refusals_are_logged_with_why_and_export_nothing(dock, device_store, tmp_path):
    device = device_id_of(device_store)
    (tmp_path / "taken").mkdir()
    cases = [
        (["--session", "0" * 32], "no session"),
        (["--device", "rec-0000000000000000"], "nothing of device"),
        (["--seq", "99"], "no segment 99"),
        (["-o", tmp_path / "taken"], "exists already"),
    ]
    for extra, why in cases:
        args = export_args(dock, device_store, tmp_path / "out") + extra
        result = recorder(*args, check=False)
        assert result.returncode == 2 and why in result.stderr
    assert not (tmp_path / "out").exists() and list((tmp_path / "taken").iterdir()) == []
    entries = audit_lines(dock)
    assert [e["result"]["status"] for e in entries] == ["refused"] * 4
    assert [why in e["result"]["why"] for e, (_, why) in zip(entries, cases)] == [True] * 4
    assert entries[0]["subject"] == {"device_id": device, "session_id": "0" * 32, "seq": None}
    assert recorder("dock", "audit", dock, check=False).returncode == 0


def test_a_segment_that_is_not_the_one_sealed_is_refused_and_logged(dock, device_store, tmp_path):
    body = segments_in(device_store)[0]
    stored = DockLayout(dock).device_store(device_id_of(device_store)) / body["path"]
    stored.chmod(0o644)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    result = recorder(*export_args(dock, device_store, tmp_path / "out"), check=False)
    assert result.returncode == 2 and "not the file the device sealed" in result.stderr
    assert not (tmp_path / "out").exists()
    (entry,) = audit_lines(dock)
    assert entry["result"]["status"] == "refused" and f"segment {body['seq']}" in entry["result"]["why"]


def test_a_view_is_an_audited_copy_in_a_new_private_directory(dock, device_store):
    body = segments_in(device_store)[0]
    result = recorder("dock", "view", dock, "--requester", "Zhao", "--reason", "playback for the hearing",
                      "--device", device_id_of(device_store), "--session", body["session_id"], "--seq", body["seq"])
    copy = Path(result.stdout.splitlines()[0].split()[0])
    assert sha256_of(copy) == body["file_sha256"] and frames_decoded(copy) == body["frames"]
    assert copy.parent.stat().st_mode & 0o777 == 0o700
    assert [(e["action"], e["result"]["status"]) for e in audit_lines(dock)] == [("view", "granted"), ("view", "done")]


def test_a_refused_view_leaves_no_directory(dock, device_store, tmp_path):
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    result = recorder("dock", "view", dock, "--requester", "Zhao", "--reason", "playback",
                      "--device", device_id_of(device_store), "--session", "no-such-session", check=False, env=env)
    assert result.returncode == 2 and list((tmp_path / "tmp").iterdir()) == []
    assert [(e["action"], e["result"]["status"]) for e in audit_lines(dock)] == [("view", "refused")]


# ------------------------------------------------------------------ encrypted segments


def encrypted_copy(store: Path, target: Path, recipient: Recipient, plaintext_lie: bool = False) -> Path:
    """The store as format 5 writes it (docs/ENCRYPTION.md): each segment an age file
    `<seq>.mp4.age` encrypted to the agency, its manifest naming the ciphertext in `file` and the
    plaintext in `encryption.plaintext`, the ledger's segment entries the ciphertext — all signed
    again by the device's own key, through the device's own ledger writer."""
    identity = device_identity(store)
    (target / "device").mkdir(parents=True)
    (target / "ledger").mkdir()
    shutil.copy(store / "device" / "device.pub", target / "device" / "device.pub")
    ledger = Ledger(target / "ledger" / "ledger.jsonl", identity)
    for entry in ledger_entries(store):
        body = entry["body"]
        if entry["type"] == "segment":
            plain = (store / body["path"]).read_bytes()
            sink = _Buffer()
            encryptor = StreamEncryptor(sink, recipient)
            encryptor.write(plain)
            encryptor.close()
            cipher = bytes(sink.data)
            path = body["path"] + ".age"
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_bytes(cipher)
            manifest = unsigned(json.loads((store / body["manifest"]).read_bytes()))
            manifest["file"] = {"name": Path(path).name, "size": len(cipher),
                                "sha256": hashlib.sha256(cipher).hexdigest()}
            plain_sha256 = hashlib.sha256(plain + (b"x" if plaintext_lie else b"")).hexdigest()
            manifest["encryption"] = {"format": "age-encryption.org/v1", "recipients": [str(recipient)],
                                      "header_size": 0, "aligned": True, "final_chunk": True,
                                      "plaintext": {"size": len(plain), "sha256": plain_sha256},
                                      "index": {}}
            manifest_bytes = rfc8785.dumps(signed(identity, manifest))
            (target / body["manifest"]).write_bytes(manifest_bytes)
            body = {**body, "path": path, "file_size": len(cipher), "file_sha256": hashlib.sha256(cipher).hexdigest(),
                    "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()}
        ledger.append(entry["type"], body, entry["at"])
    return target


class _Buffer:
    def __init__(self):
        self.data = bytearray()

    def write(self, data):
        self.data += data
        return len(data)


@pytest.fixture
def encrypted_dock(tmp_path, agency, device_store) -> Path:
    root = tmp_path / "edock"
    init_dock(root, agency.root)
    recipient = Recipient.parse(agency.recipient)
    encrypted_copy(device_store, DockLayout(root).device_store(device_id_of(device_store)), recipient)
    return root


def test_an_encrypted_segment_is_exported_decrypted_with_the_right_identity(encrypted_dock, device_store, agency,
                                                                            tmp_path):
    stored = DockLayout(encrypted_dock).device_store(device_id_of(device_store))
    for cipher in stored.glob("media/*/*.mp4.age"):  # what a clerk's own `age -d` makes of it
        plain = subprocess.run([require_tool("age"), "-d", "-i", agency.root / "age-identity.txt", cipher],
                               capture_output=True, check=True).stdout
        assert hashlib.sha256(plain).hexdigest() in {b["file_sha256"] for b in segments_in(device_store)}
    assert all(p.read_bytes().startswith(b"age-encryption.org/v1\n") for p in stored.glob("media/*/*.mp4.age"))
    out = tmp_path / "out"
    recorder(*export_args(encrypted_dock, device_store, out, "--identity", agency.root / "age-identity.txt"))
    for body in segments_in(device_store):  # the original plaintext store's ledger
        exported = out / f"{body['seq']:05d}.mp4"
        assert sha256_of(exported) == body["file_sha256"]
        assert frames_decoded(exported) == body["frames"]
    granted, done = audit_lines(encrypted_dock)
    assert granted["result"]["identities"] == [agency.recipient]
    assert all(f["decrypted"] for f in done["result"]["files"] if f["name"].endswith(".mp4"))
    assert "AGE-SECRET-KEY" not in DockLayout(encrypted_dock).audit_path.read_text()


def test_an_encrypted_segment_with_a_wrong_or_no_identity_is_refused_and_logged(encrypted_dock, device_store,
                                                                               tmp_path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(Identity.generate().key_file_text())
    result = recorder(*export_args(encrypted_dock, device_store, tmp_path / "out", "--identity", wrong), check=False)
    assert result.returncode == 2 and "does not open" in result.stderr
    result = recorder(*export_args(encrypted_dock, device_store, tmp_path / "out"), check=False)
    assert result.returncode == 2 and "--identity" in result.stderr
    assert not (tmp_path / "out").exists()
    first, second = audit_lines(encrypted_dock)
    assert first["result"]["status"] == second["result"]["status"] == "refused"
    assert "does not open" in first["result"]["why"] and "encrypted" in second["result"]["why"]
    assert "AGE-SECRET-KEY" not in DockLayout(encrypted_dock).audit_path.read_text()


def test_a_decryption_that_is_not_the_plaintext_the_manifest_names_is_refused(tmp_path, agency, device_store):
    root = tmp_path / "ldock"
    init_dock(root, agency.root)
    encrypted_copy(device_store, DockLayout(root).device_store(device_id_of(device_store)),
                   Recipient.parse(agency.recipient), plaintext_lie=True)
    args = export_args(root, device_store, tmp_path / "out", "--identity", agency.root / "age-identity.txt")
    result = recorder(*args, check=False)
    assert result.returncode == 2 and "not the plaintext its manifest names" in result.stderr
    assert not (tmp_path / "out").exists()
    assert [e["result"]["status"] for e in audit_lines(root)] == ["refused"]


# ------------------------------------------------------------------ the log: tampering


def logged(dock: Path, count: int) -> list[bytes]:
    log = AuditLog(DockLayout(dock).audit_path, load_dock_keys(dock).private_key())
    for n in range(count):
        log.append(f"clerk {n}", f"reason {n}", "export", {"device_id": "rec-0", "session_id": "s", "seq": n},
                   {"status": "refused", "why": "test"})
    return DockLayout(dock).audit_path.read_bytes().splitlines(keepends=True)


def rewrite(dock: Path, lines: list[bytes]) -> None:
    DockLayout(dock).audit_path.write_bytes(b"".join(lines))


def problems_of(dock: Path, *extra) -> list[tuple[str, int]]:
    code, report = audit_json(dock, *extra)
    assert code == (0 if report["ok"] else 1)
    return [(p["code"], p["line"]) for p in report["problems"]]


def test_an_intact_log_verifies_and_its_text_says_so(dock):
    logged(dock, 3)
    result = recorder("dock", "audit", dock, "--language", "en")
    assert "The log verifies: 3 entries" in result.stdout and "clerk 1" in result.stdout
    assert "日志完整：3 条记录" in recorder("dock", "audit", dock).stdout


def test_an_edited_line_is_found_on_its_line(dock):
    lines = logged(dock, 4)
    entry = json.loads(lines[1])
    entry["reason"] = "another reason"
    rewrite(dock, lines[:1] + [rfc8785.dumps(entry) + b"\n"] + lines[2:])
    found = problems_of(dock)
    assert ("bad-signature", 2) in found and ("chain-broken", 3) in found
    result = recorder("dock", "audit", dock, "--language", "en", check=False)
    assert result.returncode == 1 and "line 2: bad signature" in result.stdout
    assert "THE LOG DOES NOT VERIFY" in result.stdout


def test_a_non_canonical_edit_is_found_on_its_line(dock):
    lines = logged(dock, 3)
    rewrite(dock, lines[:2] + [lines[2].replace(b'"reason":', b'"reason": ')])
    assert ("not-canonical", 3) in problems_of(dock)


def test_a_removed_line_is_found(dock):
    lines = logged(dock, 4)
    rewrite(dock, lines[:1] + lines[2:])
    found = problems_of(dock)
    assert ("index", 2) in found and ("chain-broken", 2) in found


def test_a_reordered_pair_is_found(dock):
    lines = logged(dock, 4)
    rewrite(dock, [lines[0], lines[2], lines[1], lines[3]])
    found = problems_of(dock)
    assert {("index", 2), ("chain-broken", 2), ("chain-broken", 3)} <= set(found)


def test_an_entry_signed_with_another_key_is_found(dock):
    lines = logged(dock, 3)
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = {**json.loads(lines[2]), "requester": "nobody"}
    message = rfc8785.dumps({k: v for k, v in forged.items() if k != "sig"})
    forged["sig"] = base64.b64encode(forger.sign(message, ec.ECDSA(hashes.SHA256()))).decode()
    rewrite(dock, lines[:2] + [rfc8785.dumps(forged) + b"\n"])
    assert problems_of(dock) == [("bad-signature", 3)]
    # and a whole entry appended by someone with another key, chained correctly
    lines = logged(dock, 0)
    rewrite(dock, lines[:2])
    forger_log = AuditLog(DockLayout(dock).audit_path, forger)
    forger_log.append("nobody", "cover", "export", {"device_id": "rec-0", "session_id": "s", "seq": 1},
                      {"status": "refused", "why": "x"})
    assert problems_of(dock) == [("bad-signature", 3)]


def test_a_cut_tail_shows_against_a_head_written_down(dock):
    lines = logged(dock, 5)
    head = "4:" + hashlib.sha256(lines[4].rstrip(b"\n")).hexdigest()
    assert problems_of(dock, "--head", head) == []
    rewrite(dock, lines[:3])
    assert problems_of(dock) == []  # valid in itself: only a head shows the cut
    assert problems_of(dock, "--head", head) == [("head-missing", 4)]
    result = recorder("dock", "audit", dock, "--head", head, "--language", "en", check=False)
    assert result.returncode == 1 and "line 4: entries cut from the end" in result.stdout
    # a head that is still there but with other bytes: the log was rewritten
    other = f"1:{'0' * 64}"
    assert problems_of(dock, "--head", other) == [("head-mismatch", 2)]


def test_a_bad_head_or_no_dock_cannot_run(dock, tmp_path):
    assert recorder("dock", "audit", dock, "--head", "nonsense", check=False).returncode == 2
    result = recorder("dock", "audit", tmp_path / "nowhere", "--json", check=False)
    assert result.returncode == 2


# ------------------------------------------------------------------ the log: concurrency and power cuts


def _append_many(dock: str, who: str, count: int, barrier) -> None:
    log = AuditLog(DockLayout(dock).audit_path, load_dock_keys(Path(dock)).private_key())
    barrier.wait()
    for n in range(count):
        log.append(who, f"entry {n}", "view", {"device_id": "rec-0", "session_id": who, "seq": n},
                   {"status": "refused", "why": "concurrency test"})


def test_two_processes_appending_at_once_leave_one_valid_chain(dock):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_append_many, args=(str(dock), who, 50, barrier)) for who in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    entries = audit_lines(dock)
    assert [e["index"] for e in entries] == list(range(100))
    assert sorted(e["requester"] for e in entries) == ["a"] * 50 + ["b"] * 50
    assert all(independently_verified(dock, e) for e in entries[:5] + entries[-5:])
    report = verify_audit(DockLayout(dock).audit_path, dock_public_key(dock))
    assert report.ok and len(report.entries) == 100
    assert problems_of(dock) == []


@pytest.mark.parametrize("ended", [False, True], ids=["cut-mid-line", "cut-after-its-newline"])
def test_a_torn_last_line_is_reported_then_set_aside_by_the_next_append(dock, ended):
    lines = logged(dock, 3)
    whole = logged(dock, 1)[3]
    torn = whole[: len(whole) // 2] + (b"\n" if ended else b"")
    rewrite(dock, lines + [torn])
    before = DockLayout(dock).audit_path.read_bytes()
    found = problems_of(dock)
    assert found == ([("unparsable", 4)] if ended else [("torn-line", 4)])
    log = AuditLog(DockLayout(dock).audit_path, load_dock_keys(dock).private_key())
    log.append("Li", "after the power cut", "export", {"device_id": "rec-0", "session_id": "s", "seq": 1},
               {"status": "refused", "why": "x"})
    after = DockLayout(dock).audit_path.read_bytes()
    assert after.startswith(before)  # nothing rewritten: only appended
    new = after[len(before):].split(b"\n")
    repair_line, entry_line = (new[1], new[2]) if not ended else (new[0], new[1])
    repair, entry = json.loads(repair_line), json.loads(entry_line)
    assert repair["action"] == "repair" and repair["subject"] == {
        "line": 4, "size": len(torn.rstrip(b"\n")), "sha256": hashlib.sha256(torn.rstrip(b"\n")).hexdigest()}
    assert repair["index"] == 3 and repair["prev"] == hashlib.sha256(lines[2].rstrip(b"\n")).hexdigest()
    assert entry["index"] == 4 and entry["prev"] == hashlib.sha256(repair_line).hexdigest()
    assert independently_verified(dock, repair) and independently_verified(dock, entry)
    code, report = audit_json(dock)
    assert code == 0 and report["set_aside"] == [4]


def test_a_torn_line_longer_than_the_tail_read_is_found_and_numbered(dock):
    log = AuditLog(DockLayout(dock).audit_path, load_dock_keys(dock).private_key())
    for n in range(30):  # about 100 KiB: more than the head's first read of the tail
        log.append("Li", f"{n} " + "理由" * 1000, "export", {"device_id": "rec-0", "session_id": "s", "seq": n},
                   {"status": "refused", "why": "x"})
    torn = b'{"action":"export","index":30,"reason":"' + b"z" * 70_000
    with open(DockLayout(dock).audit_path, "ab") as f:
        f.write(torn)
    log.append("Li", "after", "export", {"device_id": "rec-0", "session_id": "s", "seq": 1},
               {"status": "refused", "why": "x"})
    repair, entry = audit_lines_after(dock, 31)
    assert repair["subject"] == {"line": 31, "size": len(torn), "sha256": hashlib.sha256(torn).hexdigest()}
    assert (repair["index"], entry["index"]) == (30, 31)
    code, report = audit_json(dock)
    assert code == 0 and report["set_aside"] == [31]


def audit_lines_after(dock: Path, count: int) -> list[dict]:
    return [json.loads(line) for line in DockLayout(dock).audit_path.read_bytes().splitlines()[count:]]


def test_a_set_aside_line_edited_afterwards_is_found(dock):
    lines = logged(dock, 2)
    rewrite(dock, lines + [b'{"index": 2, "act'])
    logged(dock, 1)
    data = DockLayout(dock).audit_path.read_bytes().replace(b'{"index": 2, "act', b'{"index": 2, "acx')
    DockLayout(dock).audit_path.write_bytes(data)
    assert ("unparsable", 3) in problems_of(dock)


# ------------------------------------------------------------------ the source


def test_the_log_is_only_ever_opened_to_append_or_to_read():
    source = (DOCK_PACKAGE / "audit.py").read_text()
    tree = ast.parse(source)
    opens = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and ast.unparse(node.func) in ("os.open", "open", "Path.open", "os.fdopen")]
    flags = [ast.unparse(node.args[1]) for node in opens if ast.unparse(node.func) == "os.open"]
    assert flags and all("O_APPEND" in f or f in ("os.O_RDONLY", "os.O_RDONLY | os.O_DIRECTORY") for f in flags)
    assert all(ast.unparse(node.func) == "os.open" for node in opens)
    assert "O_TRUNC" not in source and "pwrite" not in source and "seek" not in source
    checker = (DOCK_PACKAGE / "audit_check.py").read_text()
    assert "os.open" not in checker and "O_WRONLY" not in checker  # the verifier only reads
