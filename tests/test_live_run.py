"""`recorder run` without --simulate: the device's service, on the system clock, until SIGTERM or SIGINT."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import provisioned, recorder
from shifts import ledger, transitions

CONFIG = """
[video]
width = 320
height = 240
[capture]
camera = "synthetic"
microphone = "synthetic"
[prerecord]
seconds = 2
[storage]
require_data_partition = false  # the store is in tmp_path; tests/test_mounts.py covers the check
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_runs_until_a_signal_then_seals_everything(signum, tmp_path):
    config = tmp_path / "recorder.toml"
    config.write_text(CONFIG)
    store = tmp_path / "store"
    provisioned(store)
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock")  # no GPIO on a build machine
    process = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(config), "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    time.sleep(3)
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "camera: synthetic (capture.camera = synthetic)" in err, "which source, and why"
    assert transitions(store) == [("booting", "ready", "boot"), ("ready", "off", "shutdown")]
    assert ledger(store)[-1]["type"] == "agent_stop"
    assert ledger(store)[-1]["body"] == {"reason": f"signal:{signum.name}"}, "agent_stop says which signal stopped it"
    assert "VERIFIED" in recorder("verify", store).stdout


def test_without_gpio_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    result = recorder("run", "--store", tmp_path / "store", check=False, env=env)
    assert result.returncode == 2
    assert "no GPIO on this machine" in result.stderr and "--simulate" in result.stderr
    assert not (tmp_path / "store").exists(), "nothing is written before the pins are found"


def test_simulation_options_need_simulate(tmp_path):
    result = recorder("run", "--store", tmp_path / "store", "--script", "press record @1s", check=False)
    assert result.returncode == 2 and "need --simulate" in result.stderr
