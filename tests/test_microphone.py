"""Microphones on the real sound stack: PortAudio (sounddevice, pyaudio) -> ALSA pulse
plugin -> a private PulseAudio whose null sink we play speech into."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import require_tool
from media import decoded_audio, ledger_entries, manifest_of, segments_of
from recorder.capture.microphone import MICROPHONES
from recorder.capture.select import make_watermark
from recorder.capture.synthetic_sources import SyntheticCameraSource
from recorder.config import config_from_dict
from recorder.evidence.verifier import verify_store
from support.live_agent import record_live
from support.pulse import PulseServer, speech_wav, use_pulse_in_this_process

RATE = 48_000


@pytest.fixture
def pulse(monkeypatch):
    for tool in ("pulseaudio", "pactl", "pacat", "paplay", "espeak-ng"):
        require_tool(tool)
    server = PulseServer().start()
    use_pulse_in_this_process(server, monkeypatch)
    yield server
    server.stop()


def live_config(backend: str, codec: str = "aac"):
    return config_from_dict({
        "audio": {"codec": codec},
        "video": {"width": 320, "height": 240, "bitrate": 600_000},
        "segments": {"seconds": 30},
        "prerecord": {"seconds": 1, "audio": True},
        "capture": {"camera": "synthetic", "microphone": backend},
    })


def sources_for(backend: str):
    def make(config, device_id):
        camera = SyntheticCameraSource(config.video, make_watermark(config, device_id))
        return camera, MICROPHONES[backend](config.audio, "")
    return make


def wav_at_48k(path) -> np.ndarray:
    """The WAV as PulseAudio plays it into a 48 kHz sink: resampled by a proper (sinc) resampler."""
    resampler = av.AudioResampler(format="dbl", layout="mono", rate=RATE)
    with av.open(str(path)) as container:
        frames = [out for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    frames += resampler.resample(None)
    return np.concatenate([frame.to_ndarray()[0] for frame in frames])


def find(recorded: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """(position in recorded, normalised correlation) of the best match of reference."""
    n = len(recorded) + len(reference)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(reference, size)), size)
    corr = corr[: len(recorded) - len(reference) + 1]
    power = np.concatenate([[0.0], np.cumsum(recorded**2)])
    window_energy = power[len(reference):] - power[: len(power) - len(reference)]  # O(n), not a convolution
    energy = np.sqrt(np.maximum(window_energy, 0) * np.sum(reference**2))
    score = corr / np.maximum(energy, 1e-12)
    best = int(np.argmax(score))
    return best, float(score[best])


@pytest.mark.parametrize("backend, codec", [("sounddevice", "aac"), ("pyaudio", "aac"), ("sounddevice", "opus")])
def test_speech_played_into_the_sink_is_found_in_the_recording(pulse, tmp_path, backend, codec):
    speech = speech_wav(tmp_path)
    reference = wav_at_48k(speech)

    def play(run):
        run.marks["play"] = run.clock.monotonic_ns()
        pulse.play(speech)

    store = tmp_path / "store"
    run = record_live(live_config(backend, codec), store, sources_for(backend), record_s=len(reference) / RATE + 1.5,
                      during=play)
    assert run.error is None
    mic = run.body.microphone.counters
    assert mic["overruns"] == 0 and mic["gap_samples"] == 0 and mic["dropped_samples"] == 0
    assert verify_store(store).ok

    [segment] = segments_of(store)
    samples, first = decoded_audio(segment)
    position, score = find(samples.astype(np.float64), reference)
    assert score > 0.9, f"speech not found (best correlation {score:.2f})"
    # Where the speech sits on the monotonic clock: after paplay started, within its latency.
    found_ns = manifest_of(segment)["start"]["mono_us"] * 1000 + (first + position) * 1_000_000_000 // RATE
    delay_ms = (found_ns - run.marks["play"]) / 1e6
    assert 0 <= delay_ms < 500, f"speech placed {delay_ms:.0f} ms after it was played"


@pytest.mark.parametrize("how", ["kill", "remove_sink"])
@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_losing_the_microphone_mid_recording_is_a_clear_error_and_the_recording_verifies(
        pulse, tmp_path, backend, how):
    # In a child process: after a lost server PortAudio may never terminate again, and the
    # next test's PortAudio re-initialisation would hang in this one.
    store, result = tmp_path / "store", tmp_path / "result.json"
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "support" / "mic_loss_child.py"), backend, str(store), str(result)],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, **pulse.env),
    )
    try:
        assert child.stdout.readline().strip() == "lose-it-now"
        lost_ns = time.monotonic_ns()  # CLOCK_MONOTONIC: the child's SystemClock reads the same clock
        getattr(pulse, how)()  # the sound server dies, or the sink and its monitor vanish
        child.wait(timeout=60)
    finally:
        child.kill()
    outcome = json.loads(result.read_text())
    error = outcome["error"]
    assert error is not None
    # The stream ends by itself (sounddevice's finished callback) or goes silent (watchdog).
    assert error.startswith(f"capture-failed: {backend}: ") and "input device 'default'" in error
    assert "(device lost?)" in error and "the interruption is in the ledger" in error
    assert outcome["exit_code"] == 75  # a fault: the supervisor restarts the agent
    # Noticed within the loss timeout (1 s) and a step, not at the end of the recording.
    noticed_s = (outcome["end_mono_us"] * 1000 - lost_ns) / 1e9
    assert noticed_s < 2.0
    assert outcome["cause"] == "fault"  # the session's stop, with an interruption entry after it
    (interruption,) = [e["body"] for e in ledger_entries(store) if e["type"] == "interruption"]
    assert interruption["cause"] == "fault" and interruption["detail"].startswith(f"capture-failed: {backend}: ")
    report = verify_store(store)
    assert report.ok, report.problems
    # The audio captured before the loss is in the sealed segment, up to the loss.
    [segment] = segments_of(store)
    samples, first = decoded_audio(segment)
    start_us = manifest_of(segment)["start"]["mono_us"]
    audio_end_ns = start_us * 1000 + (first + len(samples)) * 1_000_000_000 // RATE
    assert abs(audio_end_ns - lost_ns) < 300_000_000


def test_auto_picks_the_real_microphone_next_to_a_named_synthetic_camera(pulse, tmp_path):
    """Selection on a machine with a sound input but no camera: a live body, and it says so."""
    from recorder.capture.select import open_body
    from recorder.clock import SystemClock

    config = config_from_dict({"video": {"width": 320, "height": 240}, "capture": {"camera": "synthetic"}})
    with open_body(config, SystemClock(), [], "rec-test") as body:
        assert type(body).__name__ == "LiveBody"
        assert body.description.startswith("camera: synthetic (capture.camera = synthetic)")
        assert "microphone: sounddevice (sounddevice input found)" in body.description
        body.advance_to(body.origin_ns + 1_000_000_000)
    assert body.microphone.counters["samples_captured"] > 0


def test_a_lost_microphone_is_brought_back_by_the_supervised_restart(tmp_path):
    """The sound server dies mid-recording: the run seals, writes the interruption and exits 75;
    the supervisor (recorder/supervisor.py, as `recorder run` uses it) starts a fresh process
    once the server is back, which resumes the cut session: its microphone records again, and
    the prompt naming the cause, played through PortAudio into the same sound server, is in
    that recording."""
    from recorder.config.settings import RecoveryConfig
    from recorder.supervisor import Supervisor
    from recorder.voice.prompts import prompt_audio
    from recorder.voice.resample import resample
    from shifts import of_type
    from support.audio_match import locate_onset

    for tool in ("pulseaudio", "pactl", "pacat"):
        require_tool(tool)
    store = tmp_path / "store"
    servers = [PulseServer().start()]
    child_script = Path(__file__).parent / "support" / "mic_supervised_child.py"

    def spawn(attempt: int) -> int:
        if attempt > 0 and servers[-1].server.poll() is not None:
            servers.append(PulseServer().start())  # the microphone is back (plugged in again)
        mode = "lose" if attempt == 0 else "after"
        child = subprocess.Popen([sys.executable, str(child_script), "sounddevice", str(store), mode],
                                 stdout=subprocess.PIPE, text=True, env=servers[-1].env)
        try:
            if mode == "lose":
                assert child.stdout.readline().strip() == "lose-it-now"
                servers[-1].kill()
            return child.wait(timeout=120)
        finally:
            child.kill()

    supervisor = Supervisor(spawn, RecoveryConfig(restart_backoff_seconds=0.0, restart_attempts=2),
                            store / "ledger" / "ledger.jsonl", lambda seconds: None,
                            lambda *args: pytest.fail(f"gave up: {args}"))
    try:
        code = supervisor.run()
    finally:
        for server in servers:
            server.stop()
    assert code == 0 and [run.code for run in supervisor.runs] == [75, 0]
    entries = ledger_entries(store)
    (interruption,) = of_type(entries, "interruption")
    assert interruption["body"]["cause"] == "fault"
    assert interruption["body"]["detail"].startswith("capture-failed: sounddevice: ")
    first, second = of_type(entries, "session_start")
    assert second["body"]["resumes"]["session_id"] == first["body"]["session_id"]
    report = verify_store(store)
    assert report.ok, report.summary_text()
    # The resumed session recorded the microphone again, the prompt in it where it was played.
    [segment] = [s for s in segments_of(store) if s.parent.name == second["body"]["session_id"]]
    samples, skip = decoded_audio(segment)
    assert len(samples) >= 9 * RATE
    first_ns = manifest_of(segment)["start"]["mono_us"] * 1000 + skip * 1_000_000_000 // RATE
    prompt = prompt_audio("capture", "en")
    at_ns, score = locate_onset(samples, first_ns, RATE, resample(prompt.samples, prompt.rate, RATE),
                                second["at"]["mono_us"] * 1000, after_s=2.0)
    delay_ms = (at_ns - second["at"]["mono_us"] * 1000) / 1e6
    print(f"\ncapture prompt in the resumed recording: correlation {score:.2f}, {delay_ms:.0f} ms after the resume")
    assert score > 0.5 and 0 <= delay_ms < 1000
