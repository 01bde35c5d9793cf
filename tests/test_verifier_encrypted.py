"""The verifier on encrypted segments (format 5): a real encrypted store, tampered with as a
dishonest device or a careless copy would — the ciphertext, its fragment index, a manifest
re-signed with the device's key to say something else — checked without the agency key (as
the dock does) and with it."""

import json
import os
from pathlib import Path

import pytest

from conftest import copy_device, device_identity, record
from recorder.encryption import Identity
from recorder.evidence.canonical import canonical_bytes, sha256_hex
from recorder.evidence.documents import signed
from recorder.evidence.ledger import GENESIS_PREV, entry_hash
from recorder.evidence.verifier import verify_store
from test_encryption_at_rest import encryption_config, make_agency_key


@pytest.fixture(scope="module")
def agency(tmp_path_factory):
    return make_agency_key(tmp_path_factory.mktemp("agency"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, agency) -> Path:
    return record(tmp_path_factory.mktemp("encrypted"), start_at=2, duration=6, extra=encryption_config(agency[1]))


@pytest.fixture
def store(pristine, tmp_path) -> Path:
    return copy_device(pristine, tmp_path / "store")


def identities(agency) -> list:
    return Identity.parse_file(agency[0].read_text())


def problems(report) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in report.problems:
        if p.severity == "problem":
            found.setdefault(p.code, []).append(f"{p.location}: {p.message}")
    return found


def segment_files(store: Path, seq: int) -> tuple[Path, Path, Path]:
    directory = next(store.glob("media/*/"))
    return (directory / f"{seq:05d}.mp4.age", directory / f"{seq:05d}.mp4.age.index",
            directory / f"{seq:05d}.manifest.json")


def writable(path: Path) -> Path:
    os.chmod(path, 0o644)
    return path


def resign_manifest(store: Path, seq: int, edit):
    """Edit a manifest, re-sign it with the device's key and re-chain the ledger to it: a
    manifest the device itself could have written."""
    identity = device_identity(store)
    _, _, manifest_path = segment_files(store, seq)
    manifest = json.loads(manifest_path.read_bytes())
    del manifest["sig"]
    edit(manifest)
    data = canonical_bytes(signed(identity, manifest))
    writable(manifest_path).write_bytes(data)
    ledger = store / "ledger" / "ledger.jsonl"
    entries = [json.loads(line) for line in ledger.read_bytes().splitlines()]
    prev, lines = GENESIS_PREV, []
    for entry in entries:
        if entry["type"] == "segment" and entry["body"]["seq"] == seq:
            entry["body"]["manifest_sha256"] = sha256_hex(data)
        entry = {k: v for k, v in entry.items() if k != "sig"}
        line = canonical_bytes(signed(identity, {**entry, "prev": prev}))
        prev = entry_hash(line)
        lines.append(line + b"\n")
    ledger.write_bytes(b"".join(lines))


def test_an_encrypted_store_verifies_without_and_with_the_key(store, agency):
    assert verify_store(store).ok
    assert verify_store(store, identities=identities(agency)).ok
    assert problems(verify_store(store)) == {}


def test_a_flipped_ciphertext_byte_is_a_hash_mismatch_and_does_not_authenticate(store, agency):
    segment, _, _ = segment_files(store, 2)
    data = bytearray(writable(segment).read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    found = problems(verify_store(store))
    assert list(found) == ["hash-mismatch"] and "00002.mp4.age" in found["hash-mismatch"][0]


def test_an_altered_or_missing_fragment_index(store):
    _, index, _ = segment_files(store, 1)
    lines = writable(index).read_bytes().splitlines(keepends=True)
    index.write_bytes(b"".join(lines[:-1]))  # the last fragment's line dropped
    found = problems(verify_store(store))
    assert list(found) == ["index-mismatch"] and "00001.mp4.age.index" in found["index-mismatch"][0]
    os.unlink(index)
    found = problems(verify_store(store))
    assert list(found) == ["index-mismatch"] and "does not exist" in found["index-mismatch"][0]


def test_a_stray_fragment_index_is_unaccounted(store):
    directory = next(store.glob("media/*/"))
    (directory / "00009.mp4.age.index").write_bytes(b"{}\n")
    assert list(problems(verify_store(store))) == ["unaccounted-file"]


def test_a_manifest_that_misdescribes_its_ciphertext(store, agency):
    """Re-signed by the device: a second recipient the header has no stanza for, a header
    size that is not the file's, a plaintext size age's arithmetic does not give."""

    def edit(manifest):
        manifest["encryption"]["recipients"].append(str(Identity.generate().recipient))
        manifest["encryption"]["header_size"] += 1
        manifest["encryption"]["plaintext"]["size"] += 65536

    resign_manifest(store, 2, edit)
    found = problems(verify_store(store))
    assert list(found) == ["encryption-mismatch"]
    text = "\n".join(found["encryption-mismatch"])
    assert "1 X25519 stanza(s), the manifest lists 2" in text
    assert "header and nonce take" in text and "age holds" in text


def test_a_malformed_encryption_member(store):
    resign_manifest(store, 1, lambda m: m["encryption"].pop("final_chunk"))
    found = problems(verify_store(store))
    assert "final_chunk" in found["encryption-mismatch"][0]
    # a manifest whose encryption cannot be read names no index: its index is accounted for by nothing
    assert set(found) == {"encryption-mismatch", "unaccounted-file"}


def test_a_plaintext_hash_only_the_key_can_check(store, agency):
    """A manifest whose plaintext claims are false but whose ciphertext is the file's: the dock
    cannot tell (it has no key); the agency's key can."""

    def edit(manifest):
        manifest["encryption"]["plaintext"]["sha256"] = "0" * 64
        manifest["fragments"][0]["sha256"] = "1" * 64
        manifest["video"]["frames"] += 0  # unchanged: the index agrees on the frames

    resign_manifest(store, 2, edit)
    without = problems(verify_store(store))
    assert list(without) == ["index-mismatch"]  # the sealed index still has the true fragment hash
    found = problems(verify_store(store, identities=identities(agency)))
    assert set(found) == {"index-mismatch", "decryption-failed", "fragment-mismatch"}
    assert "its plaintext is" in found["decryption-failed"][0]


def test_the_wrong_identity_or_a_manifest_that_says_it_was_cut(store, agency):
    other = [Identity.generate()]
    found = problems(verify_store(store, identities=other))
    assert list(found) == ["decryption-failed"] and len(found["decryption-failed"]) == 2
    assert all("does not decrypt" in message for message in found["decryption-failed"])
    resign_manifest(store, 1, lambda m: m["encryption"].update(final_chunk=False))
    found = problems(verify_store(store, identities=identities(agency)))
    assert "decryption-failed" in found
    assert any("sealed after a power cut" in message for message in found["decryption-failed"])
