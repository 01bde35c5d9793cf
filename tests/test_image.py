"""The device image (hw/image/, issue 12 item 4; docs/IMAGE.md).

CI builds what a technician's pi-gen build puts on the card, from the same list
(hw/image/recipe.sh), into a Debian bookworm arm64 root filesystem (tests/support/image:
debootstrap under qemu-user, the slow base cached), then:
- runs the agent under qemu-user and checks every unit the image installs;
- boots it under qemu-system-aarch64 (Debian's arm64 kernel, TCG, no network) with the root
  read-only and the data partition on a second disk: the device's unit runs the agent on the
  simulated body (the only test-only change: guest/simulated-body.conf), which records until
  a clean power off; the store read back from the data disk verifies and decodes;
- a boot whose pipeline hangs: systemd's watchdog kills the agent, restarts it, and the
  ledger shows the restart and the recovered segment;
- real power cuts: SIGKILL on the emulator at seeded random moments while it records, each
  next boot recovering; at most the open fragment lost per cut, the root untouched.
"""

import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import IN_CI, require_root_unshare, require_tool
from media import frame_indices
from recorder import __version__
from recorder.config import load_config
from recorder.evidence.verifier import verify_store
from support.image import boot, rootfs, scenario
from test_power_cut import complete_fragments, frames_due, loss_bound
from test_service_units import analyze_verify

REPO = Path(__file__).resolve().parent.parent
IMAGE_DIR = REPO / "hw" / "image"
HOST_TOOLS = ("debootstrap", "update-binfmts", "qemu-aarch64-static", "qemu-system-aarch64", "qemu-img",
              "mkfs.ext4", "debugfs", "e2fsck", "systemd-analyze")
SEED = 20261203
CUTS = 10
CUT_AFTER_READY_S = (3.0, 8.0)  # the agent records from 0.5 s after READY


def _fail_or_skip(reason: str):
    if IN_CI:
        pytest.fail(f"the image tests are required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> rootfs.ImageRoot:
    """The image as technicians get it: the cached base, then the agent and the recipe's system part."""
    require_root_unshare()
    for tool in HOST_TOOLS:
        require_tool(tool)
    started = time.monotonic()
    try:
        base = rootfs.ensure_base()
        built = time.monotonic()
        prepared = rootfs.ImageRoot.prepare(base, tmp_path_factory.mktemp("image"))
    except rootfs.ImageUnavailable as exc:
        _fail_or_skip(str(exc))
    print(f"\nimage: base {built - started:.0f} s (cached: ~0), agent and system on top "
          f"{time.monotonic() - built:.0f} s")
    return prepared


@dataclass
class Bootable:
    image: rootfs.ImageRoot
    root_disk: Path
    kernel: Path
    initrd: Path


@pytest.fixture(scope="module")
def bootable(image, tmp_path_factory) -> Bootable:
    """The image with the test's layer (guest/) as a read-only root disk image."""
    directory = tmp_path_factory.mktemp("bootable")
    started = time.monotonic()
    booted = image.layer(directory, scenario.test_layer_script())
    root_disk = booted.make_disk(directory / "root.img")
    kernel, initrd = boot.boot_files(image.base)
    print(f"\nroot disk image: {time.monotonic() - started:.0f} s")
    return Bootable(booted, root_disk, kernel, initrd)


# ------------------------------------------------------------------- the recipe, its scripts


def shell_scripts() -> list[Path]:
    candidates = [*IMAGE_DIR.rglob("*"), *(REPO / "tests" / "support" / "image").rglob("*")]
    return sorted(p for p in candidates if p.is_file() and not p.is_symlink()
                  and p.read_bytes()[:40].startswith((b"#!/bin/sh", b"#!/usr/bin/env bash", b"# shellcheck shell=")))


def test_the_scripts_pass_shellcheck():
    shellcheck = require_tool("shellcheck")
    scripts = shell_scripts()
    assert len(scripts) >= 8, scripts
    # each from its own directory: their `source` lines are relative to it
    said = {}
    for script in scripts:
        result = subprocess.run([shellcheck, "-x", script.name], capture_output=True, text=True, timeout=120,
                                cwd=script.parent)
        said[str(script.relative_to(REPO))] = result.returncode, result.stdout + result.stderr
    assert {name: (0, "") for name in said} == said


def test_the_pi_gen_stage_and_ci_share_one_list():
    """pi-gen's stage installs hw/image/packages and runs recipe.sh, as CI's build does."""
    stage = IMAGE_DIR / "pi-gen" / "stage-recorder" / "00-recorder"
    assert (stage / "00-packages-nr").resolve() == (IMAGE_DIR / "packages").resolve()
    assert (stage / "01-packages-nr").resolve() == (IMAGE_DIR / "packages-raspberrypi").resolve()
    run = (stage / "02-run.sh").read_text()
    assert "recipe.sh" in run and "install_agent " in run and "install_system " in run
    ci = (REPO / "tests" / "support" / "image" / "build-base.sh").read_text()
    assert "install_packages " in ci and "install_agent_dependencies " in ci


def test_the_data_partition_is_appended_after_pi_gens_two(tmp_path):
    """add-data-partition.sh on an image laid out as pi-gen exports one (FAT firmware, ext4 root)."""
    sfdisk = require_tool("sfdisk")
    require_tool("debugfs")
    image = tmp_path / "pi.img"
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    subprocess.run([sfdisk, "-q", str(image)], input="start=8192,size=16384,type=c\nstart=24576,type=83\n",
                   text=True, check=True)
    subprocess.run([str(IMAGE_DIR / "add-data-partition.sh"), str(image), "32M"], check=True, capture_output=True)
    dump = subprocess.run([sfdisk, "--dump", str(image)], capture_output=True, text=True, check=True).stdout
    starts = [(int(line.split("start=")[1].split(",")[0]), int(line.split("size=")[1].split(",")[0]))
              for line in dump.splitlines() if " : start=" in line]
    assert starts == [(8192, 16384), (24576, 106496), (131072, 65536)], dump
    assert image.stat().st_size == (131072 + 65536) * 512
    stats = subprocess.run(["debugfs", "-R", "stats", f"{image}?offset={131072 * 512}"], capture_output=True,
                           text=True).stdout
    assert "volume name:   recorder-data" in stats and "has_journal" in stats, stats
    again = subprocess.run([str(IMAGE_DIR / "add-data-partition.sh"), str(image)], capture_output=True, text=True)
    assert again.returncode != 0, "never a second data partition"


# ------------------------------------------------------------------ under qemu-user (chroot)


def test_every_listed_package_is_installed_for_arm64(image):
    names = subprocess.run(["bash", "-c", f'. "{IMAGE_DIR}/recipe.sh"; list_packages "{IMAGE_DIR}/packages"'],
                           capture_output=True, text=True, check=True).stdout.split()
    result = image.run(["dpkg-query", "-W", "-f", "${Package} ${Architecture} ${db:Status-Status}\\n", *names])
    assert result.returncode == 0, result.stderr
    found = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert set(found) == set(names)
    assert all(arch in ("arm64", "all") and status == "installed" for arch, status in found.values()), found


def test_the_agent_runs_under_qemu_user(image):
    result = image.run(["recorder", "--version"], timeout=300)
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout
    machine = image.run(["/opt/recorder/.venv/bin/python", "-c", "import platform, av; print(platform.machine())"])
    assert machine.stdout.strip() == "aarch64", machine.stderr


def test_the_self_test_passes_on_the_simulated_body_under_qemu_user(image):
    result = image.run(["recorder", "selftest", "--simulate", "--store", "/tmp/selftest-store"], timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_unit_the_image_installs_verifies(image):
    units = sorted(path.name for path in [*(REPO / "hw" / "systemd").glob("*.service"),
                                          *(IMAGE_DIR / "files" / "systemd").glob("*.service")])
    with image.mounted() as root:
        installed = sorted(path.name for path in (root / "etc" / "systemd" / "system").glob("*.service")
                           if not path.is_symlink())  # not the aliases and masks packages made
        assert installed == units
        said = {unit: analyze_verify(root, unit) for unit in units}
    assert said == {unit: (0, "") for unit in units}


def test_the_image_has_the_user_configuration_and_storage_layout(image):
    with image.mounted() as root:
        passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
        groups = {line.split(":")[0]: line.split(":")[3].split(",")
                  for line in (root / "etc/group").read_text().splitlines()}
        fstab = [line.split() for line in (root / "etc/fstab").read_text().splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        config = load_config(root / "etc/recorder/recorder.toml")
        firmware_config = (root / "boot/firmware/config.txt").read_text()
        chrony = (root / "etc/chrony/chrony.conf").read_text()
        enabled = (root / "etc/systemd/system/multi-user.target.wants/recorder.service").is_symlink()
        mount_point = (root / "var/lib/recorder").stat()
    user = passwd["recorder"]
    assert user[5] == "/var/lib/recorder" and user[6] == "/usr/sbin/nologin"
    assert all("recorder" in groups[g] for g in ("video", "audio", "gpio", "render"))
    by_mount = {fields[1]: fields for fields in fstab}
    assert "ro" in by_mount["/"][3].split(","), "the root filesystem is mounted read-only"
    assert by_mount["/var/lib/recorder"][:3] == ["LABEL=recorder-data", "/var/lib/recorder", "ext4"]
    assert by_mount["/tmp"][2] == by_mount["/var/tmp"][2] == "tmpfs", "PrivateTmp= needs writable /tmp, /var/tmp"
    assert config.device.store.startswith("/var/lib/recorder/") and config.storage.require_data_partition
    assert (REPO / "hw" / "config.txt").read_text() in firmware_config
    assert chrony == (REPO / "hw" / "chrony" / "recorder.conf").read_text()
    assert enabled and mount_point.st_uid == int(user[2])


# ------------------------------------------------------------ booted under qemu-system-aarch64


def boot_guest(bootable: Bootable, directory: Path, name: str, data_disk: Path, poweroff: str | None) -> boot.Guest:
    root = boot.overlay(bootable.root_disk, directory / f"{name}-root.qcow2")
    extra = f"recorder_test.poweroff={poweroff}" if poweroff else ""
    return boot.Guest.boot(bootable.kernel, bootable.initrd, root, data_disk, directory / f"{name}-console.log",
                           extra)


def read_store(data_disk: Path, directory: Path) -> Path:
    """The data partition powered off: clean (a clean power off, or the journal replayed at the
    next boot) and its store copied out."""
    check = boot.e2fsck(data_disk)
    assert check.returncode == 0, f"the data partition is not clean:\n{check.stdout}{check.stderr}"
    return boot.read_back(data_disk, scenario.STORE, directory / "readback")


def session_frames(store: Path, session_id: str) -> list:
    frames = []
    for segment in sorted((store / "media" / session_id).glob("*.mp4")):
        frames += frame_indices(segment)
    return frames


def sessions_of(run: scenario.Run) -> list[str]:
    return [e["body"]["session_id"] for e in run.entries if e["type"] == "session_start"]


def assert_verifies(store: Path):
    report = verify_store(store)
    assert report.ok, report.summary_text()


def test_a_boot_records_on_the_simulated_body_and_powers_off(bootable, tmp_path):
    data = scenario.make_data_disk(tmp_path / "data.img", bootable.image, scenario.RECORD)
    guest = boot_guest(bootable, tmp_path, "boot", data, poweroff="0,12")
    try:
        assert guest.wait_for(r"^DATA ").text == "DATA ok", "the agent accepts its store's filesystem"
        ready = guest.wait_for(r"^STATE .*ActiveState=active")
        took = guest.wait_poweroff(timeout=300)
    finally:
        guest.close()
    print(f"\nboot: READY {ready.at - guest.started:.0f} s after qemu started, powered off after {took:.0f} s")
    assert not guest.find(r"NRestarts=[1-9]"), "no restart"
    assert guest.find(r"^FAILED-UNITS").text.strip() == "FAILED-UNITS", "the read-only root breaks no unit"
    store = read_store(data, tmp_path)
    assert_verifies(store)
    uid, _ = scenario.agent_ids(bootable.image)
    assert {path.stat().st_uid for path in [store, *store.rglob("*")]} == {uid}, "written as User=recorder"
    runs = scenario.runs(store)
    assert len(runs) == 1
    [session] = sessions_of(runs[0])
    frames = session_frames(store, session)
    assert frames == list(range(len(frames))) and len(frames) >= 10 * 10, "10 fps for 12 s, gap-free"
    stops = [e for e in runs[0].entries if e["type"] == "agent_stop"]
    assert stops and "SIGTERM" in str(stops[-1]["body"]), "the power off stopped it: everything sealed"


def test_the_watchdog_restarts_an_agent_whose_pipeline_hangs(bootable, tmp_path):
    # the hang at 10 s: in the second segment, which has fragments by then (the emulated agent
    # runs a few seconds behind the clock)
    data = scenario.make_data_disk(tmp_path / "data.img", bootable.image,
                                   "start @0.5s; hang pipeline @10s; end @60min", restart_script=scenario.RECORD)
    guest = boot_guest(bootable, tmp_path, "watchdog", data, poweroff="1,10")
    try:
        ready = guest.wait_for(r"^STATE .*ActiveState=active")
        withheld = guest.wait_for(r"WATCHDOG=1 withheld", timeout=120)
        restarted = guest.wait_for(r"^STATE .*NRestarts=1 ActiveState=active", timeout=120)
        took = guest.wait_poweroff(timeout=300)
    finally:
        guest.close()
    print(f"\nwatchdog boot: READY at {ready.at - guest.started:.0f} s, pings withheld at "
          f"{withheld.at - guest.started:.0f} s, restarted and READY at {restarted.at - guest.started:.0f} s, "
          f"powered off after {took:.0f} s")
    store = read_store(data, tmp_path)
    assert_verifies(store)
    runs = scenario.runs(store)
    assert len(runs) == 2 and runs[0].boot_id == runs[1].boot_id, "two agent_starts in one boot"
    interruptions = [e["body"] for e in runs[1].entries if e["type"] == "interruption"]
    [first_session] = sessions_of(runs[0])
    assert [(i["session_id"], i["cause"]) for i in interruptions] == [(first_session, "crash")], interruptions
    # the segment the killed run left open: sealed from its whole fragments, or set aside whole
    # when the hang came before its first fragment was written
    assert interruptions[0]["recovered"] or interruptions[0]["set_aside"], interruptions
    sealed = [e["body"]["seq"] for e in runs[1].entries if e["type"] == "segment"
              and e["body"]["session_id"] == first_session]
    assert sealed == [r["seq"] for r in interruptions[0]["recovered"]]
    [resumed] = sessions_of(runs[1])
    frames = session_frames(store, resumed)
    assert frames == list(range(len(frames))) and len(frames) >= 8 * 10


def guest_time_at(guest: boot.Guest, host_at: float) -> float:
    """The guest's uptime (CLOCK_BOOTTIME, the ledger's monotonic clock) at a host time, from
    its STATE lines before it: each arrived a little after the guest wrote it, so the smallest
    difference between arrival and uptime is the clocks' offset plus the console's least delay,
    and the estimate is that delay early (a few ms): a lower bound."""
    said = [(line.at, float(line.text.split()[1].split("=")[1])) for line in guest.lines
            if line.at <= host_at and line.text.startswith("STATE uptime=")][-40:]
    assert said, "the guest said nothing before the cut"
    return host_at - min(at - uptime for at, uptime in said)


@dataclass
class Cut:
    uptime_s: float  # the guest's clock at the cut (a lower bound: guest_time_at)
    partial: str | None  # the open segment as the agent had written it just before the cut
    written_bytes: int  # ... its size then (the guest's page cache)
    ready_s: float  # READY, seconds after qemu started


def open_segment_before(guest: boot.Guest, host_at: float) -> tuple[str | None, int]:
    """The last whole PARTIAL line before the cut. A line may lack its size: the agent sealed
    the segment between the console's `-e` test and its `stat`, or the cut tore the line."""
    said = [words for words in (line.text.split() for line in guest.lines
                                if line.at <= host_at and line.text.startswith("PARTIAL "))
            if len(words) == 3 and words[2].isdigit()]
    return (said[-1][1], int(said[-1][2])) if said else (None, 0)


def test_power_cuts_lose_at_most_the_open_fragment_and_never_the_root(bootable, tmp_path):
    config = scenario.config_file(tmp_path)
    fps = load_config(config).video.fps
    gop, bound = loss_bound(config)
    rng = random.Random(SEED)
    data = scenario.make_data_disk(tmp_path / "data.img", bootable.image, scenario.RECORD)
    root = boot.overlay(bootable.root_disk, tmp_path / "root.qcow2")  # one overlay for every boot
    cuts: list[Cut] = []
    started = time.monotonic()
    for number in range(CUTS + 1):
        last = number == CUTS
        guest = boot.Guest.boot(bootable.kernel, bootable.initrd, root, data, tmp_path / f"boot{number}-console.log",
                                "recorder_test.poweroff=0,8" if last else "")
        try:
            ready = guest.wait_for(r"^STATE .*ActiveState=active")
            if last:
                guest.wait_poweroff(timeout=300)
                break
            time.sleep(max(0.0, ready.at + rng.uniform(*CUT_AFTER_READY_S) - time.monotonic()))
            cut_at = guest.cut()
        finally:
            guest.close()
        cuts.append(Cut(guest_time_at(guest, cut_at), *open_segment_before(guest, cut_at), ready.at - guest.started))
        # the journal replay repairs what the cut left (checked on a copy: the next boot replays it)
        copy = tmp_path / "cut-copy.img"
        shutil.copyfile(data, copy)
        repaired = boot.e2fsck(copy, repair=True)
        assert repaired.returncode in (0, 1), f"cut {number}: e2fsck -fy:\n{repaired.stdout}"
        assert boot.e2fsck(copy).returncode == 0, f"cut {number}: not clean after the journal replay"
        copy.unlink()
    took = time.monotonic() - started

    # The root: byte for byte what was booted (mounted read-only every time), and clean.
    same = subprocess.run(["qemu-img", "compare", "-q", str(bootable.root_disk), str(root)], timeout=300)
    assert same.returncode == 0, "a boot or a cut changed the root filesystem"
    assert boot.e2fsck(bootable.root_disk).returncode == 0

    store = read_store(data, tmp_path)
    assert_verifies(store)
    runs = scenario.runs(store)
    assert len(runs) == CUTS + 1 and len({run.boot_id for run in runs}) == CUTS + 1, "one run per boot"
    lines = []
    for number, (run, cut) in enumerate(zip(runs, cuts)):
        [session] = sessions_of(run)
        recovered = [e["body"] for e in runs[number + 1].entries if e["type"] == "interruption"]
        assert [(i["session_id"], i["cause"]) for i in recovered] == [(session, "power_loss")], recovered
        frames = session_frames(store, session)
        assert frames == list(range(len(frames))), f"cut {number}: the frames kept are not gap-free"
        # Of what the agent had written, the cut took at most the fragment whose fdatasync was
        # in flight and the one being written (test_power_cut: `written - gop`).
        fragment = max((size for segment in (store / "media" / session).glob("*.mp4")
                        for _, size in complete_fragments(segment.read_bytes())), default=0)
        lost_bytes = 0
        if cut.partial is not None and cut.partial.split("/")[1] == session:
            kept = store / cut.partial.removesuffix(".partial")  # sealed by the recovery
            lost_bytes = max(0, cut.written_bytes - (kept.stat().st_size if kept.exists() else 0))
            assert lost_bytes == 0 or lost_bytes < 2 * fragment, \
                f"cut {number}: {lost_bytes} bytes the agent had written are gone (fragments {fragment} bytes)"
        # By the clock: what the camera had delivered by the cut and is not on the card. On an
        # emulated CPU most of it is the agent running behind (printed, not bounded here).
        due = frames_due(run.origin_us * 1000, round(cut.uptime_s * 1e9), fps)
        lines.append(f"cut {number}: READY {cut.ready_s:3.0f} s; cut {cut.uptime_s - run.origin_us / 1e6:5.2f} s "
                     f"after the camera started; kept {len(frames):3d} of {due:3d} frames due "
                     f"(behind + lost {(due - len(frames)) / fps:4.1f} s); of what was written "
                     f"{lost_bytes:6d} bytes lost (fragments up to {fragment} bytes)")
    print(f"\npower cuts: {CUTS} cuts and a clean boot in {took:.0f} s (GOP {gop} frames; "
          f"native bound {bound} frames):\n  " + "\n  ".join(lines))
