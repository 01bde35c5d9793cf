"""The unit files in hw/systemd pass `systemd-analyze verify` without a single warning, in a
root of their own that holds what they name (docs/SERVICE.md)."""

import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import require_tool

UNITS = sorted((Path(__file__).parent.parent / "hw" / "systemd").glob("*.service"))
EXEC_KEYS = ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "ExecStopPost", "ExecReload")


def unit_lines(path: Path) -> list[tuple[str, str]]:
    """(key, value) of every assignment; repeated keys kept (a unit file is not an INI file)."""
    lines = []
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            lines.append((key.strip(), value.strip()))
    return lines


def executables(path: Path) -> set[str]:
    found = set()
    for key, value in unit_lines(path):
        if key in EXEC_KEYS and value:
            found.add(value.split()[0].lstrip("@-:+!"))
    return found


def unit_root(tmp_path: Path) -> Path:
    """A root with the host's own units (the targets ours are ordered against), ours, a stub
    for every program they run, and the recorder user."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, units / unit.name)
        for program in executables(unit):
            stub = root / program.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nrecorder:x:990:990::/var/lib/recorder:/usr/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nrecorder:x:990:\nvideo:x:44:recorder\naudio:x:29:recorder\n")
    return root


def test_there_are_units():
    assert {unit.name for unit in UNITS} >= {"recorder.service", "recorder-unrecoverable.service"}


def analyze_verify(root: Path, unit: str) -> tuple[int, str]:
    """`systemd-analyze verify --root=ROOT /etc/systemd/system/UNIT`: (exit code, everything it
    said). An unknown key or a bad value is only a warning with exit 0: any output is a failure."""
    analyze = require_tool("systemd-analyze")
    env = dict(os.environ, SYSTEMD_LOG_COLOR="0")
    result = subprocess.run([analyze, "verify", f"--root={root}", f"/etc/systemd/system/{unit}"],
                            capture_output=True, text=True, env=env, timeout=60)
    return result.returncode, (result.stderr + result.stdout).strip()


@pytest.mark.parametrize("unit", UNITS, ids=[unit.name for unit in UNITS])
def test_systemd_analyze_verify_says_nothing(unit, tmp_path):
    require_tool("systemd-analyze")
    if not Path("/usr/lib/systemd/system").is_dir():
        pytest.skip("no systemd units on this machine to order against")
    assert analyze_verify(unit_root(tmp_path), unit.name) == (0, "")


def test_verify_would_see_a_mistake(tmp_path):
    """The check above is not blind: a misspelt key in the same root is reported."""
    analyze = require_tool("systemd-analyze")
    if not Path("/usr/lib/systemd/system").is_dir():
        pytest.skip("no systemd units on this machine to order against")
    root = unit_root(tmp_path)
    unit = root / "etc/systemd/system/recorder.service"
    unit.write_text(unit.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    result = subprocess.run([analyze, "verify", f"--root={root}", "/etc/systemd/system/recorder.service"],
                            capture_output=True, text=True, timeout=60)
    assert "NoNewPrivilege" in result.stderr


def test_the_service_is_a_watched_notify_service_in_a_sandbox():
    lines = unit_lines(next(unit for unit in UNITS if unit.name == "recorder.service"))
    settings = {}
    for key, value in lines:
        settings.setdefault(key, []).append(value)
    expected = {
        "Type": "notify", "NotifyAccess": "main", "WatchdogSec": "10", "Restart": "on-failure",
        "RestartPreventExitStatus": "2 4", "SuccessExitStatus": "4", "User": "recorder", "Group": "recorder",
        "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/recorder", "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "", "DevicePolicy": "closed", "IPAddressDeny": "any",
        "IPAddressAllow": "localhost", "Wants": "gpsd.service chrony.service",
        "OnFailure": "recorder-unrecoverable.service",
    }
    assert {key: settings.get(key, [None])[-1] for key in expected} == expected
    assert settings["ExecStopPost"][0].startswith("+"), "the power off runs outside the sandbox, as root"
    assert "MemoryDenyWriteExecute" not in settings, "cffi callbacks (PortAudio) may need W+X memory"


def test_the_cannot_continue_unit_writes_the_store_as_the_agent_does():
    """Its ledger entry must leave the store writable by the agent: the same user."""
    settings = dict(unit_lines(next(unit for unit in UNITS if unit.name == "recorder-unrecoverable.service")))
    assert (settings["User"], settings["Group"], settings["ReadWritePaths"]) == ("recorder", "recorder",
                                                                               "/var/lib/recorder")


def test_the_agent_starts_only_once_provisioning_made_its_key(tmp_path):
    """The unit's condition names the key `recorder provision` makes for the image's store:
    skipped on a device fresh from the image, started once provisioned."""
    import fnmatch

    from recorder.config import DEFAULT_STORE
    from recorder.evidence.layout import StoreLayout
    from recorder.provision.device import provision
    from recorder.seal.identity import current_generation, identity_dir_for

    (glob,) = [value for key, value in unit_lines(UNITS[[u.name for u in UNITS].index("recorder.service")])
               if key == "ConditionPathExistsGlob"]
    identity = identity_dir_for(DEFAULT_STORE)
    made = tmp_path / "identity"
    provision(made, StoreLayout(tmp_path / "store"), None, datetime.now(timezone.utc),
              (tmp_path / "no-serial", tmp_path / "no-cpuinfo"))
    device_key = current_generation(made) / "device.key"
    assert device_key.exists()
    assert fnmatch.fnmatch(str(device_key).replace(str(made), str(identity)), glob)  # as on the device
