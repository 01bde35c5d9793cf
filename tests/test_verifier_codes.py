"""Every problem code the verifier can emit has a test that makes a store emit it.

The codes the verifier emits are read from its source; a test counts for a code when
the code is a string in a test function of a verifier test module (which asserts on
the reports of real, tampered stores). The last codes without a test are here too."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import recorder
from conftest import IN_CI, copy_device, device_identity
from recorder.evidence.report import CODES
from recorder.evidence.verifier import verify_store
from test_verifier import (  # noqa: F401  (fixtures)
    MEDIA, SESSION, codes, find, foreign, ledger_lines, locations, pristine, resign_ledger, store,
)

EVIDENCE = Path(recorder.__file__).parent / "evidence"
TESTS = Path(__file__).parent
VERIFIER_TESTS = ("test_verifier.py", "test_verifier_codes.py", "test_verifier_rules.py", "test_release.py",
                  "test_verifier_encrypted.py")


def emitted_codes() -> set[str]:
    """First arguments of every `problem("code", ...)` / `.problem("code", ...)` call in the
    evidence package."""
    found = set()
    for path in EVIDENCE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name == "problem":
                found.add(node.args[0].value)
    return found


def codes_with_a_test() -> set[str]:
    found = set()
    for name in VERIFIER_TESTS:
        for node in ast.walk(ast.parse((TESTS / name).read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found |= {c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in CODES}
    return found


def test_every_code_the_verifier_emits_is_documented_and_tested():
    emitted = emitted_codes()
    assert emitted == set(CODES), "CODES and the codes the verifier emits differ"
    untested = sorted(emitted - codes_with_a_test())
    assert not untested, f"verifier codes without a test: {untested}"


def _transition(template: dict, source: str, target: str, cause: str) -> dict:
    return {**template, "type": "transition",
            "body": {"from": source, "to": target, "cause": cause, "session_id": None}}


def test_transition_not_in_the_table_or_from_the_wrong_mode(store):
    def edit(entries):
        genesis = entries[0]
        entries[1:1] = [
            _transition(genesis, "booting", "ready", "boot"),
            _transition(genesis, "ready", "recording", "boot"),  # not a row of the table
            _transition(genesis, "stopping", "ready", "session-closed"),  # a row, but from the wrong mode
        ]

    resign_ledger(store, edit)
    report = verify_store(store)
    assert codes(report) == {"bad-transition"}
    first, second = find(report, "bad-transition")
    assert first.location == "ledger line 3 (index 2)" and "not in the state table" in first.message
    assert second.location == "ledger line 4 (index 3)" and "ledger had the recorder in recording" in second.message


def test_marks_outside_a_recording_session(store):
    def edit(entries):
        genesis, stop = entries[0], entries[-1]
        mark = {**genesis, "type": "mark", "body": {"session_id": "never-started", "number": 1,
                                                     "cause": "button:mark", "position": None}}
        after = {**genesis, "type": "mark", "body": {**mark["body"], "session_id": SESSION}}
        entries[1:1] = [mark]
        entries.append(after)
        assert stop["type"] == "session_stop"

    resign_ledger(store, edit)
    report = verify_store(store)
    assert codes(report) == {"mark-outside-session"}
    never, stopped = find(report, "mark-outside-session")
    assert never.location == "ledger line 2 (index 1)" and "never started" in never.message
    assert stopped.location == f"ledger line {len(ledger_lines(store))} (index {len(ledger_lines(store)) - 1})"
    assert "already stopped" in stopped.message


def test_a_named_file_that_cannot_be_read(tmp_path, store):
    """A manifest the verifier may not read (here: mode 000, verified as an unprivileged
    user) is reported where it is, and nothing else about the store goes wrong."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        if IN_CI:
            pytest.fail("CI runs as root with setpriv (util-linux)")
        pytest.skip("needs root to verify as another user")
    world = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip())
    try:
        copy = world / "store"
        shutil.copytree(store, copy)
        os.chmod(world, 0o755)
        for path in [copy, *copy.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o444)
        os.chmod(copy / MEDIA / "00002.manifest.json", 0o000)
        code = ("import json, sys; from recorder.evidence.verifier import verify_store; "
                f"print(json.dumps(verify_store({str(copy)!r}).to_json()))")
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path(recorder.__file__).parents[1])},
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
    finally:
        shutil.rmtree(world)
    problems = [(p["code"], p["location"]) for p in report["problems"]]
    assert problems == [("unreadable-file", f"{MEDIA}/00002.manifest.json")]
    assert "Permission denied" in report["problems"][0]["message"]


def test_docs_formats_lists_every_code_with_its_severity():
    """docs/FORMATS.md tells a third party which finding is a problem and which a warning:
    its table is exactly the verifier's."""
    text = (Path(recorder.__file__).parents[1] / "docs" / "FORMATS.md").read_text()
    table = text.split("<!-- codes:begin -->")[1].split("<!-- codes:end -->")[0]
    rows = [line for line in table.strip().splitlines()[2:]]
    assert rows == [f"| `{code}` | {severity} | {meaning} |" for code, (severity, meaning) in CODES.items()]


def test_docs_formats_carries_the_transition_table_the_verifier_reads():
    from recorder.evidence.modes import TRANSITIONS

    text = (Path(recorder.__file__).parents[1] / "docs" / "FORMATS.md").read_text()
    section = text.split("### Modes and transitions")[1].split("###")[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("from", "---"):
            continue
        causes = [c.strip("` ") for c in cells[2].split(",")]
        rows |= {(s.strip(), cells[1], c) for s in cells[0].split(",") for c in causes}
    assert rows == {(s, t, c) for (s, t), causes in TRANSITIONS.items() for c in causes}


# ---------------------------------------------------------------------------- interruptions
# A real store with an interruption: a shift on a simulated battery that runs flat (cause
# `battery`, the device powers off), then a start on mains that resumes the cut session and
# ends its explanation window with MARK. Edits re-sign the ledger and re-point the
# INDEX:SHA256 references to entries they change, as a device would have written them.


@pytest.fixture(scope="module")
def interrupted_pristine(tmp_path_factory) -> Path:
    from recorder.config import config_from_dict
    from recorder.errors import PowerOffRequired
    from recorder.sim.agent import SimulatedAgent, continued_clock
    from recorder.sim.script import parse_timeline
    from shifts import TINY

    store = tmp_path_factory.mktemp("interrupted") / "store"
    flat = {**{k: dict(v) for k, v in TINY.items()},
            "power": {"supply": "simulated", "simulated_wh": 0.2, "simulated_draw_w": 3.0}}
    with pytest.raises(PowerOffRequired):  # critical after ~2 min: 2 min left at 3 W
        SimulatedAgent(config_from_dict(flat), store, continued_clock(store)).play(
            parse_timeline("press record @1s; end @200s"))
    SimulatedAgent(config_from_dict(TINY), store, continued_clock(store)).play(parse_timeline("mark @5s; end @10s"))
    return store


@pytest.fixture
def interrupted(interrupted_pristine, tmp_path) -> Path:
    copy_device(interrupted_pristine, tmp_path / "store")
    return tmp_path / "store"


def resign_keeping_references(store: Path, edit):
    """resign_ledger, and every INDEX:SHA256 naming an entry (resumes, explanations) follows
    that entry's new index and hash."""
    from recorder.evidence.canonical import canonical_bytes
    from recorder.evidence.documents import signed
    from recorder.evidence.ledger import GENESIS_PREV, entry_hash
    from test_verifier import write_ledger

    identity = device_identity(store)
    originals = [json.loads(line) for line in ledger_lines(store)]
    refs = {f"{e['index']}:{entry_hash(line)}": id(e) for e, line in zip(originals, ledger_lines(store))}
    entries = list(originals)
    edit(entries)
    prev, lines, renamed = GENESIS_PREV, [], {}
    for index, entry in enumerate(entries):
        body = entry["body"]
        for holder, key in ((body.get("resumes"), "interruption"), (body, "interruption")):
            if isinstance(holder, dict) and isinstance(holder.get(key), str) and holder[key] in refs:
                holder[key] = renamed.get(refs[holder[key]], holder[key])
        line = canonical_bytes(signed(identity, {**entry, "index": index, "prev": prev}))
        prev = entry_hash(line)
        renamed[id(entry)] = f"{index}:{prev}"
        lines.append(line + b"\n")
    write_ledger(store, lines)


def entry_of(entries: list, kind: str, n: int = 0) -> dict:
    return [e for e in entries if e["type"] == kind][n]


def test_the_interrupted_store_verifies(interrupted):
    report = verify_store(interrupted)
    assert codes(report) == set(), report.summary_text()
    # Nobody spoke in the window (no voice on this body): the interruption is flagged, not failed.
    # (No private-key-present: the agent's keys are outside the store.)
    assert [p.code for p in report.problems if p.severity == "warning"] == ["unexplained-interruption"]
    assert "no speech was detected" in find(report, "unexplained-interruption")[0].message


def test_a_stop_cause_the_format_does_not_have(interrupted):
    resign_keeping_references(interrupted, lambda entries: entry_of(entries, "session_stop", 1)["body"].update(
        cause="exploded"))
    report = verify_store(interrupted)
    assert codes(report) == {"bad-stop-cause"}
    assert "'exploded'" in find(report, "bad-stop-cause")[0].message


def first_run_only(store: Path):
    """The store as the battery's shutdown left it: the second run's entries and files dropped."""
    def edit(entries):
        second = entry_of(entries, "session_start", 1)["body"]["session_id"]
        shutil.rmtree(store / "media" / second)
        del entries[[e["type"] for e in entries].index("agent_stop") + 1:]
    return edit


def test_a_session_stopped_by_the_battery_with_no_interruption_entry(interrupted):
    def edit(entries):
        first_run_only(interrupted)(entries)
        entries.remove(entry_of(entries, "interruption"))

    resign_keeping_references(interrupted, edit)
    report = verify_store(interrupted)
    assert codes(report) == {"interruption-missing"}
    assert "stopped with cause 'battery'" in find(report, "interruption-missing")[0].message


def test_an_interruption_that_disagrees_with_its_session(interrupted):
    def edit(entries):
        first_run_only(interrupted)(entries)
        entry_of(entries, "interruption")["body"]["cause"] = "storage"

    resign_keeping_references(interrupted, edit)
    report = verify_store(interrupted)
    # An entry that disagrees does not count for its session, which then has none.
    assert codes(report) == {"interruption-mismatch", "interruption-missing"}
    assert "the session stopped with 'battery'" in find(report, "interruption-mismatch")[0].message


def test_a_second_interruption_entry_and_one_of_a_session_never_stopped(interrupted):
    def edit(entries):
        first_run_only(interrupted)(entries)
        first = entry_of(entries, "interruption")
        never = {**first, "body": {**first["body"], "session_id": "0" * 32}}
        entries[entries.index(first) + 1:entries.index(first) + 1] = [dict(first), never]

    resign_keeping_references(interrupted, edit)
    report = verify_store(interrupted)
    assert codes(report) == {"interruption-mismatch"}
    second, never = find(report, "interruption-mismatch")
    assert "a second interruption entry" in second.message and "has no session_stop" in never.message


def test_a_resume_of_an_interruption_the_ledger_does_not_have(interrupted):
    def edit(entries):
        start = entry_of(entries, "session_start", 1)
        start["body"]["resumes"] = {**start["body"]["resumes"], "interruption": "3:" + "0" * 64}

    resign_keeping_references(interrupted, edit)
    report = verify_store(interrupted)
    # The explanation then names an interruption its session does not resume, too.
    assert codes(report) == {"bad-resume", "bad-explanation"}
    assert "no interruption entry of that session" in find(report, "bad-resume")[0].message


def test_an_explanation_of_another_interruption(interrupted):
    def edit(entries):
        entry_of(entries, "explanation")["body"]["session_id"] = entry_of(entries, "session_start", 0)["body"][
            "session_id"]

    resign_keeping_references(interrupted, edit)
    report = verify_store(interrupted)
    assert codes(report) == {"bad-explanation"}
    assert "which does not resume it" in find(report, "bad-explanation")[0].message


def test_bytes_set_aside_that_are_not_there(interrupted):
    def edit(entries):
        entry_of(entries, "interruption")["body"]["set_aside"] = ["media/nowhere/00009.mp4.torn", "../etc/passwd"]

    resign_keeping_references(interrupted, edit)
    report = verify_store(interrupted)
    assert codes(report) == {"torn-mismatch"}
    missing, outside = find(report, "torn-mismatch")
    assert "is not in the store" in missing.message and "not a file under media/" in outside.message
