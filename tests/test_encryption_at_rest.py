"""Encryption at rest (issue 13 item 8, docs/ENCRYPTION.md): segments recorded by the real CLI
on the simulated body, encrypted to an agency key made by Debian's `age-keygen`.

Whoever takes the device or its card reads nothing: no plaintext MP4 anywhere, no key that
opens the files; Debian's `age -d` opens them with the agency's key; a recording killed
mid-segment leaves whole chunks that decrypt to whole fragments, and the next start seals
them without reading them; `recorder export --media` hands a viewer files that play and are
the plaintext the device signed.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from conftest import record, recorder, require_root_unshare, require_tool, write_config
from media import frame_indices, ledger_entries
from recorder.encryption import Identity, decrypt
from recorder.evidence.bmff import hash_layout
from recorder.evidence.verifier import verify_store
from recorder.seal.identity import identity_dir_for


def make_agency_key(directory: Path) -> tuple[Path, str]:
    """(key file, recipient) made by Debian's age-keygen, as the agency makes its key."""
    keygen = require_tool("age-keygen")
    key = directory / "agency.key"
    subprocess.run([keygen, "-o", str(key)], check=True, capture_output=True)
    recipient = subprocess.run([keygen, "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    return key, recipient


def encryption_config(recipient: str) -> str:
    return f'[encryption]\nrecipients = ["{recipient}"]\n'


@pytest.fixture(scope="module")
def agency(tmp_path_factory) -> tuple[Path, str]:
    return make_agency_key(tmp_path_factory.mktemp("agency"))


@pytest.fixture(scope="module")
def encrypted_store(tmp_path_factory, agency) -> Path:
    """Launch, 5 s of pre-record filling, record 10 s in 4 s segments, encrypted."""
    return record(tmp_path_factory.mktemp("encrypted"), extra=encryption_config(agency[1]))


def age_decrypt(path: Path, key: Path, out: Path) -> subprocess.CompletedProcess:
    age = require_tool("age")
    return subprocess.run([age, "-d", "-i", str(key), "-o", str(out), str(path)], capture_output=True, text=True)


def manifests(store: Path) -> list[dict]:
    return [json.loads(p.read_bytes()) for p in sorted(store.glob("media/*/*.manifest.json"))]


def test_the_devices_files_are_unreadable_without_the_agency_key(encrypted_store, agency, tmp_path):
    media = sorted(p for p in encrypted_store.glob("media/*/*") if p.is_file())
    segments = [p for p in media if p.name.endswith(".mp4.age")]
    assert len(segments) == 4 and not list(encrypted_store.glob("media/*/*.mp4"))
    for segment in segments:
        data = segment.read_bytes()
        assert data.startswith(b"age-encryption.org/v1\n-> X25519 ")
        with pytest.raises(av.error.InvalidDataError):
            av.open(str(segment)).close()
        # another agency's key opens nothing
        other = tmp_path / "other.key"
        other.write_text(Identity.generate().key_file_text())
        failed = age_decrypt(segment, other, tmp_path / "nothing.mp4")
        assert failed.returncode != 0 and "no identity matched" in failed.stderr
    # The plaintext's bytes appear nowhere on the card: not a fragment of the first segment's
    # init (its ftyp and moov, 1 KB) in any file of the store, nor in the device's keys.
    plain = tmp_path / "00001.mp4"
    assert age_decrypt(segments[0], agency[0], plain).returncode == 0
    init = plain.read_bytes()[: manifests(encrypted_store)[0]["init"]["size"]]
    on_card = [encrypted_store.rglob("*"), identity_dir_for(encrypted_store).rglob("*")]
    for path in (p for tree in on_card for p in tree if p.is_file()):
        content = path.read_bytes()
        assert init[:64] not in content and init[-64:] not in content, path
        # the device holds recipients only: no identity that could open its own files
        assert b"AGE-SECRET-KEY-" not in content, path


def test_debian_age_decrypts_every_segment_to_the_signed_plaintext(encrypted_store, agency, tmp_path):
    ffmpeg = require_tool("ffmpeg")
    frames = []
    for manifest in manifests(encrypted_store):
        segment = next(encrypted_store.glob(f"media/*/{manifest['file']['name']}"))
        plain = tmp_path / f"{manifest['seq']:05d}.mp4"
        done = age_decrypt(segment, agency[0], plain)
        assert done.returncode == 0, done.stderr
        data = plain.read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (
            manifest["encryption"]["plaintext"]["size"], manifest["encryption"]["plaintext"]["sha256"])
        layout = hash_layout(plain)
        assert (layout["init"], layout["fragments"], layout["tail"]) == (
            manifest["init"], manifest["fragments"], manifest["tail"])
        # every fragment but the last is closed on a 64 KiB chunk boundary (aligned)
        assert all((f["offset"] + f["size"]) % 65536 == 0 for f in manifest["fragments"][:-1])
        decode = subprocess.run([ffmpeg, "-v", "error", "-xerror", "-i", str(plain), "-f", "null", "-"],
                                capture_output=True, text=True)
        assert decode.returncode == 0 and decode.stderr == "", decode.stderr
        got = frame_indices(plain)
        assert len(got) == manifest["video"]["frames"]
        frames += got
    assert frames == list(range(frames[0], frames[0] + len(frames)))  # gap-free across segments


def test_the_store_verifies_without_and_with_the_agency_key(encrypted_store, agency):
    assert verify_store(encrypted_store).ok
    with_key = verify_store(encrypted_store, identities=Identity.parse_file(agency[0].read_text()))
    assert with_key.ok, with_key.summary_text()
    done = recorder("verify", encrypted_store, "--identity", agency[0])
    assert "VERIFIED" in done.stdout and "AGE-SECRET-KEY" not in done.stdout + done.stderr
    # the ledger names the ciphertext, as the dock uploads and receipts it
    segment_entries = [e["body"] for e in ledger_entries(encrypted_store) if e["type"] == "segment"]
    for body in segment_entries:
        data = (encrypted_store / body["path"]).read_bytes()
        assert body["path"].endswith(".mp4.age")
        assert (body["file_size"], body["file_sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_export_plays_and_matches_the_signed_plaintext_hashes(encrypted_store, agency, tmp_path):
    out = tmp_path / "viewer"
    done = recorder("export", "--media", "latest", "--store", encrypted_store, "--identity", agency[0],
                    "-o", out, "--language", "en")
    assert "4 of 4 segment(s) exported" in done.stdout
    frames = []
    for manifest in manifests(encrypted_store):
        exported = out / f"{manifest['seq']:05d}.mp4"
        data = exported.read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest["encryption"]["plaintext"]["sha256"]
        assert hash_layout(exported)["fragments"] == manifest["fragments"]
        frames += frame_indices(exported)
    assert frames == list(range(frames[0], frames[0] + len(frames)))
    # a second export never writes over the viewer's copies
    again = recorder("export", "--media", "latest", "--store", encrypted_store, "--identity", agency[0],
                     "-o", out, check=False)
    assert again.returncode != 0 and "exists already" in again.stderr
    # without the agency's key there is nothing to export
    wrong = tmp_path / "wrong.key"
    wrong.write_text(Identity.generate().key_file_text())
    refused = recorder("export", "--media", "latest", "--store", encrypted_store, "--identity", wrong,
                       "-o", tmp_path / "nothing", check=False)
    assert refused.returncode == 1 and "does not decrypt" in refused.stdout
    assert not list((tmp_path / "nothing").glob("*.mp4"))


def test_the_bundles_recipient_is_what_a_device_encrypts_to(tmp_path, agency):
    """The installed bundle's age-recipient.txt is added to encryption.recipients (cli)."""
    from recorder.cli import with_recipient
    from recorder.config import load_config

    config = load_config(write_config(tmp_path))
    assert config.encryption.recipients == ()
    assert with_recipient(config, agency[1]).encryption.recipients == (agency[1],)
    configured = load_config(write_config(tmp_path, extra=encryption_config(agency[1])))
    assert with_recipient(configured, agency[1]) is configured


# ---------------------------------------------------------------------------- a killed recording


def test_a_killed_recording_leaves_whole_chunks_that_decrypt_and_the_next_start_seals_them(tmp_path, agency):
    """SIGKILL mid-segment: `age -d` and ours decrypt the whole chunks (and report the cut);
    the fragments the index names are in them and decode gap-free; the next start trims the
    file to them without reading it, and the sealed store verifies with and without the key."""
    ffmpeg = require_tool("ffmpeg")
    key, recipient = agency
    store = tmp_path / "store"
    config = write_config(tmp_path, extra=encryption_config(recipient))
    config.write_text(config.read_text().replace("seconds = 4", "seconds = 60"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--simulate", "--once", "--config", str(config),
         "--store", str(store), "--start-at", "0", "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            indexes = list(store.glob("media/*/*.mp4.age.index.partial"))
            if indexes and indexes[0].read_bytes().count(b"\n") >= 4:  # header + 3 fragments
                break
            time.sleep(0.1)
        else:
            raise AssertionError("recording never produced 3 indexed fragments")
        time.sleep(0.6)  # into the next fragment
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    partial = next(store.glob("media/*/*.mp4.age.partial"))
    identities = Identity.parse_file(key.read_text())

    # Debian's age: the whole chunks, then an error; ours: the same bytes, torn.
    by_age = tmp_path / "by-age.mp4"
    done = age_decrypt(partial, key, by_age)
    assert done.returncode == 1
    ours = tmp_path / "ours.mp4"
    with open(partial, "rb") as source, open(ours, "wb") as sink:
        result = decrypt(source, identities, sink, allow_torn=True)
    assert result.torn is not None and by_age.read_bytes() == ours.read_bytes()

    # The fragments the index names are in those chunks, with their hashes; they decode.
    lines = [json.loads(line) for line in partial.with_name(partial.name.replace(".partial", ".index.partial"))
             .read_bytes().splitlines()]
    header, fragments = lines[0], lines[1:]
    plain = ours.read_bytes()
    end = fragments[-1]["offset"] + fragments[-1]["size"]
    assert len(plain) >= end
    for f in [header["init"], *fragments]:
        assert hashlib.sha256(plain[f["offset"]: f["offset"] + f["size"]]).hexdigest() == f["sha256"]
    kept = tmp_path / "kept.mp4"
    kept.write_bytes(plain[:end])
    decode = subprocess.run([ffmpeg, "-v", "error", "-xerror", "-i", str(kept), "-f", "null", "-"],
                            capture_output=True, text=True)
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr
    frames = frame_indices(kept)
    assert len(frames) == sum(f["video_samples"] for f in fragments) >= 90
    assert frames == list(range(frames[0], frames[0] + len(frames)))

    # The next start seals it from the index, never decrypting it.
    recorder("run", "--simulate", "--once", "--config", config, "--store", store, "--start-at", "0",
             "--duration", "2")
    report = verify_store(store, identities=identities)
    assert report.ok, report.summary_text()
    assert verify_store(store).ok
    sealed = json.loads(partial.with_name(partial.name.split(".")[0] + ".manifest.json").read_bytes())
    assert sealed["encryption"]["final_chunk"] is False and sealed["recovered"]["cause"] == "crash"
    assert sealed["video"]["frames"] >= len(frames)
    recovered = partial.with_name(partial.name.removesuffix(".partial"))
    opened = tmp_path / "recovered.mp4"
    assert age_decrypt(recovered, key, opened).returncode == 1  # no final chunk: age says so
    assert frame_indices(opened) == list(range(frames[0], frames[0] + sealed["video"]["frames"]))


# ---------------------------------------------------------------------------- a full disk


def test_a_disk_that_fills_while_encrypting_leaves_sealed_decryptable_segments(tmp_path, agency):
    """tests/test_disk_full.py's shift (a real tmpfs another writer fills mid-segment, then frees)
    with encryption: the segment ENOSPC cut is sealed in the same run from its fragment index,
    recording resumes after, and every segment verifies with and without the agency's key and
    opens with Debian's age to the frames its manifest counts."""
    unshare = require_root_unshare()
    import test_disk_full

    key, recipient = agency
    config = write_config(tmp_path, extra=test_disk_full.CONFIG + encryption_config(recipient))
    store = tmp_path / "after"
    done = subprocess.run(
        [unshare, "-m", sys.executable, "-c", test_disk_full.IN_NAMESPACE, str(tmp_path / "fs"), str(store),
         str(config), test_disk_full.FS_SIZE, test_disk_full.SCRIPT, str(test_disk_full.FILL_AT_S),
         str(test_disk_full.FREE_AT_S)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["error"] is None
    identities = Identity.parse_file(key.read_text())
    for report in (verify_store(store), verify_store(store, identities=identities)):
        assert [p for p in report.problems if p.severity == "problem"] == [], report.summary_text()
    cut = [m for m in manifests(store) if (m.get("recovered") or {}).get("cause") == "storage"]
    assert len(cut) == 1 and cut[0]["encryption"]["final_chunk"] is False
    assert len({m["session_id"] for m in manifests(store)}) == 2  # recording resumed after the space came back
    for manifest in manifests(store):
        segment = next(store.glob(f"media/{manifest['session_id']}/{manifest['file']['name']}"))
        plain = tmp_path / f"{manifest['session_id']}-{manifest['seq']}.mp4"
        opened = age_decrypt(segment, key, plain)
        assert opened.returncode == (0 if manifest["encryption"]["final_chunk"] else 1), opened.stderr
        assert len(frame_indices(plain)) == manifest["video"]["frames"]


def test_a_crash_between_sealing_the_index_and_writing_the_manifest(tmp_path, agency):
    """The sealer seals the index, then writes the manifest: a crash between the two leaves a
    whole file (age's final chunk written) as a `.partial` beside its sealed index, and no
    manifest. The next start seals it from that index as complete (final_chunk true)."""
    key, recipient = agency
    store = tmp_path / "store"
    config = write_config(tmp_path, extra=encryption_config(recipient))
    config.write_text(config.read_text().replace("seconds = 4", "seconds = 60"))
    recorder("run", "--simulate", "--once", "--config", config, "--store", store, "--start-at", "0", "--duration", "3")
    # The card as that crash leaves it: the ledger up to before the segment entry, the file
    # under its .partial name, no manifest.
    ledger = store / "ledger" / "ledger.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    ledger.write_bytes(b"".join(lines[: [json.loads(line)["type"] for line in lines].index("segment")]))
    session = next(p for p in (store / "media").iterdir() if p.is_dir())
    os.chmod(session / "00001.mp4.age", 0o600)
    os.rename(session / "00001.mp4.age", session / "00001.mp4.age.partial")
    os.unlink(session / "00001.manifest.json")

    recorder("run", "--simulate", "--once", "--config", config, "--store", store, "--start-at", "0", "--duration", "1")
    identities = Identity.parse_file(key.read_text())
    for report in (verify_store(store), verify_store(store, identities=identities)):
        assert [p for p in report.problems if p.severity == "problem"] == [], report.summary_text()
    manifest = json.loads((session / "00001.manifest.json").read_bytes())
    assert manifest["recovered"]["cause"] == "crash" and manifest["encryption"]["final_chunk"] is True
    opened = age_decrypt(session / "00001.mp4.age", key, tmp_path / "whole.mp4")
    assert opened.returncode == 0, opened.stderr
    assert len(frame_indices(tmp_path / "whole.mp4")) == manifest["video"]["frames"] == 90
