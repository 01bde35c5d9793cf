"""The device records only onto its data partition (store/mounts.py): checked on real
filesystems mounted in a private mount namespace — the root filesystem, tmpfs, a read-only
ext4 and a writable ext4 on a loop device — and through the real `recorder run`."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import require_root_unshare
from recorder.store.mounts import data_partition_problem, mount_of, parse_mountinfo

MOUNTINFO = textwrap.dedent("""\
    22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/root rw
    30 22 179:2 / /var/lib/recorder rw,noatime shared:9 - ext4 /dev/mmcblk0p3 rw,data=ordered
    31 22 0:25 / /tmp rw,nosuid shared:10 - tmpfs tmpfs rw,size=65536k
    32 22 179:1 / /boot/firmware rw,relatime shared:11 - vfat /dev/mmcblk0p1 rw,fmask=0022
    33 22 179:4 / /mnt/old\\040store ro,relatime shared:12 - ext4 /dev/sda1 ro
    """)


def test_the_layout_of_a_device_as_mountinfo_writes_it():
    assert mount_of("/var/lib/recorder/store", MOUNTINFO).source == "/dev/mmcblk0p3"
    assert data_partition_problem("/var/lib/recorder/store", MOUNTINFO) is None
    assert "the root filesystem" in data_partition_problem("/home/pi/store", MOUNTINFO)
    assert "memory" in data_partition_problem("/tmp/store", MOUNTINFO)
    assert "not a journaled filesystem" in data_partition_problem("/boot/firmware/store", MOUNTINFO)
    assert "read-only" in data_partition_problem("/mnt/old store/s", MOUNTINFO)  # \\040 is a space
    assert [m.mount_point for m in parse_mountinfo(MOUNTINFO)][-1] == "/mnt/old store"


CHECK = textwrap.dedent("""
    import subprocess, sys
    from recorder.store.mounts import data_partition_problem
    image, root = sys.argv[1], sys.argv[2]
    def mount(*args):
        subprocess.run(["mount", *args], check=True)
    results = {}
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", root + "/tmpfs")
    results["tmpfs"] = data_partition_problem(root + "/tmpfs/store")
    mount("-o", "loop", image, root + "/ext4")
    results["ext4"] = data_partition_problem(root + "/ext4/store")
    mount("-o", "remount,ro", root + "/ext4")
    results["ext4-ro"] = data_partition_problem(root + "/ext4/store")
    print(repr(results))
""")


def test_real_filesystems_in_a_private_mount_namespace(tmp_path):
    unshare = require_root_unshare()
    image = tmp_path / "data.img"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    for name in ("tmpfs", "ext4"):
        (tmp_path / name).mkdir()
    out = subprocess.run([unshare, "-m", "--propagation", "private", sys.executable, "-c", CHECK, str(image),
                          str(tmp_path)], capture_output=True, text=True, check=True).stdout
    results = eval(out)  # our own repr of a dict of strings
    assert "memory" in results["tmpfs"]
    assert results["ext4"] is None
    assert "read-only" in results["ext4-ro"]


def test_recorder_run_refuses_a_store_on_the_root_filesystem_and_writes_nothing(tmp_path):
    """Here tmp_path is on the root filesystem (or on tmpfs): refused either way, exit 2,
    before the store is created."""
    store = tmp_path / "store"
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock")
    config = tmp_path / "recorder.toml"
    config.write_text('[capture]\ncamera = "synthetic"\nmicrophone = "synthetic"\n')
    result = subprocess.run([sys.executable, "-m", "recorder", "run", "--once", "--config", str(config),
                             "--store", str(store)], capture_output=True, text=True, env=env, timeout=60)
    if data_partition_problem(store) is None:
        pytest.skip(f"{tmp_path} is on a filesystem the device may record onto")
    assert result.returncode == 2, result.stderr
    assert "refusing to record" in result.stderr and "require_data_partition" in result.stderr
    assert not store.exists()
