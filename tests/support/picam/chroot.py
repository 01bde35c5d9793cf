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

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK_TREE = HERE.parents[2]
RECIPE = HERE / "build-chroot.sh"
CACHE = Path(os.environ.get("RECORDER_TEST_CACHE", "/var/cache/recorder-test"))
VIRTUAL_YAML = "usr/share/libcamera/pipeline/virtual/virtual.yaml"
STUBS = "/src/tests/support/picam/stubs"  # the kms stub, inside the chroot
HOST_TOOLS = ("debootstrap", "unshare", "chroot")
STALE_S = 7 * 24 * 3600


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
    CACHE.mkdir(parents=True, exist_ok=True)
    key = recipe_key()
    root = CACHE / f"trixie-{key}"
    if (root / ".ready").exists():
        (root / ".ready").touch()  # last use, for _remove_stale
        return root
    with open(CACHE / f"trixie-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build finishes before we look again
        if (root / ".ready").exists():
            return root
        partial = CACHE / f"trixie-{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        log(f"building the picamera2 test chroot in {root} (once per recipe, ~3 min)")
        build_log = CACHE / f"trixie-{key}.log"
        with open(build_log, "w") as out:
            result = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "--",
                 "bash", str(RECIPE), str(partial), pip_requirements()],
                stdout=out, stderr=subprocess.STDOUT, env=_host_env(),
            )
        if result.returncode != 0:
            tail = build_log.read_text(errors="replace")[-3000:]
            raise ChrootUnavailable(f"chroot build failed (log: {build_log}):\n{tail}")
        (partial / ".ready").write_text(key + "\n")
        partial.rename(root)
        _remove_stale(keep=root)
        return root


def _remove_stale(keep: Path):
    """Chroots of other recipes are ~1.2 GB each: drop those unused for STALE_S. (Another
    work tree may use another recipe right now: never remove a recently used one.)"""
    for old in CACHE.glob("trixie-*"):
        ready = old / ".ready"
        if old.is_dir() and old != keep and ready.exists() and time.time() - ready.stat().st_mtime > STALE_S:
            ready.unlink()
            shutil.rmtree(old, ignore_errors=True)


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
