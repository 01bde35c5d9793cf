"""The dock link end to end (issue 13): `recorder dock serve` and `recorder offload` in their
own processes over real TLS 1.3 on loopback, a real recorded device provisioned by a real
agency, the link cut by a proxy at seeded byte counts, the dock killed mid-upload, and every
refusal the issue names. What is checked is what is on disk at both ends afterwards:
decoded frame counters, hashes, the verifier's reports, the files freed."""

import json
import os
import random
from datetime import datetime, timezone
import shutil
import ssl
import socket
import threading
from pathlib import Path

import pytest

from conftest import recorder
from support.dock_rig import CuttingProxy, Device, DockProcess, make_agency, make_device, make_dock, offload, wait_for
from support.dock_rig import unlock_afterwards  # noqa: F401  (autouse: clears the immutable flag)
from media import frame_indices
from recorder.clock import SystemClock
from recorder.evidence.canonical import sha256_hex
from recorder.evidence.layout import StoreLayout
from recorder.evidence.ledger import LedgerText
from recorder.evidence.verifier import verify_store
from recorder.offload.link import Dock
from recorder.offload.run import Offload, OffloadFailed
from recorder.provision.tls import dock_link
from recorder.seal.identity import open_identity
from recorder.seal.ledger import Ledger

# Two sessions: the first has a mark (evidence: it goes first), the second is patrol.
SHIFT = ("start @0.5s; mark @1.5s; stop @6s; start @8s; stop @13s",)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dock")
    agency = make_agency(tmp / "agency")
    device = make_device(tmp / "device", agency, tmp)
    device.record(*SHIFT)
    return agency, device


@pytest.fixture
def device(world, tmp_path) -> Device:
    return world[1].copy(tmp_path / "device")


@pytest.fixture
def dock_dir(world, tmp_path) -> Path:
    return make_dock(tmp_path / "dock", world[0])


def dock_store(dock_dir: Path, device: Device) -> Path:
    return dock_dir / "devices" / device.device_id / "store"


def media_of(files: dict) -> dict:
    return {path: data for path, data in files.items()
            if path.startswith("media/") and not path.endswith("/.seal-ballast")}  # the ballast is no evidence


def receipts(dock_dir: Path, device: Device) -> list[dict]:
    return [json.loads(p.read_bytes()) for p in sorted((dock_dir / "devices" / device.device_id / "receipts").glob("*.json"))]


def released_by_ledger(device: Device) -> list[dict]:
    from recorder.evidence.ledger import parse_object

    lines = device.store.joinpath("ledger", "ledger.jsonl").read_bytes().splitlines()
    return [e for e in map(parse_object, lines) if e is not None and e.get("type") == "release"]  # a torn line: none


def assert_counters_run_on(store: Path, agency: Path, scratch: Path):
    """Every session's frames, decoded from the dock's copy (decrypted with the agency's age
    identity: a provisioned device encrypts to its bundle's recipient): the counters run 0, 1,
    2 … on across its segments, none missing, none twice."""
    from recorder.encryption import Identity, decrypt_bytes

    identities = Identity.parse_file((agency / "age-identity.txt").read_text())
    sessions = {}
    for segment in sorted(store.glob("media/*/*.mp4.age")):
        plain = scratch / f"{segment.parent.name}-{segment.name}.mp4"
        plain.write_bytes(decrypt_bytes(segment.read_bytes(), identities)[0])
        sessions.setdefault(segment.parent.name, []).extend(frame_indices(plain))
    assert sessions
    for counters in sessions.values():
        assert counters == list(range(counters[0], counters[0] + len(counters)))


def assert_settled(device: Device, dock_dir: Path, original: dict):
    """After a complete offload: the dock holds every file byte for byte once, verifies
    against the head its receipts name, and the device freed exactly what receipts cover."""
    store = dock_store(dock_dir, device)
    for path, data in media_of(original).items():
        assert (store / path).read_bytes() == data, path
    covered = {(f["path"], f["sha256"]) for r in receipts(dock_dir, device) for f in r["files"]}
    freed = {(f["path"], f["sha256"]) for e in released_by_ledger(device) for f in e["body"]["files"]}
    assert freed and freed <= covered  # nothing freed that no receipt covers
    assert media_of(device.files()) == {}  # and everything is covered, so everything was freed
    head = receipts(dock_dir, device)[-1]["ledger"]["head"]
    assert recorder("verify", store, "--head", head, check=False).returncode == 0
    assert verify_store(device.store).problems == []
    objects = [p for p in (dock_dir / "objects").rglob("*") if p.is_file()]
    stored = {f["sha256"] for r in receipts(dock_dir, device) for f in r["files"]}
    assert sorted(p.name for p in objects) == sorted(stored)  # one object per content, none twice
    for path, data in media_of(original).items():  # and the dock's copy is that object, not a second copy
        assert os.stat(store / path).st_ino == next(os.stat(p).st_ino for p in objects if p.name == sha256_hex(data))


def test_an_offload_end_to_end_frees_exactly_what_the_receipt_covers(world, device, dock_dir, tmp_path):
    original = device.files()
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port, "--cipher", "chacha20")
        assert code == 0, outcome
        assert outcome["cipher"] == "TLS_CHACHA20_POLY1305_SHA256"
        events = (dock_dir / "devices" / device.device_id / "events.jsonl").read_text()
        assert '"cipher": "TLS_CHACHA20_POLY1305_SHA256"' in events  # the dock's side of the same link
        assert all(json.loads(line)["at"].endswith("Z") for line in events.splitlines())  # UTC, as receipts say it
        assert_settled(device, dock_dir, original)
        assert_counters_run_on(dock_store(dock_dir, device), world[0], tmp_path)
        first = receipts(dock_dir, device)[0]
        assert first["ledger"]["head"] == outcome["head"]
        # the session with the mark went first (manifests before media, then evidence, then patrol)
        sessions = [p.split("/")[1] for p in outcome["sent"] if p.endswith(".mp4.age")]
        marked = json.loads(next(line for line in device.store.joinpath("ledger", "ledger.jsonl").read_bytes()
                                 .splitlines() if b'"type":"mark"' in line))["body"]["session_id"]
        assert sessions[0] == marked and all(p.endswith(".manifest.json") for p in outcome["sent"][:4])

        # the next shift: only what is new travels; a second receipt; the dock's copy still verifies
        device.record("start @0.5s; stop @5s")
        more = media_of(device.files())
        code, outcome = offload(device, dock.port, "--cipher", "aes")
        assert code == 0, outcome
        assert outcome["cipher"] == "TLS_AES_256_GCM_SHA384"
        assert sorted(outcome["sent"]) == sorted(more)
        assert len(receipts(dock_dir, device)) == 2 and len(released_by_ledger(device)) == 2
        assert_settled(device, dock_dir, {**original, **more})


def test_each_segment_is_checked_and_archived_as_soon_as_the_dock_holds_it(device, dock_dir):
    """Before the device asks for its receipt, the dock has checked and archived every segment
    it holds whole (precheck.py), each object once; the receipt then names those objects."""
    layout = StoreLayout(device.store)
    identity = open_identity(device.identity, layout, create=False)
    objects = dock_dir / "objects" / "sha256"
    archived_before_receipt = set()

    class Watching(Offload):
        def receive_receipt(self, device_id, certificate):
            wanted = {sha256_hex(data) for data in media_of(device.files()).values()}
            wait_for(lambda: wanted <= {p.name for p in objects.rglob("*") if p.is_file()}, timeout=30)
            archived_before_receipt.update(p.name for p in objects.rglob("*") if p.is_file())
            return super().receive_receipt(device_id, certificate)

    original = device.files()
    with DockProcess(dock_dir) as dock:
        outcome = Watching(layout, identity, Ledger(layout.ledger_path, identity),
                           Dock("127.0.0.1", dock.port, dock_link(device.identity)),
                           SystemClock(discipline=lambda: ("none", None))).run()
        assert outcome.receipt and not outcome.refused, outcome
    segments = {sha256_hex(data) for data in media_of(original).values()}
    assert segments <= archived_before_receipt
    assert_settled(device, dock_dir, original)


def test_a_file_the_dock_holds_already_is_answered_as_stored(device, dock_dir, tmp_path):
    """The dock's answer to a finished upload lost on a cut link: sending the file again is
    answered "stored" (not a 409 the device would chase for ever), and nothing is taken twice."""
    twin = device.copy(tmp_path / "twin")  # the device as it was before the offload
    original = device.files()
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port)
        assert code == 0, outcome
        path, data = next(iter(media_of(original).items()))
        link = Dock("127.0.0.1", dock.port, dock_link(twin.identity))
        for offset in (0, len(data)):
            status, answer, _ = link.request("PUT", f"/v1/files/{sha256_hex(data)}", body=data[offset:], headers={
                "X-Path": path, "X-Offset": str(offset), "X-Size": str(len(data)), "Content-Length": str(len(data) - offset)})
            assert status == 200 and json.loads(answer) == {"offset": len(data), "stored": True}
        link.close()
    assert_settled(device, dock_dir, original)


def run_until_done(device: Device, port: int, runs: int = 12) -> list:
    """Offload in this process until a receipt freed everything; each failed run must have
    freed nothing beyond what earlier receipts covered."""
    link = dock_link(device.identity)
    layout = StoreLayout(device.store)
    identity = open_identity(device.identity, layout, create=False)
    outcomes = []
    for _ in range(runs):
        before = released_by_ledger(device)
        offload = Offload(layout, identity, Ledger(layout.ledger_path, identity), Dock("127.0.0.1", port, link, timeout=5),
                          SystemClock(discipline=lambda: ("none", None)), max_failures=3)
        try:
            outcomes.append(offload.run())
        except OffloadFailed:
            assert released_by_ledger(device) == before
            continue
        if outcomes[-1].receipt and not media_of(device.files()):
            return outcomes
    raise AssertionError(f"no complete offload in {runs} runs: {outcomes}")


@pytest.mark.parametrize("seed", range(30))
def test_a_link_cut_at_random_points_ends_with_everything_received_once(device, dock_dir, seed):
    original = device.files()
    total = sum(len(d) for d in media_of(original).values())
    rng = random.Random(seed)
    cuts = sorted(rng.randrange(200, total + 20_000) for _ in range(rng.randint(1, 5)))
    with DockProcess(dock_dir) as dock:
        proxy = CuttingProxy(dock.port, cuts)
        try:
            run_until_done(device, proxy.port)
        finally:
            proxy.close()
        assert proxy.cut_count >= 1
        assert_settled(device, dock_dir, original)
    attempts = [p for p in (dock_dir / "staging" / device.device_id).glob("*/*") if p.parent.name != "ledger"]
    assert all(p.name == "1" for p in attempts)  # no upload ever had to start again from nothing


def test_the_dock_killed_mid_upload_resumes_from_what_it_held(world, tmp_path, dock_dir):
    device = make_device(tmp_path / "big", world[0], tmp_path)
    (tmp_path / "big.toml").write_text(device.config.read_text().replace("bitrate = 600000", "bitrate = 6000000"))
    device = Device(device.root, device.device_id, tmp_path / "big.toml")
    device.record("start @0.5s; stop @12s")
    original = device.files()
    staging = dock_dir / "staging" / device.device_id
    dock = DockProcess(dock_dir)
    proxy = CuttingProxy(dock.port, [])
    result = {}
    worker = threading.Thread(target=lambda: result.update(outcomes=_try(device, proxy.port)))
    worker.start()
    # kill the dock once part of a media file is staged (and not yet whole)
    assert wait_for(lambda: any(p.stat().st_size > 100_000 for p in staging.glob("*/1")), timeout=60)
    dock.kill()
    worker.join(60)
    assert media_of(device.files()) == media_of(original)  # nothing freed: no receipt came
    held = sum(p.stat().st_size for p in staging.glob("*/1"))
    assert held > 0
    dock = DockProcess(dock_dir)
    proxy.upstream_port = dock.port
    try:
        outcomes = run_until_done(device, proxy.port)
    finally:
        proxy.close()
        dock.stop()
    total = sum(len(d) for d in media_of(original).values())
    assert sum(o.bytes_sent for o in outcomes) <= total - held + 1  # it went on from what the dock held
    assert_settled(device, dock_dir, original)


def _try(device, port):
    try:
        return run_until_done(device, port, runs=1)
    except AssertionError:
        return None


# ---------------------------------------------------------------------------- refusals

def test_a_tampered_segment_is_refused_and_nothing_is_freed(device, dock_dir):
    segment = sorted(device.store.glob("media/*/*.mp4.age"))[-1]  # encrypted: the bundle names a recipient
    segment.chmod(0o644)
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    before = device.files()
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port)
    assert code == 1 and outcome["refused"] == "hash-mismatch" and outcome["receipt"] is None
    assert device.files() == before
    events = (dock_dir / "devices" / device.device_id / "events.jsonl").read_text()
    assert '"refused"' in events and "hash-mismatch" in events
    assert not (dock_dir / "devices" / device.device_id / "store" / segment.relative_to(device.store)).exists()


def append_warning(device: Device, detail: str):
    layout = StoreLayout(device.store)
    identity = open_identity(device.identity, layout, create=False)
    Ledger(layout.ledger_path, identity).append(
        "warning", {"kind": "storage", "level": "storage-low", "detail": detail},
        SystemClock(discipline=lambda: ("none", None)).stamp())


def test_a_forked_ledger_is_refused_and_nothing_is_freed(device, dock_dir, tmp_path):
    twin = device.copy(tmp_path / "twin")  # the same device's store, before either offloads
    append_warning(device, "one history")
    append_warning(twin, "another history")
    before = twin.files()
    with DockProcess(dock_dir) as dock:
        assert offload(device, dock.port)[0] == 0
        code, outcome = offload(twin, dock.port)
    assert code == 1 and outcome["refused"] == "fork"
    assert twin.files() == before


def test_a_rolled_back_ledger_is_refused_and_nothing_is_freed(device, dock_dir, tmp_path):
    earlier = device.copy(tmp_path / "earlier")  # the card as it was, put back after an offload
    append_warning(device, "later")
    before = earlier.files()
    with DockProcess(dock_dir) as dock:
        assert offload(device, dock.port)[0] == 0
        code, outcome = offload(earlier, dock.port)
    assert code == 1 and outcome["refused"] == "rollback"
    assert earlier.files() == before


def test_a_missing_range_is_refused(device, tmp_path):
    from recorder.dock.witness import MISSING, Refused, check_offer
    from recorder.evidence.keys import public_key_pem

    identity = open_identity(device.identity, StoreLayout(device.store), create=False)
    data = device.store.joinpath("ledger", "ledger.jsonl").read_bytes()
    text = LedgerText.parse(data)
    with pytest.raises(Refused) as refused:
        check_offer(tmp_path / "dockstore", device.device_id, public_key_pem(identity.public_key), 3, text.head_ref,
                    b"".join(line + b"\n" for line in text.lines[3:]))
    assert refused.value.code == MISSING


def answer_to(port: int, context: ssl.SSLContext) -> bytes:
    """What the dock answers a hello over a TLS connection made with `context` (b"" when it
    closed the connection; a TLS alert is raised)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="dock.test") as tls:
            tls.sendall(b"GET /v1/hello HTTP/1.1\r\nHost: dock.test\r\n\r\n")
            return tls.recv(4096)


def test_a_device_without_a_valid_certificate_is_refused(world, device, dock_dir, tmp_path):
    agency, _ = world
    no_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_cert.load_verify_locations(agency / "ca.pem")
    stranger = make_device(tmp_path / "stranger", make_agency(tmp_path / "other-agency"), tmp_path)
    foreign = dock_link(stranger.identity).context  # a certificate another agency's CA issued
    foreign.load_verify_locations(agency / "ca.pem")
    with DockProcess(dock_dir) as dock:
        for context in (no_cert, foreign):
            try:
                answer = answer_to(dock.port, context)
            except (ssl.SSLError, ConnectionError) as exc:
                answer = str(exc).encode()
            assert b"HTTP/1.1" not in answer and b"held" not in answer
    assert not (dock_dir / "devices").exists() or not any((dock_dir / "devices").iterdir())


def test_a_dock_with_another_certificate_of_the_same_agency_is_not_trusted(world, device, tmp_path):
    """The device pins the dock certificate of its bundle, not just the agency's CA."""
    from cryptography.hazmat.primitives import serialization

    from recorder.agency.authority import open_agency
    from recorder.agency.certs import make_dock as dock_certificate, new_key, pem

    agency = open_agency(world[0])
    impostor = tmp_path / "impostor"
    shutil.copytree(world[0], impostor)
    key = new_key()
    certificate = dock_certificate(agency._ca_key(), agency.ca(), key, "dock.test", datetime.now(timezone.utc), 30)
    (impostor / "dock.pem").chmod(0o644)
    (impostor / "dock.pem").write_bytes(pem(certificate))
    (impostor / "dock.key").chmod(0o600)
    (impostor / "dock.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    dock_dir = make_dock(tmp_path / "impostor-dock", impostor)
    before = device.files()
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port)
    assert code == 75 and not outcome["ok"] and "pinned" in outcome["error"]
    assert device.files() == before


def test_a_ledger_line_a_power_cut_tore_is_witnessed_as_set_aside(device, dock_dir):
    """A power cut mid-append leaves a torn last line; the next start ends it and names it in
    a signed repair entry. The dock keeps it as found and the chain passes over it, as the
    verifier does: the offload goes through and both copies verify."""
    ledger = device.store / "ledger" / "ledger.jsonl"
    with open(ledger, "ab") as f:
        f.write(ledger.read_bytes().splitlines()[-1][:57])  # the first bytes of an entry, no newline
    device.record("start @0.5s; stop @3s")
    assert b'"type":"repair"' in ledger.read_bytes()
    original = device.files()
    with DockProcess(dock_dir) as dock:
        code, outcome = offload(device, dock.port)
    assert code == 0, outcome
    assert_settled(device, dock_dir, original)
