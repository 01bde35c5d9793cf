"""Capture settings and source selection: which source, and why, said clearly."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import provisioned, require_root_unshare
from recorder.capture.select import choose_camera
from recorder.sim.body import open_simulated_body
from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.errors import CaptureError, ConfigError


@pytest.mark.parametrize(
    "data, name",
    [
        ({"capture": {"camera": "webcam"}}, "capture.camera"),
        ({"capture": {"microphone": "alsa"}}, "capture.microphone"),
        ({"capture": {"camera": "synthetic", "camera_device": "/dev/video0"}}, "capture.camera_device"),
        ({"capture": {"microphone": "synthetic", "microphone_device": "hw:1"}}, "capture.microphone_device"),
        ({"capture": {"microphone": "pyaudio"}, "audio": {"enabled": False}}, "capture.microphone"),
        ({"capture": {"camera_device": 0}}, "capture.camera_device"),
        ({"capture": {"lens": "wide"}}, "capture.lens"),
        ({"osd": {"enabled": "yes"}}, "osd.enabled"),
        ({"osd": {"position": "top"}}, "osd.position"),
    ],
)
def test_invalid_capture_settings_name_the_setting(data, name):
    with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
        config_from_dict(data)


def test_defaults_are_auto_with_osd():
    config = config_from_dict({})
    assert (config.capture.camera, config.capture.microphone) == ("auto", "auto")
    assert config.osd.enabled is True


def no_sound_server_env() -> dict:
    """An environment where PortAudio finds no input: no PulseAudio reachable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "XDG_RUNTIME"))}
    env["PULSE_SERVER"] = "unix:/nonexistent/pulse/native"
    return env


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=no_sound_server_env(), timeout=60)


# A machine without camera hardware or software, whatever this one has: a private mount
# namespace whose /dev holds only the nodes Python needs (no /dev/video*), and picamera2
# unimportable. Needs root (CI runs as root).
WITHOUT_CAMERAS = """
set -e
dev=$(mktemp -d)
for node in null zero random urandom; do touch "$dev/$node"; mount --bind "/dev/$node" "$dev/$node"; done
mount --rbind "$dev" /dev
exec "$0" -c "import sys; sys.modules['picamera2'] = None; exec(sys.argv[1])" "$1"
"""


def run_python_without_cameras(code: str) -> subprocess.CompletedProcess:
    unshare = require_root_unshare()
    return subprocess.run([unshare, "-m", "sh", "-c", WITHOUT_CAMERAS, sys.executable, textwrap.dedent(code)],
                          capture_output=True, text=True, env=no_sound_server_env(), timeout=60)


def test_a_live_device_without_a_camera_does_not_record_a_test_pattern(tmp_path):
    """`recorder run` on a device with no camera and no microphone, capture = auto: exit 2,
    one clear line, and nothing recorded — never synthetic pictures or noise as evidence."""
    store = tmp_path / "store"
    config = tmp_path / "recorder.toml"  # the store is in tmp_path, not on a data partition
    config.write_text("[storage]\nrequire_data_partition = false\n")
    provisioned(store)
    result = run_python_without_cameras(f"""
        import os, sys
        os.environ["GPIOZERO_PIN_FACTORY"] = "mock"
        from recorder.cli import main
        main(["run", "--config", {str(config)!r}, "--store", {str(store)!r}])
    """)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("recorder: error: capture.camera = auto found no camera (picamera2 not installed")
    assert "no /dev/video* camera" in line and "capture.camera = synthetic" in line
    assert not list(store.glob("media/*/*")), "nothing recorded"
    entries = [json.loads(raw) for raw in (store / "ledger" / "ledger.jsonl").read_text().splitlines()]
    assert [e["type"] for e in entries] == ["device_init", "agent_start", "agent_stop"]
    assert entries[1]["body"]["capture"] is None


def test_auto_without_a_microphone_is_an_error_too():
    result = run_python("""
        from recorder.capture.select import choose_microphone
        from recorder.config import config_from_dict
        from recorder.errors import CaptureError
        try:
            choose_microphone(config_from_dict({}))
        except CaptureError as exc:
            print("ERROR", exc)
    """)
    assert result.returncode == 0, result.stderr
    assert "ERROR capture.microphone = auto found no microphone (sounddevice finds no input device" in result.stdout
    assert "audio.enabled = false" in result.stdout


def test_explicit_picamera2_without_picamera2_is_a_clear_error():
    result = run_python_without_cameras("""
        from recorder.capture.select import open_body
        from recorder.clock import SimulatedClock
        from recorder.config import config_from_dict
        from recorder.errors import CaptureError
        try:
            open_body(config_from_dict({"capture": {"camera": "picamera2"}}), SimulatedClock(), [], "rec-test")
        except CaptureError as exc:
            print("ERROR", exc)
    """)
    assert result.returncode == 0, result.stderr
    assert "ERROR capture.camera = picamera2 but picamera2 not installed" in result.stdout


@pytest.mark.parametrize("device", ["/dev/video99", "missing-file.mp4"])
def test_explicit_opencv_device_that_does_not_exist_is_a_clear_error(device):
    config = config_from_dict({"capture": {"camera": "opencv", "camera_device": device}})
    with pytest.raises(CaptureError, match=rf"capture\.camera_device = '{device}' does not exist"):
        choose_camera(config)


def test_a_named_microphone_that_is_missing_is_an_error_even_with_auto():
    result = run_python("""
        from recorder.capture.select import choose_microphone
        from recorder.config import config_from_dict
        from recorder.errors import CaptureError
        try:
            choose_microphone(config_from_dict({"capture": {"microphone_device": "USB Mic"}}))
        except CaptureError as exc:
            print("ERROR", exc)
    """)
    assert result.returncode == 0, result.stderr
    assert "ERROR capture.microphone_device = 'USB Mic' but sounddevice finds no input device" in result.stdout


@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_explicit_microphone_without_an_input_device_is_a_clear_error(backend):
    result = run_python(f"""
        from recorder.capture.select import choose_microphone
        from recorder.config import config_from_dict
        from recorder.errors import CaptureError
        try:
            choose_microphone(config_from_dict({{"capture": {{"microphone": "{backend}"}}}}))
        except CaptureError as exc:
            print("ERROR", exc)
    """)
    assert result.returncode == 0, result.stderr
    assert f"ERROR capture.microphone = {backend} but {backend} finds no input device" in result.stdout


def test_simulate_forces_the_simulated_body_whatever_is_configured():
    config = config_from_dict({"capture": {"camera": "picamera2", "microphone": "pyaudio"}})
    body = open_simulated_body(config, SimulatedClock(), [], "rec-test")
    assert type(body).__name__ == "SimulatedBody"
    assert body.description.startswith("camera: synthetic (simulated body)")
