"""How far the system's wall clock can be trusted, as the system itself sees it. Read only.

Three readings, each pure where it can be so tests feed recorded outputs:
- the kernel's clock discipline status (`kernel_time_status`: adjtimex's `struct timex`, read
  with modes = 0, which changes nothing),
- chrony's view of its reference (`chrony_tracking` parses `chronyc -c tracking`;
  `read_chrony_tracking` runs it),
- whether the device has a real-time clock (`has_rtc`).
`system_time_source` turns them into a source name and an error bound (docs/TIME.md).

Nothing here sets, steps or slews the clock: chronyd disciplines it (hw/chrony/recorder.conf),
the agent only reports how good it is.
"""

import ctypes
import functools
import ipaddress
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_REALTIME = 0

# clock_adjtime's return value: the kernel clock's state (linux/timex.h).
CLOCK_STATES = {0: "TIME_OK", 1: "TIME_INS", 2: "TIME_DEL", 3: "TIME_OOP", 4: "TIME_WAIT", 5: "TIME_ERROR"}

# struct timex.status bits (linux/timex.h), in the order of TimexStatus's fields.
STATUS_BITS = {
    "pll": 0x0001,
    "pps_freq": 0x0002,
    "pps_time": 0x0004,
    "fll": 0x0008,
    "insert_leap": 0x0010,
    "delete_leap": 0x0020,
    "unsync": 0x0040,
    "freq_hold": 0x0080,
    "pps_signal": 0x0100,
    "pps_jitter": 0x0200,
    "pps_wander": 0x0400,
    "pps_error": 0x0800,
    "clock_error": 0x1000,
    "nano": 0x2000,
    "fll_mode": 0x4000,
    "clock_b": 0x8000,
}

# A clock set from the RTC at boot, assumed good to 2 s: the RTC is read in whole seconds (up
# to 1 s lost), and a DS3231 drifts at most 2 ppm (0-40 degC), 1.2 s over a week switched
# off; rtcsync rewrites it every 11 minutes while the clock is synchronised. A device off for
# longer, or an RTC reset by a flat battery, is outside this bound (docs/TIME.md).
RTC_ERROR_US = 2_000_000

RTC_PATHS = (Path("/sys/class/rtc/rtc0"), Path("/dev/rtc0"))

# Reference IDs of the refclocks in hw/chrony/recorder.conf, and chrony's default refclock
# IDs (driver name's first three letters and an index: PPS0, SHM0, SOC1).
PPS_REFIDS = frozenset({"PPS"})
GNSS_REFIDS = frozenset({"NMEA", "GPS"})
PPS_REFID_PREFIXES = ("PPS",)
GNSS_REFID_PREFIXES = ("SHM", "SOC")

# chrony's reference IDs that mean "no reference": none at all, and its local mode.
UNSYNCHRONISED_REF_IDS = frozenset({0x00000000, 0x7F7F0101})

SOURCES = ("gnss+pps", "gnss", "ntp", "rtc", "none")


# --- The kernel ---------------------------------------------------------------------------


def timex_struct(word: type) -> type:
    """`struct timex` whose kernel `long`s are `word`.

    c_int64: 64-bit Linux, and the time64 ABI of 32-bit glibc >= 2.34 (`__clock_adjtime64`),
    which pads explicitly where a 64-bit ABI would (bits/timex.h, __USE_TIME_BITS64).
    c_int32: the 32-bit ABI of glibc's `clock_adjtime`/`adjtimex` symbols (32-bit Raspberry Pi
    OS on a Pi Zero 2 W). tests/test_systime.py holds both to the C compilers' layouts.
    """
    wide = ctypes.sizeof(word) == 8

    def pad(name):
        return [(name, ctypes.c_int32)] if wide else []

    class Timeval(ctypes.Structure):
        _fields_ = [("tv_sec", word), ("tv_usec", word)]

    class Timex(ctypes.Structure):
        _fields_ = [
            ("modes", ctypes.c_uint32), *pad("_pad_modes"),
            ("offset", word), ("freq", word), ("maxerror", word), ("esterror", word),
            ("status", ctypes.c_int32), *pad("_pad_status"),
            ("constant", word), ("precision", word), ("tolerance", word),
            ("time", Timeval),
            ("tick", word), ("ppsfreq", word), ("jitter", word),
            ("shift", ctypes.c_int32), *pad("_pad_shift"),
            ("stabil", word), ("jitcnt", word), ("calcnt", word), ("errcnt", word), ("stbcnt", word),
            ("tai", ctypes.c_int32),
            ("_reserved", ctypes.c_int32 * 11),
        ]

    Timex.__name__ = Timex.__qualname__ = f"Timex{8 * ctypes.sizeof(word)}"
    return Timex


TIMEX_32 = timex_struct(ctypes.c_int32)
TIMEX_64 = timex_struct(ctypes.c_int64)


@dataclass(frozen=True)
class TimexStatus:
    """The kernel clock's status word, bit by bit (STA_* in linux/timex.h)."""

    pll: bool
    pps_freq: bool
    pps_time: bool
    fll: bool
    insert_leap: bool
    delete_leap: bool
    unsync: bool
    freq_hold: bool
    pps_signal: bool
    pps_jitter: bool
    pps_wander: bool
    pps_error: bool
    clock_error: bool
    nano: bool
    fll_mode: bool
    clock_b: bool

    @classmethod
    def from_bits(cls, bits: int) -> "TimexStatus":
        return cls(**{name: bool(bits & mask) for name, mask in STATUS_BITS.items()})


@dataclass(frozen=True)
class KernelTimeStatus:
    synchronized: bool  # STA_UNSYNC clear: a daemon vouches for the clock
    maxerror_us: int  # the kernel's bound; it grows by 500 us per second between updates
    esterror_us: int
    status: TimexStatus
    status_bits: int
    clock_state: str  # TIME_OK, TIME_ERROR (unsynchronised), TIME_INS (leap second today)...
    tai_offset_s: int


def kernel_status_from_timex(timex, state: int) -> KernelTimeStatus:
    """What a read of `struct timex` says; `state` is the call's return value."""
    bits = timex.status & 0xFFFF
    return KernelTimeStatus(
        synchronized=not bits & STATUS_BITS["unsync"],
        maxerror_us=int(timex.maxerror),
        esterror_us=int(timex.esterror),
        status=TimexStatus.from_bits(bits),
        status_bits=bits,
        clock_state=CLOCK_STATES.get(state, str(state)),
        tai_offset_s=int(timex.tai),
    )


@functools.cache
def _kernel_reader():
    """(clock_adjtime-like function, its struct), or None without a C library that has one."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if ctypes.sizeof(ctypes.c_long) == 8:
        candidates = [("clock_adjtime", TIMEX_64)]
    else:  # the time64 symbol where glibc has it (Y2038-proof), else the 32-bit one
        candidates = [("__clock_adjtime64", TIMEX_64), ("clock_adjtime", TIMEX_32)]
    for name, struct in candidates:
        function = getattr(libc, name, None)
        if function is not None:
            function.argtypes = [ctypes.c_int, ctypes.POINTER(struct)]
            function.restype = ctypes.c_int
            return function, struct
    return None


def kernel_time_status() -> KernelTimeStatus | None:
    """The kernel clock's discipline status, or None if it cannot be read."""
    reader = _kernel_reader()
    if reader is None:
        return None
    function, struct = reader
    timex = struct()  # all zero: modes = 0 asks for nothing to change, only a read
    if timex.modes != 0:
        raise AssertionError("a read of the kernel clock must have modes = 0")
    state = function(CLOCK_REALTIME, timex)  # passed by reference (argtypes: a pointer)
    if state < 0:
        return None
    return kernel_status_from_timex(timex, state)


# --- chrony ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChronyTracking:
    """One `chronyc -c tracking` line (chronyc(1), "tracking"; fields as chrony 4.3 prints)."""

    ref_id: int  # hex in the output; an IPv4 server's address, a refclock's name in ASCII
    ref_name: str  # a refclock's reference ID ("PPS"), a server's IP address, "" for none
    stratum: int
    ref_time_s: float  # when the last measurement was used, seconds since the epoch
    system_time_offset_s: float  # NTP time minus system time: positive, the clock is behind
    last_offset_s: float
    rms_offset_s: float
    frequency_ppm: float
    residual_freq_ppm: float
    skew_ppm: float
    root_delay_s: float
    root_dispersion_s: float
    update_interval_s: float
    leap_status: str  # Normal, Insert second, Delete second, Not synchronised

    @property
    def synchronized(self) -> bool:
        # The local mode (7F7F0101) reports a Normal leap status but has no reference.
        return self.leap_status != "Not synchronised" and self.ref_id not in UNSYNCHRONISED_REF_IDS

    @property
    def error_bound_s(self) -> float:
        """chronyc(1), "tracking": clock_error <= |system_time_offset| + root_dispersion
        + root_delay / 2, assuming the reference itself is right."""
        return abs(self.system_time_offset_s) + self.root_dispersion_s + self.root_delay_s / 2


TRACKING_NUMBERS = 11  # stratum ... update interval; the leap status follows


def chrony_tracking(text: str) -> ChronyTracking | None:
    """Parse `chronyc -c tracking`; None for anything else (an error message, nothing)."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    parts = line.strip().split(",")
    if len(parts) < 3 + TRACKING_NUMBERS:  # the ID, a name (maybe empty), numbers, leap
        return None
    # A reference ID can be up to four printable characters, a comma among them: take the
    # numbers from the right and leave the name whatever lies between.
    numbers, leap = parts[-TRACKING_NUMBERS - 1:-1], parts[-1]
    try:
        ref_id = int(parts[0], 16)
        stratum = int(numbers[0])
        values = [float(value) for value in numbers[1:]]
    except ValueError:
        return None
    return ChronyTracking(ref_id, ",".join(parts[1:-TRACKING_NUMBERS - 1]), stratum, *values, leap)


def read_chrony_tracking(timeout_s: float = 1.0, chronyc: str = "chronyc") -> ChronyTracking | None:
    """Ask the running chronyd (a read-only request). None when chronyc is not installed,
    chronyd is not running or does not answer within timeout_s."""
    path = shutil.which(chronyc)
    if path is None:
        return None
    try:
        result = subprocess.run([path, "-c", "tracking"], capture_output=True, text=True,
                                timeout=timeout_s, stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, OSError):
        return None
    if result.returncode != 0:
        return None
    return chrony_tracking(result.stdout)


# --- What the clock is worth ------------------------------------------------------------------


def has_rtc(paths=RTC_PATHS) -> bool:
    """A real-time clock the kernel knows (the DS3231 through its overlay, the Pi 5's own)."""
    return any(path.exists() for path in paths)


def reference_source(ref_name: str) -> str:
    """The source named by chrony's reference: a server's address is ntp; refclocks by ID."""
    if _is_address(ref_name) or "." in ref_name:  # an address, or a name (chronyc -N)
        return "ntp"
    if ref_name in PPS_REFIDS or ref_name.startswith(PPS_REFID_PREFIXES):
        return "gnss+pps"
    # NMEA, GPS, gpsd's SHM and SOCK samples; any other refclock too: the receiver is the
    # device's only reference clock.
    return "gnss"


def system_time_source(kernel: KernelTimeStatus | None, tracking: ChronyTracking | None,
                       has_rtc: bool, rtc_error_us: int = RTC_ERROR_US) -> tuple[str, int | None]:
    """(source, error bound in microseconds or None for unbounded).

    chrony synchronised: its reference names the source, its bound is the error. No answer
    from chrony but a kernel clock marked synchronised: some daemon that did not say how
    (systemd-timesyncd on a workstation) keeps it, named ntp, with the kernel's maxerror.
    Otherwise the clock runs from what the RTC gave it at boot (assumed rtc_error_us), or
    from nothing.
    """
    if tracking is not None and tracking.synchronized:
        return reference_source(tracking.ref_name), _microseconds_up(tracking.error_bound_s)
    if tracking is None and kernel is not None and kernel.synchronized:
        return "ntp", kernel.maxerror_us
    if has_rtc:
        return "rtc", rtc_error_us
    return "none", None


def read_system_time_source(timeout_s: float = 1.0) -> tuple[str, int | None]:
    """system_time_source on this machine's kernel, chronyd and RTC."""
    return system_time_source(kernel_time_status(), read_chrony_tracking(timeout_s), has_rtc())


def _microseconds_up(seconds: float) -> int:
    # A bound is never rounded down; whole nanoseconds first, so float noise adds nothing.
    return -(-round(seconds * 1e9) // 1000)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class SystemDiscipline:
    """SystemClock's discipline() (clock.py): the system clock's source and error bound
    as chrony and the kernel say (recorder/systime.py), asked at most every ASK_NS (chronyc
    is a process); in between, the bound last told grows at the clock's drift, so it is
    never stated smaller than it may have become.

    The first answer is waited for (the agent starts with it); later ones are asked on a
    thread of their own (`ask_in_background(fn)`), because the caller is the run loop and a
    chronyc that takes its whole timeout must not hold it. Until the answer comes, the old
    one keeps growing from when it was asked."""

    ASK_NS = 16_000_000_000

    def __init__(self, drift_ppb: int, read=None, monotonic_ns=None, ask_in_background=None):
        self._drift_ppb = drift_ppb
        self._read = read or read_system_time_source
        self._monotonic_ns = monotonic_ns or time.monotonic_ns
        self._ask_in_background = ask_in_background or _on_a_daemon_thread
        self._lock = threading.Lock()
        self._asking = False
        self._asked_ns = self._monotonic_ns()
        self._told = self._answer()

    def _answer(self) -> tuple[str, int | None]:
        source, error_us = self._read()
        return source, None if error_us is None else error_us * 1000

    def _ask(self, asked_ns: int) -> None:
        try:
            told = self._answer()
        except Exception:  # a failed ask leaves the old answer growing; asked again later
            told = None
        with self._lock:
            if told is not None:
                self._told, self._asked_ns = told, asked_ns
            self._asking = False

    def __call__(self) -> tuple[str, int | None]:
        now = self._monotonic_ns()
        with self._lock:
            due = not self._asking and now - self._asked_ns >= self.ASK_NS
            if due:
                self._asking = True
        if due:
            self._ask_in_background(lambda: self._ask(now))
        with self._lock:
            (source, error_ns), asked_ns = self._told, self._asked_ns
        if error_ns is None:
            return source, None
        return source, error_ns + (now - asked_ns) * self._drift_ppb // 1_000_000_000


def _on_a_daemon_thread(fn) -> None:
    threading.Thread(target=fn, name="system-discipline", daemon=True).start()
