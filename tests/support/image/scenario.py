"""What the image's boot tests put on the data disk and read back from it.

The agent runs on the simulated body under the device's unit (guest/simulated-body.conf) with
the test's configuration and script, which live on the data disk under test/ (the store is
store/ beside it); the test layer (guest/) adds the console reporter and the power off.
"""

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .rootfs import ImageRoot

GUEST = Path(__file__).resolve().parent / "guest"
STORE = "/store"  # on the data partition, mounted at /var/lib/recorder

# Small and slow enough for an emulated CPU (TCG, on a shared 2-core machine) to keep up in
# real time: 320x240 at 10 fps, so a GOP (one fragment) is 10 frames, and no OSD (Pillow
# drawing every frame is the heaviest part of the synthetic camera). No receiver (no gpsd, no
# namespaces in the sandbox for the simulated sky's own), no battery. The emulated machine
# can stop for seconds when the host is busy: a camera stall counts as a fault only after
# 30 s (these tests are about systemd, the disk and power cuts, not stalls).
TEST_CONFIG = """
[device]
officer_id = "officer-qemu"
store = "/var/lib/recorder/store"
[video]
width = 320
height = 240
fps = 10
bitrate = 300000
preset = "ultrafast"
[audio]
sample_rate = 16000
bitrate = 32000
[segments]
seconds = 4
[prerecord]
seconds = 1
[power]
supply = ""
[gnss]
receiver = "none"
simulated_sky = false
[osd]
enabled = false
[recovery]
stall_seconds = 30.0
"""

RECORD = "start @0.5s; end @60min"


def test_layer_script() -> str:
    """Shell (ROOT set) that adds the test's units and programs to the image."""
    g = shlex.quote(str(GUEST))
    return "\n".join([
        f"install -D -m 0644 -t \"$ROOT/etc/systemd/system/recorder.service.d\" {g}/simulated-body.conf",
        f"install -D -m 0755 -t \"$ROOT/usr/local/lib/recorder-test\" {g}/run-simulated {g}/console "
        f"{g}/poweroff-when-recorded",
        f"install -m 0644 -t \"$ROOT/etc/systemd/system\" {g}/recorder-test-console.service "
        f"{g}/recorder-test-poweroff.service",
        "systemctl --root=\"$ROOT\" --quiet enable recorder-test-console.service recorder-test-poweroff.service",
    ])


def agent_ids(image: ImageRoot) -> tuple[int, int]:
    """The recorder user's uid and gid in the image."""
    for layer in (image.upper, *image.lowers, image.base):
        passwd = layer / "etc" / "passwd"
        if passwd.exists():
            for line in passwd.read_text().splitlines():
                fields = line.split(":")
                if fields[0] == "recorder":
                    return int(fields[2]), int(fields[3])
    raise AssertionError("the image has no recorder user")


def make_data_disk(path: Path, image: ImageRoot, script: str, restart_script: str | None = None,
                   size: str = "1G") -> Path:
    """A fresh data partition (ext4, label recorder-data) holding the test's files, owned by
    the agent's user as the rest of the partition is."""
    seed = path.with_suffix(".seed")
    test = seed / "test"
    test.mkdir(parents=True)
    (test / "recorder.toml").write_text(TEST_CONFIG)
    (test / "script").write_text(script + "\n")
    if restart_script is not None:
        (test / "script.restart").write_text(restart_script + "\n")
    uid, gid = agent_ids(image)
    for item in (seed, test, *test.iterdir()):
        os.chown(item, uid, gid)
    subprocess.run(["truncate", "-s", size, str(path)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "recorder-data", "-d", str(seed), str(path)],
                   check=True, timeout=120)
    return path


def config_file(directory: Path) -> Path:
    path = directory / "recorder.toml"
    path.write_text(TEST_CONFIG)
    return path


@dataclass
class Run:
    """One agent_start's share of the ledger: what that run (one per boot, or more after restarts) did."""

    boot_id: str
    origin_us: int | None  # the camera's first frame (booting -> ready/resuming), guest monotonic
    entries: list


def runs(store: Path) -> list[Run]:
    """The ledger cut at each agent_start (one per run), signatures not checked (the verifier
    does that)."""
    lines = (store / "ledger" / "ledger.jsonl").read_text().splitlines()
    result: list[Run] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn line set aside by a repair
        if entry["type"] == "agent_start":
            result.append(Run(entry["body"].get("boot_id", ""), None, []))
        if not result:
            continue
        run = result[-1]
        run.entries.append(entry)
        if entry["type"] == "transition" and entry["body"]["from"] == "booting" and run.origin_us is None:
            run.origin_us = entry["at"]["mono_us"]
    return result
