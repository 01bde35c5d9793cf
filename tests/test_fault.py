"""A disk that fills up mid-shift, on a real filesystem (a small tmpfs under media/): the
failure reaches the state machine at once — fault mode, the amber light steady, the error
cue — the session is closed with what was sealed, the run ends with exit code 3 and one
clear line, and everything sealed before the failure verifies frame by frame."""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import require_root_unshare, write_config
from media import frame_indices, segments_of
from recorder.evidence.verifier import verify_store
from shifts import ledger, of_type, transitions

MEDIA_SIZE = "640k"  # ~8 s of the small test video: full well before the shift ends
SCRIPT = "press record @1s; end @30s"

IN_NAMESPACE = textwrap.dedent(
    """
    import json, shutil, subprocess, sys
    from pathlib import Path

    store, out, config_path, size, script = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    (store / "media").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(store / "media")], check=True)
    try:
        if sys.argv[6] == "cli":
            from recorder.cli import main
            code = main(["run", "--simulate", "--fast", "--config", config_path, "--store", str(store),
                         "--script", script])
            result = {"code": code}
        else:
            from recorder.clock import SimulatedClock
            from recorder.config import load_config
            from recorder.errors import PipelineFault
            from recorder.sim.agent import SimulatedAgent
            from recorder.sim.script import parse_timeline

            agent = SimulatedAgent(load_config(Path(config_path)), store, SimulatedClock())
            try:
                agent.play(parse_timeline(script))
                error = None
            except PipelineFault as exc:
                error = str(exc)
            origin = agent.body.origin_ns
            pins = {name: [((t - origin) / 1e9, v) for t, v in agent.pin(name).values(since_ns=origin)]
                    for name in ("green", "red", "amber", "buzzer")}
            result = {"error": error, "pins": pins, "origin_us": origin // 1000}
    finally:
        shutil.copytree(store, out, symlinks=True)  # the tmpfs goes with the namespace
    print(json.dumps(result))
    """
)


def run_filling_up(tmp_path, how: str) -> tuple[dict, object]:
    unshare = require_root_unshare()
    config = write_config(tmp_path)
    out = tmp_path / "after"
    result = subprocess.run(
        [unshare, "-m", sys.executable, "-c", IN_NAMESPACE, str(tmp_path / "store"), str(out), str(config),
         MEDIA_SIZE, SCRIPT, how],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), out, result.stderr


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    return run_filling_up(tmp_path_factory.mktemp("fault"), "agent")


def seconds(store, entry) -> float:
    boot = next(e for e in ledger(store) if e["type"] == "transition" and e["body"]["cause"] == "boot")
    return (entry["at"]["mono_us"] - boot["at"]["mono_us"]) / 1e6


def test_the_failure_puts_the_recorder_in_fault_mid_shift(filled):
    """Whichever write meets the full disk first — the muxer's (write-failed) or a
    manifest's (seal-failed) — the fault names it."""
    outcome, store, _ = filled
    cause = outcome["error"].split(":")[0]
    assert cause in ("write-failed", "seal-failed")
    assert "No space left on device" in outcome["error"]
    assert transitions(store) == [
        ("booting", "ready", "boot"),
        ("ready", "recording", "button:record"),
        ("recording", "fault", cause),
        ("fault", "off", "shutdown"),
    ]
    fault = next(e for e in of_type(ledger(store), "transition") if e["body"]["to"] == "fault")
    assert 2 < seconds(store, fault) < 20, "the failure is acted on when it happens, not at the end of the run"
    assert fault["body"]["detail"] == "OSError: [Errno 28] No space left on device"
    [stop] = of_type(ledger(store), "session_stop")
    assert stop["body"]["cause"] == cause
    assert ledger(store)[-1]["type"] == "agent_stop"
    assert ledger(store)[-1]["body"]["reason"] == f"fault:{cause}", "why the agent stopped"


def test_the_pins_show_the_fault_at_once(filled):
    outcome, store, _ = filled
    fault = next(e for e in of_type(ledger(store), "transition") if e["body"]["to"] == "fault")
    at = seconds(store, fault)
    amber, red = outcome["pins"]["amber"], outcome["pins"]["red"]
    on = [t for t, level in amber if level and t >= at]
    assert on and on[0] - at <= 0.025, f"amber lit {on[:1]} s, fault at {at} s: within one loop step"
    assert (on[0], True) in [(round(t, 6), v) for t, v in amber]
    assert not [t for t, level in red if level and t > at + 0.025], "recording light off in fault"
    buzzer_on = [t for t, level in outcome["pins"]["buzzer"] if level and at <= t <= at + 0.025]
    assert buzzer_on, "the error cue sounds"


def test_what_was_sealed_before_the_failure_verifies(filled):
    """Sealed segments verify; what the full disk kept from being sealed is reported as
    found: `.partial` files (kept for recovery), and a session_stop that counts segments
    the verifier cannot find sealed."""
    _, store, _ = filled
    report = verify_store(store)
    assert {p.code for p in report.problems if p.severity == "problem"} <= {"partial-file", "stop-mismatch"}, \
        report.summary_text()
    partials = [p.location for p in report.problems if p.code == "partial-file"]
    assert partials and all(p.endswith(".partial") for p in partials), "kept as found, for recovery"
    assert not [p for p in report.problems if p.code == "stop-mismatch" and "segments" in p.message
                and "give 0" in p.message], "at least the first segment was sealed"
    indices = [i for segment in segments_of(store) for i in frame_indices(segment)]
    assert len(segments_of(store)) >= 1
    assert indices == list(range(indices[0], indices[-1] + 1)), "sealed frames contiguous up to the failure"


def test_the_command_line_says_fault_with_its_own_exit_code(tmp_path):
    outcome, store, stderr = run_filling_up(tmp_path, "cli")
    assert outcome["code"] == 3
    assert ("recorder: fault: write-failed: " in stderr or "recorder: fault: seal-failed: " in stderr), stderr
    assert "No space left on device" in stderr
    assert "Traceback" not in stderr
