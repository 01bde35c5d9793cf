"""The store's disk: the recording time its free space allows, how fast it takes writes, and
whether it is the data partition the agent records onto.

Free space is judged by the agent's own storage monitor (monitors/storage.py): minutes of
recording above the reserve at the configured bitrate. The write test writes PROBE_BYTES
and fsyncs them in one probe file, `STORE/selftest/write-probe` (evidence/layout.py): outside
the evidence, on the same filesystem, overwritten in place from its first byte each time —
never truncated, renamed or removed, so it needs no deletion (tests/test_no_deletion.py).
"""

import errno
import os
import time

from ..config import recording_bytes_per_second
from ..evidence.layout import SELFTEST_PROBE, StoreLayout
from ..monitors.storage import StorageMonitor
from ..store.mounts import data_partition_problem
from .results import FAIL, PASS, SKIP, WARN, Result, Text

MIB = 1024 * 1024
PROBE_BYTES = 4 * MIB
CHUNK = 1 * MIB
# At a press the pre-record ring is written out while new video keeps coming: at twice the
# recording rate the disk catches up after as long again as the ring holds; at five times
# after a quarter of it. Below twice it falls behind for good on any hiccup.
FAIL_SPEEDUP, WARN_SPEEDUP = 2.0, 5.0


def check_storage(config, store, clock, simulated: bool) -> list[Result]:
    return [check_space(config, store, clock), check_write_speed(config, store, make_store=simulated),
            check_partition(config, store, simulated)]


def check_space(config, store, clock) -> Result:
    monitor = StorageMonitor.from_config(store, config)
    monitor.look(clock.monotonic_ns())
    if monitor.minutes is None:
        return Result("storage.space", FAIL, Text(f"读不到 {store} 的可用空间", f"cannot read the free space of {store}"),
                      Text("检查数据分区是否挂载", "check that the data partition is mounted"))
    minutes, warn = monitor.minutes, config.storage.warn_minutes
    measured = {"minutes_left": round(minutes, 1), "free_bytes": monitor.free, "reserve_bytes": monitor.reserve,
                "bytes_per_second": round(monitor.rate), "warn_minutes": warn}
    seen = Text(f"可录 {max(minutes, 0):.0f} 分钟（可用 {monitor.free / MIB:.0f} MiB，保留 {monitor.reserve / MIB:.0f} MiB，"
                f"{monitor.rate * 8 / 1e6:.2f} Mbit/s）",
                f"{max(minutes, 0):.0f} min of recording left ({monitor.free / MIB:.0f} MiB free, "
                f"{monitor.reserve / MIB:.0f} MiB reserve, {monitor.rate * 8 / 1e6:.2f} Mbit/s)")
    if minutes <= warn:
        return Result("storage.space", FAIL, seen, Text(
            f"不超过 {warn} 分钟：一开录就会告警。插入底座卸载录像；切勿手工删除", f"{warn} min or less: the officer "
            "would be warned at the first press. Offload at the dock; never delete footage by hand"), measured)
    return Result("storage.space", PASS, seen, measured=measured)


def check_write_speed(config, store, make_store: bool = True) -> Result:
    """make_store: create the store's directory if it is not there (the simulated body's);
    on a device it is the data partition's mount point, and missing is what is wrong."""
    root = StoreLayout(store).root
    probe = root / SELFTEST_PROBE
    if not make_store and not root.is_dir():
        return Result("storage.write", FAIL, Text(f"存储目录 {root} 不存在", f"the store {root} does not exist"),
                      Text("数据分区未挂载：检查 /etc/fstab 和镜像（hw/README.md）", "the data partition is not "
                           "mounted: check /etc/fstab and the image (hw/README.md)"), {"error": "no store"})
    rate = recording_bytes_per_second(config)
    chunk = memoryview(b"\0" * CHUNK)
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)  # selftest/, beside the evidence
        started = time.monotonic()
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            done = 0  # from the first byte, over what the last run wrote: nothing is truncated
            while done < PROBE_BYTES:
                done += os.pwrite(fd, chunk[:PROBE_BYTES - done], done)
            os.fsync(fd)
        finally:
            os.close(fd)
        seconds = max(time.monotonic() - started, 1e-6)
    except OSError as exc:
        full = exc.errno == errno.ENOSPC
        return Result("storage.write", FAIL, Text(f"写入 {probe} 失败：{exc.strerror}", f"writing {probe} failed: "
                                                  f"{exc.strerror}"),
                      Text("磁盘已满：插入底座卸载录像", "the disk is full: offload at the dock") if full else
                      Text("检查数据分区（挂载、权限、存储卡）", "check the data partition (mount, permissions, card)"),
                      {"error": exc.strerror, "errno": exc.errno})
    speed = PROBE_BYTES / seconds
    measured = {"bytes": PROBE_BYTES, "seconds": round(seconds, 4), "bytes_per_second": round(speed),
                "recording_bytes_per_second": round(rate), "speedup": round(speed / rate, 1)}
    seen = Text(f"写入并同步 {PROBE_BYTES // MIB} MiB：{speed / MIB:.1f} MiB/s，为录像码率的 {speed / rate:.0f} 倍",
                f"{PROBE_BYTES // MIB} MiB written and synced: {speed / MIB:.1f} MiB/s, {speed / rate:.0f}× the "
                "recording rate")
    if speed < rate * FAIL_SPEEDUP:
        return Result("storage.write", FAIL, seen, Text(f"低于 {FAIL_SPEEDUP:g} 倍：更换存储卡",
                                                        f"below {FAIL_SPEEDUP:g}×: replace the card"), measured)
    if speed < rate * WARN_SPEEDUP:
        return Result("storage.write", WARN, seen, Text(f"低于 {WARN_SPEEDUP:g} 倍：按键时预录写出会落后，建议更换存储卡",
                                                        f"below {WARN_SPEEDUP:g}×: the pre-record lags at a press; "
                                                        "consider a faster card"), measured)
    return Result("storage.write", PASS, seen, measured=measured)


def check_partition(config, store, simulated: bool) -> Result:
    """store/mounts.py, as `recorder run` asks before it records."""
    problem = data_partition_problem(store)
    measured = {"problem": problem}
    if simulated or not config.storage.require_data_partition:
        why = Text("模拟设备不检查", "the simulated body never asks") if simulated else \
            Text("[storage] require_data_partition = false", "[storage] require_data_partition = false")
        found = Text("；在设备上会失败：" + problem, "; on a device this fails: " + problem) if problem else Text("", "")
        return Result("storage.partition", SKIP, Text(why.zh + found.zh, why.en + found.en), measured=measured)
    if problem is not None:
        return Result("storage.partition", FAIL, Text(f"设备拒绝录像：{problem}", f"the agent refuses to record: "
                                                      f"{problem}"),
                      Text("数据分区未挂载或挂载错误：检查 /etc/fstab 和镜像（hw/README.md）",
                           "the data partition is not mounted as it must be: check /etc/fstab and the image "
                           "(hw/README.md)"), measured)
    return Result("storage.partition", PASS, Text("存储在日志式数据分区上", "the store is on its journaled data "
                                                   "partition"), measured=measured)
