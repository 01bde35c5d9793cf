"""The image booted under qemu-system-aarch64 (Debian's arm64 kernel, TCG, no network), its
serial console read line by line on the host with the host's time of arrival.

    guest = Guest.boot(kernel, initrd, root_overlay, data_disk, console_log, cmdline_extra)
    guest.wait_for(r"^STATE .*ActiveState=active", timeout=240)
    guest.cut()                     # SIGKILL: the guest's page cache is lost, as in a power cut
    guest.wait_poweroff(timeout)    # or a clean power off the guest does itself

The root disk is a copy-on-write qcow2 overlay of the root image (`overlay()`), so one root
image serves every boot and whatever a boot wrote (nothing: it is mounted read-only) can be
compared with it; the data disk is a raw ext4 image the host reads back with debugfs.
"""

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

QEMU = "qemu-system-aarch64"
# The guest's own limit: multi-user in ~40 s on an idle 2-core host (docs/IMAGE.md), much
# more on a loaded one.
BOOT_TIMEOUT_S = 420


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process ends (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def overlay(base: Path, path: Path) -> Path:
    """A qcow2 overlay on a raw image: the boot writes here, never to the base."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(path)],
                   check=True, timeout=60)
    return path


@dataclass
class Line:
    at: float  # host time.monotonic() when the line arrived
    text: str


@dataclass
class Guest:
    process: subprocess.Popen
    log_path: Path
    started: float
    lines: list = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _deadline: threading.Timer | None = None
    _console_closed: bool = False  # the emulator ended and its output is all in `lines`

    @classmethod
    def boot(cls, kernel: Path, initrd: Path, root: Path, data: Path, log_path: Path, cmdline_extra: str = "",
             memory_mb: int = 1024, timeout_s: float = 900) -> "Guest":
        cmdline = f"root=LABEL=recorder-root ro console=ttyAMA0 quiet {cmdline_extra}".strip()
        argv = [
            QEMU, "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", str(memory_mb),
            "-accel", "tcg,thread=multi", "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
            "-drive", f"file={root},format=qcow2,if=none,id=root",
            "-device", "virtio-blk-device,drive=root",
            "-drive", f"file={data},format=raw,if=none,id=data",
            "-device", "virtio-blk-device,drive=data",
            "-nic", "none", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
        ]
        # qemu itself is the child (a SIGKILL must reach it, not a wrapper), bounded twice: it
        # dies with the test process, and is killed after timeout_s whatever the test does
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        guest = cls(process, log_path, time.monotonic())
        guest._deadline = threading.Timer(timeout_s, process.kill)
        guest._deadline.daemon = True
        guest._deadline.start()
        threading.Thread(target=guest._read, name="console", daemon=True).start()
        return guest

    def _read(self):
        with open(self.log_path, "ab") as log:
            for raw in self.process.stdout:
                now = time.monotonic()
                log.write(f"[{now - self.started:8.3f}] ".encode() + raw)
                log.flush()
                text = raw.decode(errors="replace").replace("\r", "").rstrip("\n")
                with self._changed:
                    self.lines.append(Line(now, text))
                    self._changed.notify_all()
        with self._changed:
            self._console_closed = True
            self._changed.notify_all()

    def find(self, pattern: str, start: int = 0) -> Line | None:
        expression = re.compile(pattern)
        with self._changed:
            return next((line for line in self.lines[start:] if expression.search(line.text)), None)

    def wait_for(self, pattern: str, timeout: float = BOOT_TIMEOUT_S, start: int = 0) -> Line:
        """The first console line (from index start) matching pattern; fails after timeout or
        when the emulator ends first."""
        expression = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = start
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if expression.search(line.text):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self._console_closed:
                    break
                self._changed.wait(min(left, 1.0))
        raise AssertionError(f"no console line matching {pattern!r} within {timeout:.0f} s "
                             f"(emulator {'ended' if self.process.poll() is not None else 'running'}; "
                             f"console: {self.log_path}):\n{self.tail()}")

    def tail(self, count: int = 40) -> str:
        with self._changed:
            return "\n".join(line.text for line in self.lines[-count:])

    def cut(self) -> float:
        """The power cut: SIGKILL on the emulator (the guest's page cache, its dirty pages,
        whatever the virtual disk had not been handed, all gone). Returns the host time."""
        at = time.monotonic()
        self.process.kill()
        self.process.wait(timeout=30)
        return at

    def wait_poweroff(self, timeout: float) -> float:
        """The guest's own clean power off (qemu exits 0 with -no-reboot); the seconds it took."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise AssertionError(f"the guest did not power off within {timeout:.0f} s (console: "
                                 f"{self.log_path}):\n{self.tail()}") from None
        assert code == 0, f"qemu exited {code} (console: {self.log_path}):\n{self.tail()}"
        return time.monotonic() - self.started

    def close(self):
        if self._deadline is not None:
            self._deadline.cancel()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def boot_files(base: Path) -> tuple[Path, Path]:
    """Debian's arm64 kernel and its initramfs in the base root."""
    kernels = sorted((base / "boot").glob("vmlinuz-*"))
    initrds = sorted((base / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise FileNotFoundError(f"no kernel or initramfs in {base / 'boot'}")
    return kernels[-1], initrds[-1]


def read_back(data_disk: Path, source: str, destination: Path) -> Path:
    """A directory of the (powered off) data disk copied out with debugfs: nothing mounted."""
    destination.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["debugfs", "-R", f"rdump {source} {destination}", str(data_disk)],
                            capture_output=True, text=True, timeout=300)
    copied = destination / Path(source).name
    if not copied.exists():
        raise AssertionError(f"debugfs could not read {source} back: {result.stderr}")
    return copied


def e2fsck(image: Path, repair: bool = False) -> subprocess.CompletedProcess:
    """-fn: check only (a dirty journal is reported, not replayed); -fy: replay and repair."""
    return subprocess.run([shutil.which("e2fsck") or "e2fsck", "-f", "-y" if repair else "-n", str(image)],
                          capture_output=True, text=True, timeout=300)
