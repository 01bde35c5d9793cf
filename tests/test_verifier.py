"""The verifier against a real store: sealed fragmented MP4s, signed manifests, a ledger.

One store is built per module (real H.264 segments, encoded with PyAV) and copied for
each test, which then tampers with it the way an adversary or an accident would.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from recorder.clock import SimulatedClock
from recorder.errors import StoreError
from recorder.evidence.entries import LEDGER_VERSION
from recorder.evidence.layout import partial_path
from recorder.store.disk import Store
from recorder.evidence.canonical import canonical_bytes
from recorder.evidence.documents import signed
from recorder.evidence.keys import public_key_pem
from recorder.seal.identity import DeviceIdentity
from recorder.evidence.ledger import GENESIS_PREV, entry_hash
from recorder.seal.ledger import Ledger
from recorder.seal.sealer import ClosedSegment, Sealer
from recorder.evidence.report import CODES
from recorder.evidence.verifier import verify_store

SESSION = "20261129T080000Z-a1b2"
OFFICER = "officer-4711"
FPS, GOP, FRAMES, SEGMENTS = 30, 5, 15, 3  # 3 fragments of 5 frames per segment
SEGMENT_US = FRAMES * 1_000_000 // FPS
FIRST_US = 5_000_000
VIDEO = {"codec": "h264", "width": 64, "height": 48, "frame_rate": f"{FPS}/1"}


# ---------------------------------------------------------------------------- building stores


def encode_segment(path: Path, shade: int):
    """A real fragmented MP4: one moof+mdat per GOP, no B-frames."""
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
    with av.open(str(path), "w", format="mp4", container_options=options) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.gop_size = GOP
        stream.codec_context.max_b_frames = 0
        stream.options = {"preset": "ultrafast", "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0"}
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), (shade + 16 * i) % 256, dtype=np.uint8), format="rgb24"
            )
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def device_init_body(identity: DeviceIdentity) -> dict:
    return {"public_key": public_key_pem(identity.public_key).decode(), "agent_version": "0.1.0"}


def build_store(root: Path, seqs=range(1, SEGMENTS + 1), stop=True, shade=0) -> DeviceIdentity:
    store = Store(root).prepare()
    identity = DeviceIdentity.create(store.device_dir)
    clock = SimulatedClock(start_wall_ns=1_795_939_200_000_000_000)
    sealer = Sealer(store, identity, Ledger(store.ledger_path, identity), clock)
    sealer.record("device_init", device_init_body(identity), clock.stamp())
    sealer.record(
        "session_start",
        {
            "session_id": SESSION, "officer_id": OFFICER, "cause": "command",
            "prerecord": {"configured_s": 0, "audio": False}, "video": VIDEO, "audio": None,
        },
        clock.stamp(FIRST_US * 1000),
    )
    start_us = FIRST_US
    store.new_session_dir(SESSION)
    for seq in seqs:
        final = store.segment_path(SESSION, seq)
        encode_segment(partial_path(final), shade=shade + 40 * seq)
        sealer.seal(
            ClosedSegment(
                session_id=SESSION, officer_id=OFFICER, seq=seq, final_path=final,
                start_us=start_us, end_us=start_us + SEGMENT_US,
                video={**VIDEO, "gop_frames": GOP, "frames": FRAMES}, audio=None,
            )
        )
        start_us += SEGMENT_US
    if stop:
        count = len(seqs)
        sealer.record(
            "session_stop",
            {
                "session_id": SESSION, "cause": "command", "segments": count,
                "frames": count * FRAMES, "duration_us": count * SEGMENT_US,
                "end": clock.stamp(start_us * 1000),
            },
            clock.stamp(start_us * 1000),
        )
    sealer.close()
    return identity


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A clean store, and a second one from another device holding segment 2 only."""
    base = tmp_path_factory.mktemp("stores")
    build_store(base / "store")
    build_store(base / "foreign", seqs=[2], stop=False, shade=7)  # other pictures
    return base


@pytest.fixture
def store(pristine, tmp_path) -> Path:
    shutil.copytree(pristine / "store", tmp_path / "store")
    return tmp_path / "store"


@pytest.fixture
def foreign(pristine) -> Path:
    return pristine / "foreign"


# ---------------------------------------------------------------------------- tampering helpers

MEDIA = f"media/{SESSION}"
LEDGER = "ledger/ledger.jsonl"


def writable(path: Path) -> Path:
    os.chmod(path, 0o644)  # sealed files are 0444
    return path


def flip_byte(path: Path, offset: int, mask: int = 0xFF):
    data = bytearray(writable(path).read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def ledger_lines(store: Path) -> list[bytes]:
    return (store / LEDGER).read_bytes().splitlines(keepends=True)


def write_ledger(store: Path, lines: list[bytes]):
    (store / LEDGER).write_bytes(b"".join(lines))


def resign_ledger(store: Path, edit):
    """Apply `edit(entries)` (in place) and re-sign and re-chain every entry with the device key:
    a ledger that is internally valid, as a faulty (or dishonest) device would write it."""
    identity = DeviceIdentity.load(store / "device")
    entries = [json.loads(line) for line in ledger_lines(store)]
    edit(entries)  # edits in place
    prev, lines = GENESIS_PREV, []
    for index, entry in enumerate(entries):
        line = canonical_bytes(signed(identity, {**entry, "index": index, "prev": prev}))
        prev = entry_hash(line)
        lines.append(line + b"\n")
    write_ledger(store, lines)


def manifest(store: Path, seq: int) -> dict:
    return json.loads((store / MEDIA / f"{seq:05d}.manifest.json").read_bytes())


def range_location(name: str, part: str, sealed: dict) -> str:
    return f"{MEDIA}/{name} {part} (offset {sealed['offset']}, {sealed['size']} bytes)"


def codes(report) -> set[str]:
    """Problem codes (warnings apart: these test stores carry their private key on purpose)."""
    return {p.code for p in report.problems if p.severity == "problem"}


def problems(report) -> list:
    return [p for p in report.problems if p.severity == "problem"]


def find(report, code: str) -> list:
    return [p for p in report.problems if p.code == code]


def locations(report, code: str) -> list[str]:
    return [p.location for p in find(report, code)]


# ---------------------------------------------------------------------------- clean store


def test_clean_store_verifies(store):
    report = verify_store(store)
    assert report.ok, report.summary_text()
    assert problems(report) == []
    # This store carries its signing key (as the agent's stores did before the identity moved
    # out of the store: docs/PROVISIONING.md); a copy should not, and verify says so.
    assert [(w.code, w.location) for w in report.warnings] == [("private-key-present", "device/device.key")]
    assert report.entries == 6
    assert report.segments == SEGMENTS
    assert report.total_duration_us == SEGMENTS * SEGMENT_US
    assert report.key_source == "store"
    assert report.device_id == DeviceIdentity.load(store / "device").device_id
    (session,) = report.sessions
    assert session["session_id"] == SESSION and session["officer_id"] == OFFICER
    assert session["segments"] == SEGMENTS and session["frames"] == SEGMENTS * FRAMES
    assert session["start_cause"] == session["stop_cause"] == "command"
    assert session["stop"]["mono_us"] == FIRST_US + SEGMENTS * SEGMENT_US
    assert session["problems"] == 0
    summary = report.summary_text()
    assert "self-consistent" in summary
    assert summary.splitlines()[-1].startswith("VERIFIED")


def test_store_has_real_fragmented_segments(store):
    for seq in range(1, SEGMENTS + 1):
        m = manifest(store, seq)
        assert len(m["fragments"]) == FRAMES // GOP
        assert m["start"]["mono_us"] == FIRST_US + (seq - 1) * SEGMENT_US
        with av.open(str(store / MEDIA / f"{seq:05d}.mp4")) as container:
            assert sum(1 for _ in container.decode(video=0)) == FRAMES


def test_given_key_is_reported_as_given(store):
    report = verify_store(store, store / "device" / "device.pub")
    assert report.ok and report.key_source == "given"
    assert report.to_json()["key_note"] is None
    assert "self-consistent" not in report.summary_text()


def test_verifier_does_not_modify_the_store(store):
    flip_byte(store / MEDIA / "00002.mp4", 1000)
    (store / MEDIA / "00009.mp4.partial").write_bytes(b"x")

    def snapshot():
        return {
            p: (p.stat().st_mode, p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
            for p in sorted(store.rglob("*"))
        }

    before = snapshot()
    verify_store(store)
    assert snapshot() == before


# ---------------------------------------------------------------------------- media and manifests


@pytest.mark.parametrize("part", ["fragment 2", "init", "tail"])
def test_flipped_media_byte_is_located(store, part):
    m = manifest(store, 2)
    ranges = {"init": m["init"], "tail": m["tail"], "fragment 2": m["fragments"][1]}
    target = ranges[part]
    flip_byte(store / MEDIA / "00002.mp4", target["offset"] + target["size"] // 2)
    report = verify_store(store)
    assert not report.ok
    assert locations(report, "hash-mismatch") == [f"{MEDIA}/00002.mp4"]
    assert locations(report, "fragment-mismatch") == [range_location("00002.mp4", part, target)]
    assert codes(report) == {"hash-mismatch", "fragment-mismatch"}
    assert report.sessions[0]["problems"] == 2


def test_truncated_and_extended_media(store):
    m = manifest(store, 1)
    path = writable(store / MEDIA / "00001.mp4")
    path.write_bytes(path.read_bytes()[: m["fragments"][2]["offset"] + 10])
    with open(writable(store / MEDIA / "00003.mp4"), "ab") as f:
        f.write(b"appended")
    report = verify_store(store)
    damaged = locations(report, "fragment-mismatch")
    assert range_location("00001.mp4", "fragment 3", m["fragments"][2]) in damaged
    assert range_location("00001.mp4", "tail", m["tail"]) in damaged
    sealed_size = manifest(store, 3)["file"]["size"]
    assert locations(report, "trailing-data") == [f"{MEDIA}/00003.mp4 after offset {sealed_size}"]
    assert set(locations(report, "hash-mismatch")) == {f"{MEDIA}/00001.mp4", f"{MEDIA}/00003.mp4"}


def test_flipped_manifest_byte(store):
    path = store / MEDIA / "00002.manifest.json"
    offset = path.read_bytes().index(OFFICER.encode()) + 3  # inside the officer id value
    flip_byte(path, offset, mask=0x01)  # "officer" -> "offhcer": still valid JSON
    report = verify_store(store)
    assert locations(report, "hash-mismatch") == [f"{MEDIA}/00002.manifest.json"]
    assert locations(report, "bad-signature") == [f"{MEDIA}/00002.manifest.json"]
    assert locations(report, "manifest-mismatch") == [f"{MEDIA}/00002.manifest.json"]
    assert "officer_id" in find(report, "manifest-mismatch")[0].message
    assert "fragment-mismatch" not in codes(report)


def test_manifest_byte_flip_that_breaks_its_json(store):
    path = store / MEDIA / "00001.manifest.json"
    flip_byte(path, 0)  # "{" -> 0x84
    report = verify_store(store)
    assert locations(report, "hash-mismatch") == [f"{MEDIA}/00001.manifest.json"]
    assert locations(report, "unparsable-manifest") == [f"{MEDIA}/00001.manifest.json"]


def test_deleted_segment_file(store):
    (store / MEDIA / "00002.mp4").unlink()
    report = verify_store(store)
    assert codes(report) == {"missing-file"}
    (problem,) = problems(report)
    assert problem.location == f"{MEDIA}/00002.mp4"
    assert "ledger line 4 (index 3)" in problem.message


def test_deleted_manifest(store):
    (store / MEDIA / "00003.manifest.json").unlink()
    report = verify_store(store)
    assert locations(report, "missing-file") == [f"{MEDIA}/00003.manifest.json"]


def test_segment_replaced_by_one_from_another_device(store, foreign):
    for name in ("00002.mp4", "00002.manifest.json"):
        writable(store / MEDIA / name)
        shutil.copyfile(foreign / MEDIA / name, store / MEDIA / name)
    report = verify_store(store)
    assert locations(report, "bad-signature") == [f"{MEDIA}/00002.manifest.json"]
    assert locations(report, "wrong-device") == [f"{MEDIA}/00002.manifest.json"]
    assert set(locations(report, "hash-mismatch")) == {f"{MEDIA}/00002.manifest.json", f"{MEDIA}/00002.mp4"}
    assert "fragment-mismatch" not in codes(report)  # the replaced manifest cannot be trusted to locate
    assert not any(p.location.startswith("ledger") for p in report.problems)


def test_stray_media_files(store):
    (store / MEDIA / "00004.mp4").write_bytes(b"planted")
    (store / "media" / "other-session").mkdir()
    (store / "media" / "other-session" / "00001.manifest.json").write_bytes(b"{}")
    (store / "device" / "notes.txt").write_bytes(b"not media")  # ignored
    report = verify_store(store)
    assert codes(report) == {"unaccounted-file"}
    assert sorted(locations(report, "unaccounted-file")) == [
        f"{MEDIA}/00004.mp4", "media/other-session/00001.manifest.json"
    ]


def test_partial_file(store):
    (store / MEDIA / "00004.mp4.partial").write_bytes(b"\0\0\0\x18ftyp")
    report = verify_store(store)
    assert codes(report) == {"partial-file"}
    assert locations(report, "partial-file") == [f"{MEDIA}/00004.mp4.partial"]


def test_non_canonical_manifest(store):
    path = writable(store / MEDIA / "00001.manifest.json")
    path.write_bytes(json.dumps(manifest(store, 1), indent=1).encode())  # same content, other bytes
    report = verify_store(store)
    assert locations(report, "not-canonical") == [f"{MEDIA}/00001.manifest.json"]
    assert locations(report, "hash-mismatch") == [f"{MEDIA}/00001.manifest.json"]
    assert "bad-signature" not in codes(report)


def test_manifest_disagreeing_with_its_ledger_entry(store):
    """Both documents validly signed, but they describe different files."""
    identity = DeviceIdentity.load(store / "device")
    m = manifest(store, 2)
    m["file"]["size"] += 1
    data = canonical_bytes(signed(identity, m))
    writable(store / MEDIA / "00002.manifest.json").write_bytes(data)

    def point_at_new_manifest(entries):
        entries[3]["body"]["manifest_sha256"] = hashlib.sha256(data).hexdigest()

    resign_ledger(store, point_at_new_manifest)
    report = verify_store(store)
    assert codes(report) == {"manifest-mismatch"}
    (problem,) = problems(report)
    assert problem.location == f"{MEDIA}/00002.manifest.json" and "file.size" in problem.message


def test_symlinked_media_is_not_followed(store, tmp_path):
    media = store / MEDIA / "00002.mp4"
    shutil.copyfile(media, tmp_path / "elsewhere.mp4")
    media.unlink()
    media.symlink_to(tmp_path / "elsewhere.mp4")
    report = verify_store(store)
    assert codes(report) == {"not-a-regular-file", "symlink"}
    assert locations(report, "not-a-regular-file") == [f"{MEDIA}/00002.mp4"]
    assert locations(report, "symlink") == [f"{MEDIA}/00002.mp4"]


def test_segment_entry_naming_a_file_outside_the_media_tree(store):
    def escape(entries):
        entries[3]["body"]["path"] = "media/../device/device.key"

    resign_ledger(store, escape)
    report = verify_store(store)
    assert locations(report, "bad-path") == ["ledger line 4 (index 3)"]
    assert locations(report, "unaccounted-file") == [f"{MEDIA}/00002.mp4"]
    assert "missing-file" not in codes(report)


# ---------------------------------------------------------------------------- sessions


def move(entries, source, destination):
    entries.insert(destination, entries.pop(source))


@pytest.mark.parametrize(
    "edit, code, location",
    [
        # init, start, seg1, seg2, seg3, stop
        (lambda e: move(e, 1, 2), "unknown-session", "ledger line 2 (index 1)"),
        (lambda e: move(e, 5, 4), "segment-after-stop", "ledger line 6 (index 5)"),
        (lambda e: move(e, 5, 4), "stop-mismatch", "ledger line 5 (index 4)"),
        (lambda e: e.insert(3, dict(e[1])), "duplicate-session-start", "ledger line 4 (index 3)"),
        (lambda e: e.append(dict(e[5])), "duplicate-session-stop", "ledger line 7 (index 6)"),
        (lambda e: e[5]["body"].update(frames=1), "stop-mismatch", "ledger line 6 (index 5)"),
        (lambda e: e[5]["body"].update(session_id="other"), "unknown-session", "ledger line 6 (index 5)"),
        (lambda e: e[2]["body"].update(duration_us=1), "inconsistent-entry", "ledger line 3 (index 2)"),
        (lambda e: move(e, 3, 4), "seq-out-of-order", "ledger line 5 (index 4)"),
        (lambda e: move(e, 3, 4), "segment-gap", "ledger line 4 (index 3)"),
    ],
)
def test_session_rules(store, edit, code, location):
    resign_ledger(store, edit)
    report = verify_store(store)
    assert not {"bad-signature", "chain-broken", "index-gap", "not-canonical"} & codes(report)
    assert location in locations(report, code), report.summary_text()


# ---------------------------------------------------------------------------- the ledger


def test_entry_edited_and_rewritten_canonically(store):
    lines = ledger_lines(store)
    entry = json.loads(lines[3])
    assert entry["type"] == "segment"
    entry["body"]["frames"] += 1
    lines[3] = canonical_bytes(entry) + b"\n"
    write_ledger(store, lines)
    report = verify_store(store)
    assert locations(report, "bad-signature") == ["ledger line 4 (index 3)"]
    assert locations(report, "chain-broken") == ["ledger line 5 (index 4)"]
    assert "not-canonical" not in codes(report)


def test_raw_byte_flip_in_entry_breaks_the_json(store):
    lines = ledger_lines(store)
    lines[2] = lines[2].replace(b'"index":', b'"index";', 1)
    write_ledger(store, lines)
    report = verify_store(store)
    assert locations(report, "unparsable-line") == ["ledger line 3"]
    assert locations(report, "chain-broken") == ["ledger line 4 (index 3)"]
    assert "index-gap" not in codes(report)  # the unreadable line still holds its place


def test_raw_byte_flip_in_entry_makes_it_non_canonical(store):
    lines = ledger_lines(store)
    version = b',"v":%d}' % LEDGER_VERSION
    assert version in lines[1]
    lines[1] = lines[1].replace(version, version.replace(b'"v"', b'"a"'))  # 'v' -> 'a': keys now out of order
    write_ledger(store, lines)
    report = verify_store(store)
    assert "ledger line 2 (index 1)" in locations(report, "not-canonical")
    assert "ledger line 2 (index 1)" in locations(report, "bad-signature")
    assert locations(report, "chain-broken") == ["ledger line 3 (index 2)"]


def test_deleted_middle_entry(store):
    lines = ledger_lines(store)
    del lines[3]  # segment 2
    write_ledger(store, lines)
    report = verify_store(store)
    assert locations(report, "index-gap") == ["ledger line 4 (index 4)"]
    assert locations(report, "chain-broken") == ["ledger line 4 (index 4)"]
    assert locations(report, "seq-gap") == ["ledger line 4 (index 4)"]
    assert sorted(locations(report, "unaccounted-file")) == [
        f"{MEDIA}/00002.manifest.json", f"{MEDIA}/00002.mp4"
    ]


def test_swapped_entries(store):
    lines = ledger_lines(store)
    lines[3], lines[4] = lines[4], lines[3]
    write_ledger(store, lines)
    report = verify_store(store)
    assert locations(report, "index-gap") == ["ledger line 4 (index 4)"]
    assert locations(report, "index-reorder") == ["ledger line 5 (index 3)"]
    assert locations(report, "chain-broken") == [
        "ledger line 4 (index 4)", "ledger line 5 (index 3)", "ledger line 6 (index 5)"
    ]
    assert locations(report, "seq-out-of-order") == ["ledger line 5 (index 3)"]


def test_duplicated_entry_is_a_fork(store):
    lines = ledger_lines(store)
    lines.insert(4, lines[3])
    write_ledger(store, lines)
    report = verify_store(store)
    assert locations(report, "index-repeat") == ["ledger line 5 (index 3)"]
    assert "ledger line 5 (index 3)" in locations(report, "seq-out-of-order")


def test_entry_spliced_in_from_another_ledger(store, foreign):
    lines = ledger_lines(store)
    alien = ledger_lines(foreign)[2]  # the foreign device's segment entry
    lines.insert(3, alien)
    write_ledger(store, lines)
    report = verify_store(store)
    assert locations(report, "bad-signature") == ["ledger line 4 (index 2)"]
    assert locations(report, "wrong-device") == ["ledger line 4 (index 2)"]
    assert "ledger line 4 (index 2)" in locations(report, "index-repeat")
    assert "ledger line 4 (index 2)" in locations(report, "chain-broken")


@pytest.mark.parametrize(
    "edit, code",
    [
        (lambda e: e[3]["body"].pop("frames"), "malformed-entry"),
        (lambda e: e[3]["body"].update(seq="2"), "malformed-entry"),
        (lambda e: e[3].update(v=LEDGER_VERSION + 1), "malformed-entry"),
        (lambda e: e[3].pop("at"), "malformed-entry"),
        (lambda e: e[3].update(type="segment_v2"), "unknown-entry-type"),
    ],
)
def test_signed_but_malformed_entries(store, edit, code):
    resign_ledger(store, edit)
    report = verify_store(store)
    assert locations(report, code) == ["ledger line 4 (index 3)"]
    assert "bad-signature" not in codes(report)
    assert f"{MEDIA}/00002.mp4" in locations(report, "unaccounted-file")  # it accounts for nothing


def test_device_init_holding_another_key(store, foreign):
    def other_key(entries):
        entries[0]["body"]["public_key"] = (foreign / "device" / "device.pub").read_text()

    resign_ledger(store, other_key)
    report = verify_store(store)
    assert codes(report) == {"key-mismatch"}
    assert locations(report, "key-mismatch") == ["ledger line 1 (index 0)"]


def test_torn_last_line(store):
    lines = ledger_lines(store)
    lines[-1] = lines[-1][:40]
    write_ledger(store, lines)
    report = verify_store(store)
    assert locations(report, "torn-line") == ["ledger line 6"]
    assert locations(report, "session-unterminated") == ["ledger line 2 (index 1)"]


def test_last_line_missing_only_its_newline(store):
    lines = ledger_lines(store)
    lines[-1] = lines[-1].rstrip(b"\n")
    write_ledger(store, lines)
    report = verify_store(store)
    assert codes(report) == {"torn-line"}
    assert locations(report, "torn-line") == ["ledger line 6"]


def test_deleted_session_stop(store):
    write_ledger(store, ledger_lines(store)[:-1])
    report = verify_store(store)
    assert codes(report) == {"session-unterminated"}
    (problem,) = problems(report)
    assert problem.location == "ledger line 2 (index 1)" and SESSION in problem.message
    assert report.sessions[0]["stop"] is None and report.sessions[0]["problems"] == 1
    assert "NOT STOPPED" in report.summary_text()


def test_ledger_must_start_with_device_init(store):
    lines = ledger_lines(store)
    write_ledger(store, lines[1:])
    report = verify_store(store)
    assert "ledger line 1 (index 1)" in locations(report, "bad-genesis")
    assert "ledger line 1 (index 1)" in locations(report, "index-gap")
    assert "ledger line 1 (index 1)" in locations(report, "chain-broken")


def test_segment_gap_in_time(store, tmp_path):
    """A session whose second segment does not start where the first ended."""
    root = tmp_path / "gappy"
    store_ = Store(root).prepare()
    identity = DeviceIdentity.create(store_.device_dir)
    clock = SimulatedClock(start_wall_ns=1_795_939_200_000_000_000)
    ledger = Ledger(store_.ledger_path, identity)
    sealer = Sealer(store_, identity, ledger, clock)
    sealer.record("device_init", device_init_body(identity), clock.stamp())
    start = {"session_id": SESSION, "officer_id": OFFICER, "cause": "command"}
    sealer.record("session_start", start, clock.stamp())
    store_.new_session_dir(SESSION)
    for seq, start_us in ((1, FIRST_US), (2, FIRST_US + SEGMENT_US + 1000)):
        final = store_.segment_path(SESSION, seq)
        encode_segment(partial_path(final), shade=seq)
        sealer.seal(ClosedSegment(SESSION, OFFICER, seq, final, start_us, start_us + SEGMENT_US,
                                  {**VIDEO, "gop_frames": GOP, "frames": FRAMES}, None))
    sealer.close()
    report = verify_store(root)
    assert locations(report, "segment-gap") == ["ledger line 4 (index 3)"]
    assert "1000 µs" in find(report, "segment-gap")[0].message
    assert codes(report) == {"segment-gap", "session-unterminated"}


# ---------------------------------------------------------------------------- keys and errors


def test_other_key_fails_every_signature(store, foreign):
    report = verify_store(store, foreign / "device" / "device.pub")
    assert report.key_source == "given"
    ledger_lines_count = len(ledger_lines(store))
    assert locations(report, "bad-signature") == [
        f"ledger line {n} (index {n - 1})" for n in range(1, ledger_lines_count + 1)
    ]
    assert len(find(report, "wrong-device")) == ledger_lines_count
    assert "device/device.pub" in locations(report, "key-mismatch")
    assert len(find(report, "unaccounted-file")) == 2 * SEGMENTS  # nothing trusted accounts for them
    assert report.segments == 0 and report.sessions == []


def test_cannot_run_without_a_store(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        verify_store(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="no ledger"):
        verify_store(tmp_path)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StoreError, match="not a directory"):
        verify_store(tmp_path / "file")


def test_cannot_run_without_a_readable_key(store, tmp_path):
    garbage = tmp_path / "garbage.pub"
    garbage.write_bytes(b"not a key")
    with pytest.raises(StoreError, match="garbage.pub"):
        verify_store(store, garbage)
    with pytest.raises(StoreError):
        verify_store(store, tmp_path / "missing.pub")
    (store / "device" / "device.pub").unlink()
    with pytest.raises(StoreError, match="no public key"):
        verify_store(store)


def test_json_report_and_summary(store):
    flip_byte(store / MEDIA / "00001.mp4", 900)
    write_ledger(store, ledger_lines(store)[:-1])
    report = verify_store(store)
    document = json.loads(json.dumps(report.to_json()))
    assert document["ok"] is False
    assert {p["code"] for p in document["problems"]} == codes(report)
    assert all(p["code"] in CODES for p in document["problems"])
    assert document["sessions"][0]["session_id"] == SESSION
    assert document["key_source"] == "store" and "self-consistent" in document["key_note"]
    lines = report.summary_text().splitlines()
    assert lines[-1] == f"FAILED: {len(problems(report))} problem(s), 1 warning(s)"
    assert any(f"{MEDIA}/00001.mp4 fragment" in line for line in lines)
    assert json.dumps(verify_store(store, store / "device" / "device.pub").to_json())


def test_every_single_byte_flip_is_detected(store):
    """Random byte flips anywhere in the ledger, manifests and media: never missed, never a crash."""
    rng = np.random.default_rng(20261129)
    evidence = [store / LEDGER] + sorted((store / "media").rglob("*.*"))
    for _ in range(60):
        path = evidence[rng.integers(len(evidence))]
        original = writable(path).read_bytes()
        offset = int(rng.integers(len(original)))
        flip_byte(path, offset, mask=int(rng.integers(1, 256)))
        report = verify_store(store)
        assert not report.ok, f"flip at {path.relative_to(store)}:{offset} went unnoticed"
        path.write_bytes(original)
    assert verify_store(store).ok


def test_one_segment_checked_with_the_callers_file_hash_still_has_every_range_checked(store):
    """check_segment, as the dock runs it on each segment as it arrives: told the whole
    file's hash (its intake computed it as the bytes came), it skips only that hash; a byte
    changed since is still found, in its fragment."""
    from recorder.evidence.verifier import check_segment

    [body] = [json.loads(line)["body"] for line in ledger_lines(store) if b'"type":"segment"' in line][1:2]
    told = {body["path"]: body["file_sha256"]}
    assert check_segment(store, body) == [] and check_segment(store, body, told) == []
    sealed = manifest(store, body["seq"])["fragments"][0]
    flip_byte(store / body["path"], sealed["offset"] + sealed["size"] // 2)
    assert [p.code for p in check_segment(store, body, told)] == ["fragment-mismatch"]
    assert sorted(p.code for p in check_segment(store, body)) == ["fragment-mismatch", "hash-mismatch"]
