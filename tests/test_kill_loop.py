"""SIGKILL, again and again: the agent dies at random moments — while recording, while
starting, while recovering what the previous death left — and every next start seals what
was left (cause `crash`: the same boot), resumes the cut session as a new linked session,
and plays the prompt. At the end the store verifies; every session's frames run without a
gap; what each kill lost is at most the fragment being built (one GOP) and the frames still
inside the encoder.

Real time on the simulated body (SystemClock: the test's CLOCK_MONOTONIC is the agent's, so
a kill's moment is on the evidence's clock). RECORDER_KILLS sets the number of kills (50)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import write_config
from media import frame_indices, manifest_of, segments_of
from recorder.evidence.verifier import verify_store
from shifts import ledger, of_type

KILLS = int(os.environ.get("RECORDER_KILLS", "50"))
SEED = 20261203
GOP_S, FRAME_S = 1.0, 1 / 30
ENCODER_LAG_S = 0.2  # frames inside the encoder and the interleaver when the kill lands


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
    print(f"\nlost per kill while recording: mean {sum(losses) / len(losses):.2f} s, max {max(losses):.2f} s "
          f"(bound {GOP_S + ENCODER_LAG_S + FRAME_S:.2f} s) over {len(losses)} cuts")
    assert max(losses) <= GOP_S + ENCODER_LAG_S + FRAME_S
    assert min(losses) >= 0
