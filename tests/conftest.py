"""Shared fixtures: real recordings made by the real CLI on the simulated body."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

# Small, fast recordings: 3 s pre-record, 4 s segments, 320x240 so decoding is quick.
SMALL_CONFIG = """
[video]
width = 320
height = 240
bitrate = 600000
[segments]
seconds = 4
[prerecord]
seconds = 3
audio = {prerecord_audio}
[gnss]
receiver = "none"
"""


def require_tool(name: str) -> str:
    """A real component the tests need: missing in CI is a failure, locally a skip."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (make test installs it)")
        pytest.skip(f"{name} not installed")
    return path


def require_root_unshare() -> str:
    """Mounting a read-only or tiny filesystem needs root and unshare (CI has both)."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        if IN_CI:
            pytest.fail("CI runs as root with unshare available")
        pytest.skip("needs root and unshare to mount a test filesystem")
    return unshare


def require_writeback_fs() -> None:
    """The write-back FUSE filesystem of the power-cut tests (support/writeback_fs.py):
    root, /dev/fuse, fusermount3, mfusepy and libfuse3 (make test installs them)."""
    require_root_unshare()
    require_tool("fusermount3")
    from support.writeback_fs import missing_requirement

    reason = missing_requirement()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason}: required in CI (make test installs it)")
        pytest.skip(reason)


def recorder(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "recorder", *map(str, args)],
        capture_output=True,
        text=True,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"recorder {args} exited {result.returncode}: {result.stderr}")
    return result


def write_config(directory: Path, prerecord_audio: bool = True, extra: str = "") -> Path:
    path = directory / "recorder.toml"
    path.write_text(SMALL_CONFIG.format(prerecord_audio=str(prerecord_audio).lower()) + extra)
    return path


def record(tmp: Path, start_at=5, duration=10, prerecord_audio=True, extra="") -> Path:
    store = tmp / "store"
    config = write_config(tmp, prerecord_audio, extra)
    recorder("run", "--simulate", "--fast", "--config", config, "--store", store,
             "--start-at", start_at, "--duration", duration)
    return store


@pytest.fixture(scope="session")
def recorded_store(tmp_path_factory) -> Path:
    """Launch, 5 s of pre-record filling, record 10 s: 4 segments with pre-record audio."""
    return record(tmp_path_factory.mktemp("rec"))


@pytest.fixture(scope="session")
def private_store(tmp_path_factory) -> Path:
    """The default privacy setting: no audio kept in the pre-record."""
    return record(tmp_path_factory.mktemp("priv"), prerecord_audio=False)


def copy_device(store: Path, target: Path) -> Path:
    """A copy of a store the agent will go on recording into: the store and, beside it, the
    device's keys (a copy of the store alone carries no private key: it cannot be signed into)."""
    from recorder.seal.identity import identity_dir_for

    shutil.copytree(store, target)
    if identity_dir_for(store).exists():
        shutil.copytree(identity_dir_for(store), identity_dir_for(target))
    return target


def device_identity(store: Path):
    """The signing identity a store was recorded with (the key beside it, or an old store's own)."""
    from recorder.seal.identity import DeviceIdentity, current_generation, identity_dir_for

    if (store / "device" / "device.key").exists():
        return DeviceIdentity.load(store / "device")
    return DeviceIdentity.load(current_generation(identity_dir_for(store)))


def provisioned(store: Path):
    """A device's keys beside `store` (what `recorder provision` leaves, less the TLS side):
    the device's own run records only with an identity."""
    from recorder.seal.identity import DeviceIdentity, identity_dir_for, new_generation

    return DeviceIdentity.create(new_generation(identity_dir_for(store)))
