"""A power cut in the middle of a ledger append leaves a torn last line. The next start sets
it aside — ends it with a newline, keeps its bytes as found, names it in a signed `repair`
entry — and goes on from the last complete entry: nothing is lost, and the store verifies.
Any other edit to the ledger still fails verification."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import copy_device

from recorder.agent.recording import SessionRecorder
from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.evidence.canonical import sha256_hex
from recorder.evidence.verifier import verify_store

CONFIG = config_from_dict({"audio": {"enabled": False}})


def start_and_stop(root: Path):
    SessionRecorder(CONFIG, root, SimulatedClock()).close("run-complete")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ledger") / "store"
    start_and_stop(root)
    start_and_stop(root)
    return root


def ledger_of(root: Path) -> bytes:
    return (root / "ledger" / "ledger.jsonl").read_bytes()


def test_a_torn_last_line_cut_at_every_byte_is_set_aside_and_nothing_is_lost(pristine, tmp_path):
    data = ledger_of(pristine)
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    committed = data[:last_start]
    length = len(data) - last_start  # the last line with its newline
    for cut in range(1, length):  # from its first byte to all of it but the newline
        root = tmp_path / f"cut{cut}"
        copy_device(pristine, root)
        torn = data[last_start : last_start + cut]
        (root / "ledger" / "ledger.jsonl").write_bytes(committed + torn)
        start_and_stop(root)
        after = ledger_of(root)
        assert after.startswith(committed + torn + b"\n"), f"cut {cut}: what was there is kept as found"
        lines = after.split(b"\n")
        repair = json.loads(lines[committed.count(b"\n") + 1])
        assert repair["type"] == "repair"
        assert repair["body"] == {"line": committed.count(b"\n") + 1, "size": cut, "sha256": sha256_hex(torn)}
        report = verify_store(root)
        assert report.ok, f"cut {cut}: {report.summary_text()}"
        shutil.rmtree(root)
    print(f"{length - 1} cuts of a {length}-byte line: each set aside, each store verifies")


@pytest.fixture
def repaired(pristine, tmp_path) -> Path:
    root = tmp_path / "store"
    copy_device(pristine, root)
    data = ledger_of(root)
    (root / "ledger" / "ledger.jsonl").write_bytes(data[:-40])
    start_and_stop(root)
    assert verify_store(root).ok
    return root


def repair_line(lines) -> int:
    def kind(line):
        try:
            return json.loads(line).get("type")
        except ValueError:
            return None

    return next(i for i, line in enumerate(lines) if kind(line) == "repair")


def rewrite(root: Path, edit):
    lines = ledger_of(root).split(b"\n")
    edit(lines)
    (root / "ledger" / "ledger.jsonl").write_bytes(b"\n".join(lines))


def test_a_repair_covers_exactly_the_line_it_names(repaired):
    def flip_in_torn_line(lines):
        number = repair_line(lines)
        torn = bytearray(lines[number - 1])
        torn[0] ^= 0x01
        lines[number - 1] = bytes(torn)

    rewrite(repaired, flip_in_torn_line)
    codes = {p.code for p in verify_store(repaired).problems}
    assert "unparsable-line" in codes or "not-canonical" in codes


def test_a_line_in_the_middle_cannot_be_passed_over(repaired):
    def cut_an_earlier_line(lines):
        lines[2] = lines[2][:-10]

    rewrite(repaired, cut_an_earlier_line)
    assert not verify_store(repaired).ok


def test_the_repair_entry_itself_cannot_be_edited(repaired):
    def other_size(lines):
        number = repair_line(lines)
        lines[number] = lines[number].replace(b'"size":', b'"size":1', 1)

    rewrite(repaired, other_size)
    codes = {p.code for p in verify_store(repaired).problems}
    assert "bad-signature" in codes and "unparsable-line" in codes


def test_a_start_cut_between_the_newline_and_its_repair_entry_is_finished_by_the_next(pristine, tmp_path):
    """The torn line got its newline, and the power went again before the repair entry: the
    next start recognises the line it ended, names it, and the store verifies."""
    root = tmp_path / "store"
    copy_device(pristine, root)
    data = ledger_of(root)
    (root / "ledger" / "ledger.jsonl").write_bytes(data[:-40] + b"\n")  # ended, never repaired
    start_and_stop(root)
    after = ledger_of(root)
    assert after.startswith(data[:-40] + b"\n") and after.count(data[:-40] + b"\n\n") == 0, "no second newline"
    lines = after.split(b"\n")
    repair = json.loads(lines[repair_line(lines)])
    assert repair["body"]["size"] == len(data[:-40]) - data[:-40].rfind(b"\n") - 1
    report = verify_store(root)
    assert report.ok, report.summary_text()


def test_a_torn_first_line_is_set_aside_before_the_device_init(tmp_path):
    """The very first append was cut: the next start keeps it as line 1, and its device_init
    (line 2) is the genesis all the same."""
    root = tmp_path / "store"
    start_and_stop(root)
    first = ledger_of(root).split(b"\n")[0]
    fresh = tmp_path / "fresh"
    start_and_stop(fresh)
    (fresh / "ledger" / "ledger.jsonl").write_bytes(first[:57])  # torn inside the first entry
    start_and_stop(fresh)
    lines = ledger_of(fresh).split(b"\n")
    assert lines[0] == first[:57]
    assert json.loads(lines[1])["type"] == "device_init" and json.loads(lines[2])["type"] == "repair"
    report = verify_store(fresh)
    assert report.ok, report.summary_text()
