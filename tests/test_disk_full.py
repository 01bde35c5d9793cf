"""A disk that fills up mid-shift, on a real filesystem (a small tmpfs holding the whole store):
another writer takes every free byte while the officer records. The muxer meets ENOSPC
(the storage monitor's floor is not reached first: the filler is faster than its looks);
what is on disk stays decodable and is sealed, the session ends with cause `storage` and an
interruption entry; the agent does not crash. When the space comes back, recording resumes
as a new session linked to the cut one. Nothing recorded is overwritten or dropped to make
room: the agent's only room is its own ballast of zeros."""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import require_root_unshare, write_config
from media import frame_indices, manifest_of, segments_of
from recorder.evidence.verifier import verify_store
from shifts import ledger, of_type, transitions

FS_SIZE = "16m"  # the store's filesystem: the ballast (4 MiB), the reserve (3 MiB), ~1 min of test video
SCRIPT = "press record @1s; end @45s"
FILL_AT_S, FREE_AT_S = 6.0, 20.0

IN_NAMESPACE = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys
    from pathlib import Path

    fs, out, config_path, size, script, fill_at, free_at = (Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3],
                                                          sys.argv[4], sys.argv[5], float(sys.argv[6]),
                                                          float(sys.argv[7]))
    fs.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(fs)], check=True)
    store, filler = fs / "store", fs / "filler"

    def fill():
        # Another writer takes every byte it can, big writes then small ones.
        with open(filler, "wb", buffering=0) as f:
            for chunk in (1 << 16, 1 << 12, 1 << 9):
                try:
                    while True:
                        f.write(b"\\xff" * chunk)
                except OSError:
                    pass
        return os.statvfs(fs).f_bavail * os.statvfs(fs).f_frsize

    class DiskHog:
        def __init__(self, origin):
            self.steps = [(origin + round(fill_at * 1e9), "fill"), (origin + round(free_at * 1e9), "free")]
            self.left = None
        def next_deadline_ns(self):
            return self.steps[0][0] if self.steps else None
        def tick(self, now):
            while self.steps and self.steps[0][0] <= now:
                _, what = self.steps.pop(0)
                if what == "fill":
                    self.left = fill()
                else:
                    filler.unlink()

    try:
        from recorder.clock import SimulatedClock
        from recorder.config import load_config
        from recorder.sim.agent import SimulatedAgent
        from recorder.sim.fingers import scripted
        from recorder.sim.script import parse_timeline

        agent = SimulatedAgent(load_config(Path(config_path)), store, SimulatedClock())
        hog = {}

        def drive(agent):
            players, end = scripted(parse_timeline(script), in_step=True)(agent)
            hog["it"] = DiskHog(agent.body.origin_ns)
            return [hog["it"], *players], end

        error = None
        try:
            agent.run(drive)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        origin = agent.body.origin_ns
        pins = {name: [((t - origin) / 1e9, v) for t, v in agent.pin(name).values(since_ns=origin)]
                for name in ("red", "amber")}
        result = {"error": error, "pins": pins, "left_by_filler": hog["it"].left}
    finally:
        shutil.copytree(store, out, symlinks=True)  # the tmpfs goes with the namespace
    print(json.dumps(result))
    """
)

CONFIG = """
[storage]
reserve_mb = 3
resume_minutes = 1
warn_minutes = 1
"""


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    unshare = require_root_unshare()
    tmp = tmp_path_factory.mktemp("diskfull")
    config = write_config(tmp, extra=CONFIG)
    out = tmp / "after"
    result = subprocess.run(
        [unshare, "-m", sys.executable, "-c", IN_NAMESPACE, str(tmp / "fs"), str(out), str(config), FS_SIZE,
         SCRIPT, str(FILL_AT_S), str(FREE_AT_S)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), out, result.stderr


def seconds(store, entry) -> float:
    boot = next(e for e in ledger(store) if e["type"] == "transition" and e["body"]["cause"] == "boot")
    return (entry["at"]["mono_us"] - boot["at"]["mono_us"]) / 1e6


def test_the_agent_lives_through_a_full_disk(filled):
    outcome, store, stderr = filled
    assert outcome["error"] is None, outcome["error"]
    assert "Traceback" not in stderr
    assert outcome["left_by_filler"] < 4096, "the filler left the disk full"
    assert transitions(store) == [
        ("booting", "ready", "boot"),
        ("ready", "recording", "button:record"),
        ("recording", "interrupted", "storage"),
        ("interrupted", "resuming", "resume"),
        ("resuming", "stopping", "shutdown"),
        ("stopping", "ready", "session-closed"),
        ("ready", "off", "shutdown"),
    ]
    cut = next(e for e in of_type(ledger(store), "transition") if e["body"]["to"] == "interrupted")
    assert FILL_AT_S <= seconds(store, cut) < FILL_AT_S + 3, "acted on when the disk filled, not at the end"
    assert cut["body"]["detail"].startswith("storage-full: "), "the muxer met ENOSPC before the floor"
    assert "No space left on device" in cut["body"]["detail"]
    resumed = next(e for e in of_type(ledger(store), "transition") if e["body"]["to"] == "resuming")
    assert FREE_AT_S <= seconds(store, resumed) < FREE_AT_S + 6, "resumed at the monitor's next look"


def test_the_cut_session_is_sealed_with_its_cause_and_the_resume_names_it(filled):
    _, store, _ = filled
    entries = ledger(store)
    first, second = of_type(entries, "session_start")
    stop = of_type(entries, "session_stop")[0]
    assert stop["body"]["session_id"] == first["body"]["session_id"] and stop["body"]["cause"] == "storage"
    (interruption,) = of_type(entries, "interruption")
    assert interruption["body"]["cause"] == "storage" and interruption["body"]["session_id"] == first["body"]["session_id"]
    assert entries.index(interruption) > entries.index(stop)
    resumes = second["body"]["resumes"]
    assert resumes["session_id"] == first["body"]["session_id"]
    assert resumes["interruption"].split(":")[0] == str(interruption["index"])


def test_what_was_recorded_before_the_disk_filled_is_sealed_and_decodes(filled):
    """Every file is sealed (no .partial left), the store verifies, and the frames of the cut
    session run without a gap up to the fragment the full disk tore (at most one GOP)."""
    _, store, _ = filled
    report = verify_store(store)
    assert report.ok, report.summary_text()
    assert not list(store.glob("media/*/*.partial"))
    sessions = {}
    for segment in segments_of(store):
        sessions.setdefault(segment.parent.name, []).append(segment)
    assert len(sessions) == 2
    first_id = of_type(ledger(store), "session_start")[0]["body"]["session_id"]
    indices = [i for segment in sessions[first_id] for i in frame_indices(segment)]
    assert indices == list(range(indices[0], indices[-1] + 1)), "contiguous up to the failure"
    last = manifest_of(sessions[first_id][-1])
    boot = next(e for e in ledger(store) if e["type"] == "transition" and e["body"]["cause"] == "boot")
    filled_us = boot["at"]["mono_us"] + FILL_AT_S * 1e6
    lost_s = (filled_us - last["end"]["mono_us"]) / 1e6
    print(f"recorded before the disk filled but not sealed: {lost_s:.2f} s")
    assert lost_s <= 1.0 + 0.1, f"{lost_s:.2f} s before the disk filled not sealed: more than the torn GOP"
    resumed = [i for segment in sessions[next(k for k in sessions if k != first_id)] for i in frame_indices(segment)]
    assert resumed == list(range(resumed[0], resumed[-1] + 1))


def test_nothing_recorded_was_given_up_for_room(filled):
    """The ballast is the only file emptied: every sealed segment is whole (the verifier's
    hashes), and the room sealing took came from the ballast, held again after the resume."""
    _, store, _ = filled
    ballast = store / "media" / ".seal-ballast"
    assert ballast.stat().st_size == 4 * 1024 * 1024, "held again once the space came back"


def test_the_lights_show_the_interruption(filled):
    outcome, store, _ = filled
    cut = next(e for e in of_type(ledger(store), "transition") if e["body"]["to"] == "interrupted")
    at = seconds(store, cut)
    amber = outcome["pins"]["amber"]
    on = [t for t, level in amber if level and t >= at]
    assert on and on[0] - at <= 0.025, f"amber lit {on[:1]} s, interruption at {at} s: within one loop step"


def test_the_resume_after_space_came_back_plays_the_storage_prompt(filled):
    """Found by cross-correlation in the resumed session's sealed audio, at its start."""
    from media import decoded_audio
    from recorder.voice.prompts import prompt_audio
    from recorder.voice.resample import resample
    from support.audio_match import locate_onset

    _, store, _ = filled
    second = of_type(ledger(store), "session_start")[1]
    segment = store / "media" / second["body"]["session_id"] / "00001.mp4"
    samples, skip = decoded_audio(segment)
    first_ns = manifest_of(segment)["start"]["mono_us"] * 1000 + skip * 1_000_000_000 // 48_000
    prompt = prompt_audio("storage", "zh-CN")
    # its first half second: the prompt outlasts this 4 s segment
    at_ns, score = locate_onset(samples, first_ns, 48_000, resample(prompt.samples, prompt.rate, 48_000),
                                second["at"]["mono_us"] * 1000)
    delay_ms = (at_ns - second["at"]["mono_us"] * 1000) / 1e6
    print(f"\nstorage prompt: correlation {score:.2f}, {delay_ms:+.1f} ms after the resume")
    assert score > 0.3 and -1 < delay_ms < 50  # within a sample of the resume on the simulated body
