"""The Debian trixie chroot that holds Ceph's monitor, OSD and S3 gateway (radosgw).

Built once per machine by build-chroot.sh under /var/cache/recorder-test/ and reused while
the script is unchanged (support/cached_build.py: a lock makes concurrent test runs wait
for one build).

    root = ensure_chroot()   # builds or reuses; raises RgwUnavailable
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from support.cached_build import cached_build

HERE = Path(__file__).resolve().parent
RECIPE = HERE / "build-chroot.sh"
CACHE = Path(os.environ.get("RECORDER_TEST_CACHE", "/var/cache/recorder-test"))
HOST_TOOLS = ("debootstrap", "unshare", "chroot")
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class RgwUnavailable(Exception):
    """Ceph's S3 gateway cannot be built or started here (not root, a tool missing, a
    failed build or start)."""


def recipe_key() -> str:
    return hashlib.sha256(RECIPE.read_bytes()).hexdigest()[:16]


def missing_host_tools() -> list[str]:
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None]


def ensure_chroot(log=print) -> Path:
    """The chroot's root directory, building it first if this recipe has none yet."""
    if os.geteuid() != 0:
        raise RgwUnavailable("building and entering the Ceph chroot needs root")
    missing = missing_host_tools()
    if missing:
        raise RgwUnavailable(f"missing host tools: {', '.join(missing)} (make system-deps installs them)")

    def build(partial: Path, out) -> int:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                               "bash", str(RECIPE), str(partial)],
                              stdout=out, stderr=subprocess.STDOUT, env=HOST_ENV).returncode

    return cached_build(CACHE, f"rgw-trixie-{recipe_key()}", build, RgwUnavailable, "rgw-trixie-*",
                        "the Ceph RGW test chroot (~3 min)", log)
