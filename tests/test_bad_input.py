"""Bad input gets one clear line, exit code 2, and leaves sealed evidence untouched."""

import hashlib
import subprocess
import sys

import pytest

from conftest import record, recorder, require_root_unshare


def snapshot(store) -> dict:
    return {
        p.relative_to(store): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(store.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def sealed_store(tmp_path):
    return record(tmp_path, start_at=1, duration=2)


BAD_CONFIGS = {
    "not toml": ("[video\nwidth = 1", "not valid TOML"),
    "unknown key": ("[video]\nfsp = 30\n", "unknown setting video.fsp"),
    "unknown section": ("[vidoe]\nfps = 30\n", "unknown section [vidoe]"),
    "wrong type": ("[video]\nfps = \"thirty\"\n", "video.fps must be a whole number"),
    "out of range": ("[prerecord]\nseconds = 500\n", "prerecord.seconds = 500 is out of range"),
    "odd size": ("[video]\nwidth = 321\n", "must be even"),
}


@pytest.mark.parametrize("name", BAD_CONFIGS)
def test_malformed_config_is_one_clear_line_and_touches_nothing(name, sealed_store, tmp_path):
    text, expected = BAD_CONFIGS[name]
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    before = snapshot(sealed_store)
    result = recorder("run", "--simulate", "--fast", "--config", bad, "--store", sealed_store,
                      "--duration", "1", check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert snapshot(sealed_store) == before


def test_missing_config_file(tmp_path):
    result = recorder("run", "--simulate", "--config", tmp_path / "nope.toml", check=False)
    assert result.returncode == 2 and "not found" in result.stderr


def test_store_path_through_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = recorder("run", "--simulate", "--fast", "--store", blocker / "store", check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "not usable" in result.stderr


def test_read_only_store_is_refused_and_left_as_it_was(sealed_store):
    """A store on a read-only filesystem (root ignores permission bits, so mount one)."""
    unshare = require_root_unshare()
    before = snapshot(sealed_store)
    script = (
        f"mount --bind {sealed_store} {sealed_store} && mount -o remount,bind,ro {sealed_store} && "
        f"exec {sys.executable} -m recorder run --simulate --fast --store {sealed_store} --duration 1"
    )
    result = subprocess.run([unshare, "-m", "sh", "-c", script], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "not writable" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert snapshot(sealed_store) == before


def test_bad_arguments_exit_2(tmp_path):
    result = recorder("run", "--simulate", "--fast", "--store", tmp_path / "s", "--duration", "0",
                      check=False)
    assert result.returncode == 2 and "--duration" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


REFUSED_COMMAND_LINES = {  # what argparse refuses: one line naming it, no usage dump, exit 2
    "no command": ([], "required: COMMAND"),
    "unknown command": (["record"], "invalid choice: 'record'"),
    "unknown option": (["--bogus", "status"], "unrecognized arguments: --bogus"),
    "unknown option after the command": (["verify", "--bogus", "STORE"], "unrecognized arguments: --bogus"),
    "missing option value": (["run", "--simulate", "--duration"], "--duration: expected one argument"),
    "not a number": (["run", "--simulate", "--duration", "long"], "--duration: invalid float value"),
    "bad log level": (["verify", "--log-level", "loud", "STORE"], "--log-level: invalid choice"),
    "two positionals": (["verify", "STORE", "OTHER"], "unrecognized arguments: OTHER"),
    "option of another command": (["run", "--json"], "unrecognized arguments: --json"),
}


@pytest.mark.parametrize("name", REFUSED_COMMAND_LINES)
def test_a_refused_command_line_is_one_line_exit_2(name, tmp_path):
    args, expected = REFUSED_COMMAND_LINES[name]
    args = [str(tmp_path / "store") if arg == "STORE" else arg for arg in args]
    result = recorder(*args, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recorder: error: ") and expected in lines[0], result.stderr
    assert "--help" in lines[0], "it says where to look"
    assert result.stdout == ""
    assert not (tmp_path / "store").exists()


def test_run_without_simulate_says_why(tmp_path):
    result = recorder("run", "--store", tmp_path / "s", check=False)
    assert result.returncode == 2 and "--simulate" in result.stderr
