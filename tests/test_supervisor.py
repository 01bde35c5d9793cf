"""The supervisor and a camera that stalls, through the command line as an officer's device
runs it (`recorder run --simulate --fast`: the agent is a supervised child process).

A stall (no frame for [recovery] stall_seconds) is a fault: the run seals what it has, writes
the interruption and exits 75; the supervisor starts a fresh process, which resumes the cut
session with the `capture` prompt. A camera that never comes back makes every restart fail
the same way: after restart_attempts the supervisor gives up, writes the `unrecoverable`
entry (the unit head must be told: regulation art. 8) and plays the cue; exit 5."""

from conftest import recorder, write_config
from media import frame_indices, segments_of
from recorder.evidence.verifier import verify_store
from recorder.voice.prompts import prompt_audio
from shifts import ledger, of_type

RECOVERY = """
[recovery]
stall_seconds = 2.0
restart_attempts = 2
restart_backoff_seconds = 0.5
"""


def run(tmp_path, script: str):
    config = write_config(tmp_path, extra=RECOVERY)
    store = tmp_path / "store"
    result = recorder("run", "--simulate", "--fast", "--config", config, "--store", store, "--script", script,
                      check=False, timeout=600)
    return result, store


def test_a_camera_that_stalls_and_comes_back_is_recovered_by_a_restart(tmp_path):
    result, store = run(tmp_path, "press record @1s; stall camera 2.5s @6s; end @30s")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    entries = ledger(store)
    (interruption,) = of_type(entries, "interruption")
    body = interruption["body"]
    assert body["cause"] == "fault" and body["detail"].startswith("capture-stalled: ")
    runs = of_type(entries, "agent_stop")
    assert [r["body"]["reason"] for r in runs] == ["restart:capture-stalled", "run-complete"]
    first, second = of_type(entries, "session_start")
    assert second["body"]["resumes"]["session_id"] == first["body"]["session_id"]
    # noticed stall_seconds after the last frame came out of the encoder (which holds ~4
    # frames), not at the end of the shift
    cut = next(e for e in of_type(entries, "transition") if e["body"]["to"] == "interrupted")
    boot = next(e for e in of_type(entries, "transition") if e["body"]["cause"] == "boot")
    noticed_s = (cut["at"]["mono_us"] - boot["at"]["mono_us"]) / 1e6
    print(f"\nstall at 6.0 s noticed at {noticed_s:.2f} s (stall_seconds 2.0)")
    assert 6 + 2.0 - 0.2 <= noticed_s <= 6 + 2.0 + 0.05
    # the restart waited the backoff on the (simulated) clock and resumed
    assert ("booting", "resuming", "resume") in [(e["body"]["from"], e["body"]["to"], e["body"]["cause"])
                                                 for e in of_type(entries, "transition")]
    report = verify_store(store)
    assert report.ok, report.summary_text()
    for session in (first, second):
        sid = session["body"]["session_id"]
        indices = [i for s in segments_of(store) if s.parent.name == sid for i in frame_indices(s)]
        assert indices == list(range(indices[0], indices[-1] + 1)), f"{sid}: frames missing"
        if session is first:  # every frame before the stall (30 fps) was sealed, those in the encoder too
            assert indices[-1] == 6 * 30 - 1
    (explanation,) = of_type(entries, "explanation")
    window_s = (explanation["body"]["end"]["mono_us"] - explanation["body"]["start"]["mono_us"]) / 1e6
    assert window_s == 30 or explanation["body"]["ended_by"] == "stop"
    # the `capture` prompt opened the window: it is as long as that prompt after the resume
    resumed_us = second["at"]["mono_us"]
    prompt_s = (explanation["body"]["start"]["mono_us"] - resumed_us) / 1e6
    assert abs(prompt_s - prompt_audio("capture", "zh-CN").duration) < 0.05


def test_a_camera_that_never_comes_back_ends_in_unrecoverable(tmp_path):
    result, store = run(tmp_path, "press record @1s; stall camera @5s; end @120s")
    assert result.returncode == 5, result.stderr[-3000:]
    assert "recorder: unrecoverable: " in result.stderr and "Traceback" not in result.stderr
    entries = ledger(store)
    assert [r["body"]["reason"] for r in of_type(entries, "agent_stop")] == ["restart:capture-stalled"] * 3
    (gave_up,) = of_type(entries, "unrecoverable")
    assert gave_up["body"]["attempts"] == 2 and gave_up["body"]["cause"] == "fault"
    assert "capture-stalled" in gave_up["body"]["detail"]
    assert entries[-1]["type"] == "unrecoverable", "the last word in the ledger"
    # every run after the first resumed and was cut by the same stall
    causes = [e["body"]["cause"] for e in of_type(entries, "interruption")]
    assert causes == ["fault"] * 3
    report = verify_store(store)
    assert report.ok, report.summary_text()


def test_the_stall_step_is_checked(tmp_path):
    result, _ = run(tmp_path, "stall microphone @5s")
    assert result.returncode == 2 and "stall camera [D] @T" in result.stderr
