"""A one-node Ceph cluster with its S3 gateway, for the archive's tests.

    cluster = start_rgw(ensure_chroot(), data_dir)   # raises RgwUnavailable
    cluster.endpoint, cluster.access_key, cluster.secret_key
    cluster.stop()                                    # nothing left running

cluster.sh runs inside the chroot in a private mount namespace (the chroot's /proc, /dev
and /cluster, this run's own data directory, are mounted there and vanish with it). All
daemons share one process group, which stop() kills: their data is in memory (memstore)
and in data_dir, nothing is worth a graceful stop, and radosgw's takes up to two minutes.
"""

import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from support.rgw.chroot import HOST_ENV, RgwUnavailable

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 180  # ~20 s on an idle 2-core machine
STOP_TIMEOUT_S = 10


@dataclass
class RgwCluster:
    endpoint: str
    access_key: str
    secret_key: str
    data_dir: Path
    process: subprocess.Popen
    started_in_s: float = field(default=0.0)

    def stop(self) -> None:
        """Kill every daemon of the cluster and wait until they are gone (bounded)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=STOP_TIMEOUT_S)  # reaped: a zombie leader still counts in its group
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise RgwUnavailable(f"the cluster's processes (group {self.process.pid}) outlived SIGKILL")

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for log in [self.data_dir / "cluster.out", *sorted((self.data_dir / "log").glob("*.log"))]:
            if log.exists():
                parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_rgw(root: Path, data_dir: Path, timeout_s: float = START_TIMEOUT_S) -> RgwCluster:
    """Start monitor, OSD and radosgw on free ports of 127.0.0.1; return once S3 answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "cluster.sh").write_bytes((HERE / "cluster.sh").read_bytes())
    mon_port, rgw_port = free_port(), free_port()
    access_key, secret_key = "ARCHIVETEST" + secrets.token_hex(5).upper(), secrets.token_hex(20)
    inner = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "chroot", str(root),
             "sh", "/cluster/cluster.sh", str(mon_port), str(rgw_port), access_key, secret_key]
    script = "\n".join([
        "set -e",
        f"mount -t proc proc {root}/proc",
        f"mount --rbind /dev {root}/dev",
        f"mount --bind {shlex.quote(str(data_dir))} {root}/cluster",
        "exec " + shlex.join(inner),
    ])
    started = time.monotonic()
    with open(data_dir / "cluster.out", "wb") as out:
        process = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                                   stdout=out, stderr=subprocess.STDOUT, env=HOST_ENV, start_new_session=True)
    cluster = RgwCluster(f"http://127.0.0.1:{rgw_port}", access_key, secret_key, data_dir, process)
    try:
        _wait_until_serving(cluster, started + timeout_s)
    except BaseException:
        cluster.stop()
        raise
    cluster.started_in_s = time.monotonic() - started
    return cluster


def _wait_until_serving(cluster: RgwCluster, deadline: float) -> None:
    while time.monotonic() < deadline:
        if cluster.process.poll() is not None:
            raise RgwUnavailable(f"the Ceph cluster exited ({cluster.process.returncode}):\n{cluster.log_tail()}")
        progress = cluster.data_dir / "progress"
        if progress.exists() and progress.read_text().strip() == "started":
            try:
                with urllib.request.urlopen(cluster.endpoint, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
        time.sleep(0.2)
    raise RgwUnavailable(f"radosgw did not answer within the time allowed:\n{cluster.log_tail()}")
