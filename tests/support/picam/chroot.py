"""The Debian trixie chroot where picamera2 runs on libcamera's virtual camera.

Built once per machine by build-chroot.sh under /var/cache/recorder-test/ and
reused while the recipe (the script and the project's pip dependencies) is
unchanged; a lock file makes concurrent test runs wait for one build instead
of building twice. Every run happens in a private mount namespace: the work
tree is bind-mounted at /src (so the chroot runs the current code), a per-run
directory at /out, and the run's camera definition over libcamera's
virtual.yaml. Nothing stays mounted on the host afterwards.

    root = ensure_chroot()              # builds or reuses; raises ChrootUnavailable
    run_in_chroot(root, ["python3", "-m", "..."], out_dir=tmp, virtual_yaml=yaml)
"""

import hashlib
import os
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

from support.cached_build import cached_build

HERE = Path(__file__).resolve().parent
WORK_TREE = HERE.parents[2]
RECIPE = HERE / "build-chroot.sh"
CACHE = Path(os.environ.get("RECORDER_TEST_CACHE", "/var/cache/recorder-test"))
VIRTUAL_YAML = "usr/share/libcamera/pipeline/virtual/virtual.yaml"
STUBS = "/src/tests/support/picam/stubs"  # the kms stub, inside the chroot
HOST_TOOLS = ("debootstrap", "unshare", "chroot")


class ChrootUnavailable(Exception):
    """The chroot cannot be built here (not root, tool missing, build failed)."""


def pip_requirements() -> str:
    with open(WORK_TREE / "pyproject.toml", "rb") as f:
        return " ".join(sorted(tomllib.load(f)["project"]["dependencies"]))


def recipe_key() -> str:
    digest = hashlib.sha256(RECIPE.read_bytes())
    digest.update(pip_requirements().encode())
    return digest.hexdigest()[:16]


def ensure_chroot(log=print) -> Path:
    """The chroot's root directory, building it first if this recipe has none yet."""
    if os.geteuid() != 0:
        raise ChrootUnavailable("building and entering the chroot needs root")
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise ChrootUnavailable(f"missing host tools: {', '.join(missing)} (make system-deps installs them)")

    def build(partial: Path, out) -> int:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                               "bash", str(RECIPE), str(partial), pip_requirements()],
                              stdout=out, stderr=subprocess.STDOUT, env=_host_env()).returncode

    return cached_build(CACHE, f"trixie-{recipe_key()}", build, ChrootUnavailable, "trixie-*",
                        "the picamera2 test chroot (~3 min)", log)


def _host_env() -> dict:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    return env


def run_in_chroot(root: Path, argv: list[str], out_dir: Path, virtual_yaml: Path | None = None,
                  env: dict | None = None, pulse_dir: Path | None = None, timeout: float = 600,
                  capture_output: bool = False) -> subprocess.CompletedProcess:
    """Run argv inside the chroot with the work tree at /src and out_dir at /out."""
    mounts = [
        f"mount -t proc proc {root}/proc",
        f"mount --rbind /dev {root}/dev",
        f"mount -t sysfs sysfs {root}/sys",
        f"mount --bind {shlex.quote(str(WORK_TREE))} {root}/src",
        f"mount --bind {shlex.quote(str(out_dir))} {root}/out",
    ]
    if virtual_yaml is not None:
        mounts.append(f"mount --bind {shlex.quote(str(virtual_yaml))} {root}/{VIRTUAL_YAML}")
    if pulse_dir is not None:
        mounts.append(f"mount --bind {shlex.quote(str(pulse_dir))} {root}/pulse")
    inner_env = {
        "PATH": "/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{STUBS}:/src:/src/tests/support",
        "PYTHONDONTWRITEBYTECODE": "1",  # the work tree is the host's: leave no root-owned caches
        "LIBCAMERA_LOG_LEVELS": "*:ERROR",
        **(env or {}),
    }
    command = ["env", "-i", *(f"{k}={v}" for k, v in inner_env.items()), "chroot", str(root), *argv]
    script = "set -e\n" + "\n".join(mounts) + "\nexec " + shlex.join(command) + "\n"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
        capture_output=capture_output, timeout=timeout, env=_host_env(), text=True,
    )


def virtual_yaml(width: int, height: int, fps: int, frames_dir: str | None = None) -> str:
    """A camera definition for libcamera's virtual pipeline handler: test bars, or
    frames from 0.jpg, 1.jpg, ... in frames_dir (a path inside the chroot)."""
    source = f'  frames:\n    path: "{frames_dir.rstrip("/")}/"\n' if frames_dir else '  test_pattern: "bars"\n'
    return (
        '"Virtual0":\n'
        "  supported_formats:\n"
        f"    - width: {width}\n      height: {height}\n      frame_rates: [{fps}]\n"
        + source
        + '  model: "recorder-test"\n'
    )
