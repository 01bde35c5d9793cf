"""Host side: record through the picamera2 source inside the test chroot.

    run = record_virtual(chroot_root, tmp, width=640, height=360, record_s=6)
    run.store, run.report, run.returncode, run.stderr
    chroot_overlays(chroot_root, tmp, 640, 360, device_id, officer_id, walls_ns)  # OSD references

The virtual camera plays `images` JPEG frames (index as framecode, optional white
flash images) from the run directory; the recorder runs in the chroot on the
current work tree (bind-mounted), and writes its store into the run directory,
where host tests verify and decode it.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recorder.capture.osd import Overlay

from . import chroot

DRIVE = "/src/tests/support/picam/drive.py"

CONFIG = """
[device]
officer_id = "{officer}"
[video]
width = {width}
height = {height}
fps = {fps}
bitrate = {bitrate}
preset = "{preset}"
[segments]
seconds = {segment_s}
[prerecord]
seconds = {prerecord_s}
audio = true
[audio]
enabled = {audio}
"""


@dataclass
class VirtualRun:
    directory: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def store(self) -> Path:
        return self.directory / "store"

    @property
    def report(self) -> dict:
        return json.loads((self.directory / "report.json").read_text())


def prepare_frames(root: Path, directory: Path, images: int, width: int, height: int, flash=()):
    """The virtual camera's frames in directory/frames (JPEG, framecode = image index)."""
    directory.mkdir(parents=True, exist_ok=True)
    command = ["python3", DRIVE, "frames", "/out/frames", str(images), str(width), str(height)]
    for index in flash:
        command += ["--flash", str(index)]
    made = chroot.run_in_chroot(root, command, directory, capture_output=True)
    if made.returncode != 0:
        raise RuntimeError(f"making frames failed: {made.stderr}")


def record_virtual(root: Path, directory: Path, *, width=640, height=360, fps=30, images=64,
                   flash=(), prerecord_s=1.5, record_s=6.0, segment_s=2, lose_after=None,
                   pulse_dir: Path | None = None, click_at_frame=(), bitrate=1_000_000,
                   preset="ultrafast", officer="officer-7", timeout=600) -> VirtualRun:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    audio = pulse_dir is not None
    (directory / "recorder.toml").write_text(CONFIG.format(
        officer=officer, width=width, height=height, fps=fps, bitrate=bitrate, preset=preset,
        segment_s=segment_s, prerecord_s=max(1, int(prerecord_s)), audio=str(audio).lower(),
    ))
    (directory / "virtual.yaml").write_text(chroot.virtual_yaml(width, height, fps, "/out/frames"))
    if not (directory / "frames").exists():
        prepare_frames(root, directory, images, width, height, flash)
    command = ["python3", DRIVE, "record", "--config", "/out/recorder.toml", "--store", "/out/store",
               "--report", "/out/report.json", "--prerecord", str(prerecord_s), "--record", str(record_s)]
    if lose_after is not None:
        command += ["--lose-after", str(lose_after)]
    env = {"TZ": "UTC"}
    if audio:
        command.append("--microphone")
        env["PULSE_SERVER"] = "unix:/pulse/native"
    for frame in click_at_frame:
        command += ["--click-at-frame", str(frame)]
    result = chroot.run_in_chroot(root, command, directory, virtual_yaml=directory / "virtual.yaml",
                                  env=env, pulse_dir=pulse_dir, timeout=timeout, capture_output=True)
    return VirtualRun(directory, result.returncode, result.stdout, result.stderr)


def chroot_overlays(root: Path, directory: Path, width: int, height: int, device_id: str, officer_id: str,
                    walls_ns: list[int]) -> list[Overlay]:
    """The OSD overlays the chroot's own Pillow/FreeType renders (in UTC, as it records) for
    these wall times: the reference for frames it burned (another build's glyphs differ)."""
    name = f"overlays-{len(list(directory.glob('overlays-*.npz')))}.npz"
    command = ["python3", DRIVE, "overlays", f"/out/{name}", str(width), str(height), device_id, officer_id,
               *map(str, walls_ns)]
    result = chroot.run_in_chroot(root, command, directory, env={"TZ": "UTC"}, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"rendering overlays failed: {result.stderr}")
    with np.load(directory / name) as data:
        return [Overlay(int(data[f"{i}_top"]), int(data[f"{i}_left"]), data[f"{i}_mask"], data[f"{i}_luma"],
                        None, None, tuple(map(tuple, data[f"{i}_rows"].tolist())))
                for i in range(len(walls_ns))]


def chroot_or_skip() -> Path:
    """The chroot for a test: built on first use. Missing in CI is a failure, locally
    (not root, no debootstrap) a skip, like conftest.require_tool."""
    import pytest

    try:
        return chroot.ensure_chroot()
    except chroot.ChrootUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the picamera2 test chroot is required in CI: {exc}")
        pytest.skip(f"picamera2 test chroot unavailable: {exc}")
