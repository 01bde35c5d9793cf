"""SIGKILL, again and again: the agent dies at random moments — while recording, while
starting, while recovering what the previous death left — and every next start seals what
was left (cause `crash`: the same boot), resumes the cut session as a new linked session,
and plays the prompt. At the end the store verifies; every session's frames run without a
gap; what each kill lost is at most the fragment being built (one GOP) and the frames still
inside the encoder.

Real time on the simulated body (SystemClock: the test's CLOCK_MONOTONIC is the agent's, so
a kill's moment is on the evidence's clock). RECORDER_KILLS sets the number of kills (50)."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import write_config
from media import decoded_audio, frame_indices, manifest_of, segments_of
from recorder.evidence.verifier import verify_store
from recorder.voice.prompts import prompt_audio
from recorder.voice.resample import resample
from shifts import ledger, of_type
from support.audio_match import ONSET_S, locate_onset

KILLS = int(os.environ.get("RECORDER_KILLS", "50"))
SEED = 20261203
GOP_S, FRAME_S = 1.0, 1 / 30
# Frames inside the encoder (4 with frame threads and no lookahead: capture/encoders.py) and on
# their way to the muxer when the kill lands: process memory.
ENCODER_LAG_S = 0.2


def sessions_started(store) -> int:
    path = store / "ledger" / "ledger.jsonl"
    return path.read_bytes().count(b'"type":"session_start"') if path.exists() else 0


def run_agent(config, store, script: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "recorder", "run", "--simulate", "--once", "--config", str(config),
                             "--store", str(store), "--script", script],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kills")
    config, store = write_config(tmp), tmp / "store"
    rng = random.Random(SEED)
    kills = []  # (monotonic ns of the kill, while recording?)
    for n in range(KILLS):
        before = sessions_started(store)
        child = run_agent(config, store, "start @0.2s; end @600s")
        try:
            if rng.random() < 0.2:  # early: during start-up and the recovery of the last death
                time.sleep(rng.uniform(0.0, 1.0))
                recording = False
            else:
                deadline = time.monotonic() + 30
                while sessions_started(store) == before and time.monotonic() < deadline and child.poll() is None:
                    time.sleep(0.02)
                assert sessions_started(store) > before, child.stderr.read().decode()[-3000:] if child.poll() else \
                    "no session started within 30 s"
                time.sleep(rng.uniform(0.3, 3.0))
                recording = True
            kills.append((time.monotonic_ns(), recording))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            child.kill()
            child.stderr.close()
    last = run_agent(config, store, "end @3s")
    _, stderr = last.communicate(timeout=120)
    assert last.returncode == 0, stderr.decode()[-3000:]
    return store, kills


def test_the_store_verifies_after_every_kill(killed):
    store, kills = killed
    report = verify_store(store)
    assert report.ok, report.summary_text()
    assert not list(store.glob("media/*/*.partial")), "every cut segment sealed"
    crashes = [e for e in of_type(ledger(store), "interruption") if e["body"]["cause"] == "crash"]
    cut = [e for e in crashes if e["body"]["session_id"] is not None]
    print(f"\n{len(kills)} kills ({sum(r for _, r in kills)} while recording): {len(crashes)} crash interruptions, "
          f"{len(cut)} of a recording session")
    assert len(cut) >= sum(r for _, r in kills), "every kill while recording left an interruption of its session"
    assert not [e for e in ledger(store) if e["type"] == "interruption" and e["body"]["cause"] == "power_loss"], \
        "a kill is not a power loss: the boot is the same"


def test_each_session_resumes_the_one_cut_before_it(killed):
    store, _ = killed
    entries = ledger(store)
    by_ref = {f"{e['index']}": e for e in entries if e["type"] == "interruption"}
    resumed = [e for e in of_type(entries, "session_start") if "resumes" in e["body"]]
    assert resumed, "sessions resumed"
    for start in resumed:
        named = by_ref[start["body"]["resumes"]["interruption"].split(":")[0]]
        assert named["body"]["session_id"] == start["body"]["resumes"]["session_id"]
    # Every cut session was resumed (the last one by the final, clean run).
    cut = {e["body"]["session_id"] for e in by_ref.values() if e["body"]["session_id"]}
    assert cut == {s["body"]["resumes"]["session_id"] for s in resumed}


def test_frames_run_without_gaps_and_a_kill_loses_at_most_the_fragment_being_built(killed):
    store, kills = killed
    entries = ledger(store)
    starts = {e["body"]["session_id"]: e["at"]["mono_us"] * 1000 for e in of_type(entries, "session_start")}
    losses = []
    for interruption in of_type(entries, "interruption"):
        sid = interruption["body"]["session_id"]
        if sid is None:
            continue
        segments = [s for s in segments_of(store) if s.parent.name == sid]
        indices = [i for s in segments for i in frame_indices(s)]
        assert indices == list(range(indices[0], indices[-1] + 1)) if indices else not segments, \
            f"session {sid}: frames missing"
        # Killed before its first fragment reached the disk: all it recorded was that fragment.
        end_ns = manifest_of(segments[-1])["end"]["mono_us"] * 1000 if segments else starts[sid]
        kill_ns = min(t for t, _ in kills if t > starts[sid])
        losses.append((kill_ns - end_ns) / 1e9)
    mean = sum(losses) / len(losses)
    print(f"\nlost per kill while recording: mean {mean:.2f} s = {mean / FRAME_S:.0f} frames, max {max(losses):.2f} s "
          f"= {max(losses) / FRAME_S:.0f} frames (bound {GOP_S + ENCODER_LAG_S + FRAME_S:.2f} s) over {len(losses)} cuts")
    assert max(losses) <= GOP_S + ENCODER_LAG_S + FRAME_S
    assert min(losses) >= 0


def test_every_resume_played_the_crash_prompt_into_the_recording(killed):
    """Found by cross-correlation in the sealed audio of each resumed session that recorded
    past the prompt's first half second, where the resume began."""
    store, _ = killed
    prompt = prompt_audio("crash", "zh-CN")
    reference = resample(prompt.samples, prompt.rate, 48_000)
    found, checked = [], 0
    for start in of_type(ledger(store), "session_start"):
        if "resumes" not in start["body"]:
            continue
        first = store / "media" / start["body"]["session_id"] / "00001.mp4"
        if not first.exists() or manifest_of(first)["end"]["mono_us"] - start["at"]["mono_us"] < (ONSET_S + 0.3) * 1e6:
            continue  # killed before the prompt's beginning was sealed
        checked += 1
        samples, skip = decoded_audio(first)
        first_ns = manifest_of(first)["start"]["mono_us"] * 1000 + skip * 1_000_000_000 // 48_000
        at_ns, score = locate_onset(samples, first_ns, 48_000, reference, start["at"]["mono_us"] * 1000)
        found.append(((at_ns - start["at"]["mono_us"] * 1000) / 1e6, score))
    print(f"\ncrash prompt found in {len(found)} resumed sessions: correlation min {min(s for _, s in found):.2f}, "
          f"start {min(t for t, _ in found):+.1f}..{max(t for t, _ in found):+.1f} ms from the resume")
    assert checked >= 5
    assert all(score > 0.3 and 0 <= t < 100 for t, score in found), found
