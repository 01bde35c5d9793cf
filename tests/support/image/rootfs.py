"""The device image's root filesystem for CI: Debian bookworm arm64, built with debootstrap
under qemu-user (tests/support/image/build-base.sh) and cached, with the current agent, its
configuration and units put on top at every run (hw/image/recipe.sh, the list pi-gen's stage
uses too).

The slow base (debootstrap, kernel, packages, the agent's dependencies: ~10 min cold) is
built once per machine under /var/cache/recorder-test/ and reused while its recipe is
unchanged: build-base.sh, hw/image/packages, the recipe functions it calls and the
project's dependencies key it. A lock file makes concurrent runs wait for one build.
The per-run layer is an overlay on the base (the base is never written after its build):

    base = ensure_base()                       # builds or reuses; raises ImageUnavailable
    image = ImageRoot.prepare(base, tmp)       # agent + system on top, in tmp/upper
    image.run(["recorder", "--version"])       # chroot into base + upper, qemu-user
    booted = image.layer(tmp2, script)         # a test's own files on top of that
    booted.make_disk(tmp2 / "root.img")        # the merged tree as an ext4 image
"""

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.cached_build import cached_build

HERE = Path(__file__).resolve().parent
WORK_TREE = HERE.parents[2]
RECIPE = WORK_TREE / "hw" / "image" / "recipe.sh"
BASE_SCRIPT = HERE / "build-base.sh"
WHEELHOUSE_SCRIPT = WORK_TREE / "hw" / "image" / "wheelhouse.sh"
PACKAGES = WORK_TREE / "hw" / "image" / "packages"
CACHE = Path(os.environ.get("RECORDER_TEST_CACHE", "/var/cache/recorder-test"))
# the recipe's functions build-base.sh calls: a change to another one needs no new base
BASE_FUNCTIONS = ("in_root", "list_packages", "install_packages", "install_agent_dependencies", "copy_wheelhouse")
HOST_TOOLS = ("debootstrap", "unshare", "chroot", "update-binfmts", "mkfs.ext4", "systemctl")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
VENV = "/opt/recorder/.venv"


class ImageUnavailable(Exception):
    """The image cannot be built here (not root, a tool missing, the build failed)."""


def _host_env() -> dict:
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def _requirements() -> str:
    import tomllib

    with open(WORK_TREE / "pyproject.toml", "rb") as f:
        return "\n".join(sorted(tomllib.load(f)["project"]["dependencies"]))


def recipe_key() -> str:
    functions = subprocess.run(["bash", "-c", f'. "$1"; declare -f {" ".join(BASE_FUNCTIONS)}', "-", str(RECIPE)],
                               capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256()
    for part in (BASE_SCRIPT.read_bytes(), PACKAGES.read_bytes(), functions.encode(), _requirements().encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def enable_binfmt() -> None:
    """arm64 programs run through qemu-user: binfmt_misc mounted and the emulator registered
    (installing qemu-user-static does not register it on these machines)."""
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    if not (BINFMT / "qemu-aarch64").exists():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], check=True, capture_output=True)
    if not (BINFMT / "qemu-aarch64").exists():
        raise ImageUnavailable("qemu-aarch64 is not registered with binfmt_misc (qemu-user-static, binfmt-support)")


def check_host() -> None:
    if os.geteuid() != 0:
        raise ImageUnavailable("building and entering the image's root needs root")
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise ImageUnavailable(f"missing host tools: {', '.join(missing)} (make test-deps installs them)")
    enable_binfmt()


def build_wheelhouse(out: Path, what: str) -> Path:
    """hw/image/wheelhouse.sh on this machine (its Python, its network set-up)."""
    result = subprocess.run(["bash", str(WHEELHOUSE_SCRIPT), str(out), what], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": sys.executable}, timeout=900)
    if result.returncode != 0:
        raise ImageUnavailable(f"wheelhouse.sh {what} failed:\n{result.stderr[-3000:]}")
    return out


def ensure_base(log=print) -> Path:
    """The cached base root filesystem, built first if this recipe has none yet (~8 min)."""
    check_host()
    key = recipe_key()

    def build(partial: Path, out) -> int:
        wheels = build_wheelhouse(CACHE / f"image-bookworm-arm64-{key}.wheels", "dependencies")
        try:
            return subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                                   "bash", str(BASE_SCRIPT), str(partial), str(wheels)],
                                  stdout=out, stderr=subprocess.STDOUT, env=_host_env(), timeout=3600).returncode
        finally:
            shutil.rmtree(wheels, ignore_errors=True)

    return cached_build(CACHE, f"image-bookworm-arm64-{key}", build, ImageUnavailable, "image-bookworm-arm64-*",
                        "the device image's base", log)


@dataclass
class ImageRoot:
    """The base with layers on top (overlayfs): `upper` holds what this layer added, `lowers`
    the layers under it (the image under a test's layer), top first."""

    base: Path
    directory: Path
    lowers: tuple = ()

    @property
    def upper(self) -> Path:
        return self.directory / "upper"

    @property
    def merged(self) -> Path:
        return self.directory / "merged"

    @classmethod
    def prepare(cls, base: Path, directory: Path) -> "ImageRoot":
        """The image as technicians get it: the agent (a wheel of the current tree) and the
        system part of hw/image/recipe.sh on the base."""
        image = cls(base, directory)
        image._make_dirs()
        wheels = build_wheelhouse(directory / "wheels", "agent")
        image._apply(f'. {shlex.quote(str(RECIPE))}\ninstall_agent "$ROOT" {shlex.quote(str(wheels))}\n'
                     'install_system "$ROOT"\n', "installing the agent into the image")
        return image

    def layer(self, directory: Path, script: str) -> "ImageRoot":
        """A layer on top of this one: `script` is shell run with ROOT set to the merged tree."""
        top = ImageRoot(self.base, directory, (self.upper, *self.lowers))
        top._make_dirs()
        top._apply(script, "adding a layer to the image")
        return top

    def _make_dirs(self):
        for sub in ("upper", "work", "merged"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)

    def _apply(self, script: str, what: str):
        result = self.shell(f"ROOT={shlex.quote(str(self.merged))}\n{script}", timeout=900)
        if result.returncode != 0:
            raise ImageUnavailable(f"{what} failed:\n{result.stdout[-3000:]}")

    def _overlay(self) -> str:
        lower = ":".join(str(path) for path in (*self.lowers, self.base))
        return (f"mount -t overlay overlay -o lowerdir={shlex.quote(lower)},upperdir={shlex.quote(str(self.upper))},"
                f"workdir={shlex.quote(str(self.directory / 'work'))} {shlex.quote(str(self.merged))}")

    def _mounts(self) -> str:
        m = shlex.quote(str(self.merged))
        return "\n".join([
            self._overlay(),
            f"mount -t proc proc {m}/proc",
            f"mount --rbind /dev {m}/dev",
            f"mount -t sysfs sysfs {m}/sys",
        ])

    @contextmanager
    def mounted(self):
        """The merged tree mounted on the host (for host tools: systemd-analyze --root)."""
        subprocess.run(["sh", "-c", self._overlay()], check=True, env=_host_env(), timeout=60)
        try:
            yield self.merged
        finally:
            subprocess.run(["umount", str(self.merged)], check=True, timeout=60)

    def shell(self, script: str, timeout: float = 600, api_filesystems: bool = True) -> subprocess.CompletedProcess:
        """A bash script on the host with the merged tree mounted (a private mount namespace),
        and proc, dev and sys in it unless api_filesystems is false."""
        mounts = self._mounts() if api_filesystems else self._overlay()
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c",
             "set -euo pipefail\n" + mounts + "\n" + script],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, env=_host_env())

    def run(self, argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
        """argv inside the image (qemu-user), with a clean environment and the venv first on PATH."""
        inner = ["env", "-i", f"PATH={VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8",
                 "chroot", str(self.merged), *argv]
        script = self._mounts() + "\nexec " + shlex.join(inner) + "\n"
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "bash", "-c",
                               "set -euo pipefail\n" + script],
                              capture_output=True, text=True, timeout=timeout, env=_host_env())

    def make_disk(self, path: Path, size: str = "3G", label: str = "recorder-root") -> Path:
        """The merged tree as a raw ext4 disk image (mkfs.ext4 -d: no loop device)."""
        script = (f"truncate -s {size} {shlex.quote(str(path))}\n"
                  f"mkfs.ext4 -q -F -L {label} -d {shlex.quote(str(self.merged))} {shlex.quote(str(path))}\n")
        result = self.shell(script, timeout=600, api_filesystems=False)
        if result.returncode != 0:
            raise ImageUnavailable(f"mkfs.ext4 -d failed:\n{result.stdout[-3000:]}")
        return path
