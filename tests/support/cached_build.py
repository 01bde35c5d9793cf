"""A slow build made once per machine and recipe and kept in the test cache
(/var/cache/recorder-test/): the picamera2 chroot (support/picam/chroot.py), the device
image's base (support/image/rootfs.py).

    root = cached_build(CACHE, f"trixie-{key}", build, ChrootUnavailable, "trixie-*", "the chroot")

build(partial_dir, log_file) -> exit code makes the tree in partial_dir, writing its log; the
tree is renamed to CACHE/name once it succeeded. A lock file makes concurrent test runs wait
for one build instead of building twice; other recipes' trees unused for a week are dropped.
"""

import fcntl
import shutil
import time
from pathlib import Path

STALE_S = 7 * 24 * 3600


def cached_build(cache: Path, name: str, build, error: type, stale_glob: str, what: str, log=print) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / name
    if (root / ".ready").exists():
        (root / ".ready").touch()  # last use, for remove_stale
        return root
    with open(cache / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build finishes before we look again
        if (root / ".ready").exists():
            return root
        partial = cache / f"{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        log(f"building {what} in {root} (once per recipe)")
        build_log = cache / f"{name}.log"
        started = time.monotonic()
        with open(build_log, "w") as out:
            code = build(partial, out)
        if code != 0:
            tail = build_log.read_text(errors="replace")[-3000:]
            raise error(f"building {what} failed (log: {build_log}):\n{tail}")
        with open(build_log, "a") as out:
            out.write(f"built in {time.monotonic() - started:.0f} s\n")
        (partial / ".ready").write_text(name + "\n")
        partial.rename(root)
        remove_stale(cache, stale_glob, keep=root)
        return root


def remove_stale(cache: Path, pattern: str, keep: Path):
    """Trees of other recipes are ~1 GB each: drop those unused for STALE_S. (Another work
    tree may use another recipe right now: never a recently used one.)"""
    for old in cache.glob(pattern):
        ready = old / ".ready"
        if old.is_dir() and old != keep and ready.exists() and time.time() - ready.stat().st_mtime > STALE_S:
            ready.unlink()
            shutil.rmtree(old, ignore_errors=True)
