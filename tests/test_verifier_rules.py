"""Each rule the format states (docs/FORMATS.md, "What a verifier checks"), broken alone in an
otherwise untouched store and re-signed with the device's own key — as a faulty or dishonest
device would write it — fails with the problem it names. The untouched store passes."""

import base64
import hashlib
import json
import os
import shutil

import pytest

from recorder.evidence.canonical import canonical_bytes
from recorder.evidence.documents import signed
from recorder.evidence.ledger import entry_hash
from recorder.evidence.verifier import verify_store
from recorder.seal.identity import DeviceIdentity
from test_verifier import (  # noqa: F401  (fixtures)
    MEDIA, SESSION, codes, find, foreign, ledger_lines, locations, manifest, pristine, resign_ledger, store,
    writable, write_ledger,
)


def resign_manifest(store, seq: int, edit):
    """Edit manifest `seq`, sign it with the device key, and re-chain the ledger so that
    its segment entry names the new manifest: only the manifest's content is wrong."""
    identity = DeviceIdentity.load(store / "device")
    document = manifest(store, seq)
    edit(document)
    data = canonical_bytes(signed(identity, document))
    writable(store / MEDIA / f"{seq:05d}.manifest.json").write_bytes(data)

    def point_at_it(entries):
        [entry] = [e for e in entries if e["type"] == "segment" and e["body"]["seq"] == seq]
        entry["body"]["manifest_sha256"] = hashlib.sha256(data).hexdigest()

    resign_ledger(store, point_at_it)


def test_the_untouched_store_passes(store):
    assert verify_store(store).ok


# ---------------------------------------------------------------------------- fragment layout

def _merge_first_two(m):
    a, b = m["fragments"][:2]
    merged = {"offset": a["offset"], "size": a["size"] + b["size"], "sha256": "0" * 64}
    m["fragments"][:2] = [merged]


def _fold_tail(m):
    last, tail = m["fragments"][-1], m["tail"]
    m["fragments"][-1] = {**last, "size": last["size"] + tail["size"]}
    m["tail"] = None


LAYOUT_EDITS = {
    "no fragments listed": lambda m: m.update(fragments=[]),
    "two fragments merged into one range": _merge_first_two,
    "the tail folded into the last fragment": _fold_tail,
    "a shortened init range": lambda m: m["init"].update(size=m["init"]["size"] - 8),
}


@pytest.mark.parametrize("what", LAYOUT_EDITS)
def test_a_manifest_whose_ranges_are_not_the_files_own_boxes(store, what):
    resign_manifest(store, 2, LAYOUT_EDITS[what])
    report = verify_store(store)
    assert codes(report) == {"layout-mismatch"}, report.summary_text()
    assert all(loc.startswith(f"{MEDIA}/00002.mp4 ") for loc in locations(report, "layout-mismatch"))


def test_wrong_fragment_hashes_in_a_signed_manifest(store):
    resign_manifest(store, 2, lambda m: m["fragments"][1].update(sha256="ab" * 32))
    report = verify_store(store)
    assert codes(report) == {"fragment-mismatch"}
    [problem] = find(report, "fragment-mismatch")
    assert problem.location.startswith(f"{MEDIA}/00002.mp4 fragment 2 ")


def test_a_manifest_claiming_more_frames_than_the_file_holds(store):
    def more_frames(entries):
        [entry] = [e for e in entries if e["type"] == "segment" and e["body"]["seq"] == 2]
        entry["body"]["frames"] += 1
        stop = entries[-1]["body"]
        stop["frames"] += 1

    resign_manifest(store, 2, lambda m: m["video"].update(frames=m["video"]["frames"] + 1))
    resign_ledger(store, more_frames)
    report = verify_store(store)
    assert codes(report) == {"sample-count-mismatch"}
    assert "says 16 video frames, the file's fragments hold 15" in find(report, "sample-count-mismatch")[0].message


# ---------------------------------------------------------------------------- manifest rules

def test_prerecord_only_on_the_first_segment(store):
    resign_manifest(store, 2, lambda m: m.update(prerecord={"configured_s": 30, "span_us": 1, "audio": False}))
    report = verify_store(store)
    assert codes(report) == {"manifest-mismatch"}
    assert "only segment 1 holds the pre-record" in find(report, "manifest-mismatch")[0].message


def test_picture_size_other_than_the_session_start(store):
    resign_manifest(store, 3, lambda m: m["video"].update(width=640))
    report = verify_store(store)
    assert codes(report) == {"manifest-mismatch"}
    assert "video.width is 640, session_start says 64" in find(report, "manifest-mismatch")[0].message


def test_sound_in_a_segment_of_a_session_without_sound(store):
    resign_manifest(store, 1, lambda m: m.update(audio={"codec": "aac", "sample_rate": 48000, "channels": 1,
                                                      "packets": 0, "samples": 0, "first_mono_us": None}))
    report = verify_store(store)
    assert codes(report) == {"manifest-mismatch"}


def test_a_float_in_a_signed_manifest(store):
    resign_manifest(store, 1, lambda m: m["video"].update(gop_frames=5.5))  # JCS writes 5.0 as 5
    report = verify_store(store)
    assert codes(report) == {"float-in-document"}
    assert find(report, "float-in-document")[0].message == "video.gop_frames is a floating-point number"


def test_wall_text_disagreeing_with_wall_us_in_a_manifest(store):
    resign_manifest(store, 1, lambda m: m["start"].update(wall="2026-11-29T08:00:09.000000Z"))
    report = verify_store(store)
    assert codes(report) == {"inconsistent-time"}


# ---------------------------------------------------------------------------- ledger rules

def test_a_float_in_a_signed_entry(store):
    resign_ledger(store, lambda entries: entries[1]["at"].update(mono_us=5000000.5))
    report = verify_store(store)
    assert "float-in-document" in codes(report)
    assert find(report, "float-in-document")[0].location == "ledger line 2 (index 1)"


def test_wall_text_disagreeing_with_wall_us_in_an_entry(store):
    resign_ledger(store, lambda entries: entries[1]["at"].update(wall="2026-11-29T09:00:00.000000Z"))
    report = verify_store(store)
    assert codes(report) == {"inconsistent-time"}
    assert find(report, "inconsistent-time")[0].location == "ledger line 2 (index 1)"


def test_a_signature_in_non_canonical_base64(store):
    """Same signature bytes, other text (the padding bits of the last character): the entry
    still verifies, but its line — and the hash the next entry chains to — changed. The
    next entry is re-chained to the new line, so only the spelling is wrong."""
    identity = DeviceIdentity.load(store / "device")
    entries = [json.loads(line) for line in ledger_lines(store)]
    sig = entries[2]["sig"]
    raw = base64.b64decode(sig)
    assert sig.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(sig[-3])
    entries[2]["sig"] = sig[:-3] + alphabet[last | 1 if not last & 1 else last & ~1] + "=="
    assert base64.b64decode(entries[2]["sig"]) == raw and entries[2]["sig"] != sig
    lines = [canonical_bytes(e) for e in entries[:3]]
    prev = entry_hash(lines[-1])
    for entry in entries[3:]:
        line = canonical_bytes(signed(identity, {**entry, "prev": prev}))
        prev = entry_hash(line)
        lines.append(line)
    write_ledger(store, [line + b"\n" for line in lines])
    report = verify_store(store)
    assert codes(report) == {"non-canonical-signature"}
    assert find(report, "non-canonical-signature")[0].location == "ledger line 3 (index 2)"


# ---------------------------------------------------------------------------- the store's tree

def test_a_stray_file_in_ledger_is_a_problem(store):
    (store / "ledger" / "ledger.jsonl.bak").write_bytes((store / "ledger" / "ledger.jsonl").read_bytes())
    report = verify_store(store)
    assert codes(report) == {"stray-ledger-file"}
    assert locations(report, "stray-ledger-file") == ["ledger/ledger.jsonl.bak"]


def test_stray_files_outside_media_are_warnings(store):
    (store / "notes.txt").write_text("x")
    (store / "device" / "serial.txt").write_text("x")
    (store / "exports").mkdir()
    report = verify_store(store)
    assert report.ok
    assert sorted(w.location for w in report.warnings if w.code == "stray-file") == [
        "device/serial.txt", "exports", "notes.txt"]


def test_an_empty_folder_for_an_unknown_session_is_a_warning(store):
    (store / "media" / "never-started").mkdir()
    report = verify_store(store)
    assert report.ok
    assert [(w.code, w.location) for w in report.warnings if w.code != "private-key-present"] == [
        ("empty-folder", "media/never-started")]


def test_symlinks_anywhere_are_problems(store, tmp_path):
    (tmp_path / "outside").mkdir()
    (store / "media" / "linked-session").symlink_to(tmp_path / "outside")
    (store / "device" / "other.pub").symlink_to(store / "device" / "device.pub")
    report = verify_store(store)
    assert codes(report) == {"symlink"}
    assert sorted(locations(report, "symlink")) == ["device/other.pub", "media/linked-session"]


def test_a_copy_carrying_the_private_key_is_warned_about(store):
    report = verify_store(store)
    assert report.ok and [w.code for w in report.warnings] == ["private-key-present"]
    os.remove(store / "device" / "device.key")
    assert verify_store(store).warnings == []


# ---------------------------------------------------------------------------- trusted heads

def head_of(store, lines=None) -> tuple[int, str]:
    lines = lines or ledger_lines(store)
    entry = json.loads(lines[-1])
    return entry["index"], entry_hash(lines[-1])


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_trusted_head_catches_a_cut_tail(store, cut):
    head = head_of(store)
    write_ledger(store, ledger_lines(store)[:-cut])
    without = verify_store(store)
    assert "cannot be detected from the store alone" in without.tail_note
    report = verify_store(store, heads=[head])
    assert "head-missing" in codes(report)
    assert report.tail_note is None and report.heads_checked == [f"{head[0]}:{head[1]}"]


def test_a_trusted_head_catches_a_deleted_last_session(tmp_path):
    """A store the agent recorded, two sessions; the whole last one — its entries and its
    files — removed, the ledger ending cleanly where the first session closed: the store
    alone verifies; the head from before does not."""
    from test_format_versions import V1_STORE

    root = tmp_path / "two"
    shutil.copytree(V1_STORE, root)
    head = head_of(root)
    entries = [json.loads(line) for line in ledger_lines(root)]
    last = [e for e in entries if e["type"] == "session_start"][-1]["body"]["session_id"]
    closed = max(i for i, e in enumerate(entries) if e["type"] == "transition" and e["body"]["cause"] == "session-closed"
                 and i < next(j for j, e in enumerate(entries) if e["body"].get("session_id") == last))
    write_ledger(root, ledger_lines(root)[: closed + 1])
    shutil.rmtree(root / "media" / last)
    assert verify_store(root).ok, "nothing in the store alone shows the cut"
    report = verify_store(root, heads=[head])
    assert codes(report) == {"head-missing"}


def test_a_trusted_head_catches_a_rewritten_entry(store):
    head = head_of(store)
    resign_ledger(store, lambda entries: entries[-1]["body"].update(cause="shutdown"))
    report = verify_store(store, heads=[head])
    assert codes(report) == {"head-mismatch"}


def test_the_right_head_passes(store):
    report = verify_store(store, heads=[head_of(store)])
    assert report.ok and report.tail_note is None


# ---------------------------------------------------------------------------- where and when (v4)

def with_track(manifest_document, edit=None):
    """Give a manifest a sound 1 Hz track with a fix (placed by its own clock mappings), then
    let `edit` break one thing in it."""
    from recorder.evidence import entries

    start, end = manifest_document["start"]["mono_us"], manifest_document["end"]["mono_us"]
    offset = manifest_document["clock"][0]["offset_us"]
    fix = {"mode": 3, "lat": 31.2304, "lon": 121.4737, "alt": 12.0, "speed": 1.2, "track": 90.0, "sats": 9,
           "hdop": 0.9, "eph": 3.0, "epv": 4.5, "age_ns": 300_000_000, "utc_ns": None}
    points = [entries.track_point(t, t + offset, fix) for t in range(start, end, 1_000_000)]
    manifest_document["track"] = entries.track("gpsd", points)
    if edit is not None:
        edit(manifest_document["track"])


def test_a_sound_track_passes(store):
    resign_manifest(store, 1, with_track)
    report = verify_store(store)
    assert report.ok, report.summary_text()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t["points"][0].update(age_ms=2001), "presented as a fix"),
    (lambda t: t["points"][-1].update(mono_us=t["points"][-1]["mono_us"] + 5_000_000), "outside the segment"),
    (lambda t: t.update(fix_ms=t["fix_ms"] + 1000), "fix_ms"),
    (lambda t: t.update(status="no-fix"), "status"),
    (lambda t: t["points"][0].update(lat_e7=950_000_000), "not on the globe"),
    (lambda t: t["points"][0].update(fix="none"), "a position on a point without a fix"),
], ids=["stale-position", "outside", "fix-ms", "status", "off-the-globe", "position-without-fix"])
def test_a_track_that_breaks_a_rule(store, edit, message):
    resign_manifest(store, 1, lambda m: with_track(m, edit))
    report = verify_store(store)
    assert codes(report) == {"bad-track"}
    assert message in find(report, "bad-track")[0].message


def test_a_track_point_not_placed_by_the_clock_mappings(store):
    resign_manifest(store, 1, lambda m: with_track(m, lambda t: t["points"][0].update(
        wall_us=t["points"][0]["wall_us"] + 1_000_000)))
    report = verify_store(store)
    assert codes(report) == {"bad-track"}
    assert "not placed by the clock mappings" in find(report, "bad-track")[0].message


def test_a_manifest_time_placed_with_another_offset_than_its_mapping(store):
    def shift(m):
        m["clock"][0]["offset_us"] += 5_000_000  # the stated mapping no longer places start/end
    resign_manifest(store, 1, shift)
    report = verify_store(store)
    assert codes(report) == {"inconsistent-time"}
    assert "the mapping that held" in find(report, "inconsistent-time")[0].message


def test_a_version_4_stamp_without_its_error_bound(store):
    resign_ledger(store, lambda entries: entries[1]["at"].pop("error_us"))
    report = verify_store(store)
    assert codes(report) == {"inconsistent-time"}
    assert "error_us is missing" in find(report, "inconsistent-time")[0].message


def test_a_version_4_stamp_with_a_source_the_format_does_not_have(store):
    resign_ledger(store, lambda entries: entries[1]["at"].update(clock="system-ntp-synchronized"))
    report = verify_store(store)
    assert codes(report) == {"inconsistent-time"}


def test_a_clock_step_entry_in_a_version_3_ledger_line(store):
    def step(entries):
        entries[1].update(type="clock_step", v=3, body={"step_us": 1, "cause": "x", "before": {}, "after": {}})
    resign_ledger(store, step)
    report = verify_store(store)
    assert "unknown-entry-type" in codes(report)
    assert "format version 3 has no entry type" in find(report, "unknown-entry-type")[0].message
