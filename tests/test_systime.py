"""recorder/systime.py and the device's time configuration (hw/chrony, hw/gpsd).

Nothing here can change the machine's clock: the kernel is only read through systime (modes
= 0, checked below with a stand-in for the C call), chronyd runs only with -p (print the
configuration and exit, before it opens the clock; chrony >= 4.0) and -x (no clock control,
should -p ever be ignored), and no chronyd or gpsd is started.
"""

import ctypes
import math
import re
import subprocess
from pathlib import Path

import pytest

from conftest import require_tool
from recorder import systime
from recorder.systime import ChronyTracking, KernelTimeStatus, TimexStatus

ROOT = Path(__file__).resolve().parent.parent
CHRONY_CONF = ROOT / "hw" / "chrony" / "recorder.conf"
GPSD_DEFAULTS = ROOT / "hw" / "gpsd" / "gpsd"

# `chronyc -c tracking` lines. No chronyd can run here (it would discipline this machine's
# clock), so these are written from chrony 4.3's own format: client.c process_cmd_tracking
# and print_report in CSV mode (reference ID as %08X; the name is a refclock's reference ID
# or the server's IP address, never resolved; the reference time as seconds.nanoseconds;
# offsets %.9f, ppm %.3f, the interval %.1f; the leap status in words), and the values
# reference.c reports when unsynchronised (ID 0, no name, stratum 0, root delay and
# dispersion 1 s) or in local mode (7F7F0101).
TRACKING = {
    # hw/chrony/recorder.conf's PPS refclock (gpsd's socket): "PPS" is 50 50 53 00
    "pps": "50505300,PPS,1,1764756012.345678901,0.000000213,-0.000000087,0.000000412,"
           "-7.832,0.001,0.024,0.000000001,0.000012087,4.0,Normal",
    # the NMEA refclock alone (no pulse): its delay 0.2 is the root delay
    "nmea": "4E4D4541,NMEA,1,1764756012.004512733,-0.000312466,0.001204551,0.004871200,"
            "-7.790,-0.052,1.874,0.200000000,0.001234567,16.0,Normal",
    # a refclock left with chrony's default ID (driver name's three letters and its index)
    "shm0": "53484D30,SHM0,1,1764756012.004512733,0.000401000,0.001204551,0.004871200,"
            "-7.790,-0.052,1.874,0.000000001,0.001234567,16.0,Normal",
    # an NTP server on the dock's network (IPv4: the ID is the address, 192.0.2.10)
    "ntp": "C000020A,192.0.2.10,2,1764755990.512009871,-0.000051204,-0.000060311,0.000210007,"
           "-7.911,0.004,0.310,0.012004511,0.000873321,64.2,Normal",
    # an IPv6 server: the ID is the first 32 bits of the address's MD5
    "ntp6": "6A3F8B11,2001:db8::123,3,1764755990.512009871,0.000120000,0.000110000,0.000210007,"
            "-7.911,0.004,0.310,0.020000000,0.003000000,64.2,Normal",
    # just started, no source yet (the frequency comes from the drift file)
    "unsynchronised": "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,"
                      "-7.832,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised",
    # `local stratum 10`: a Normal leap status, but no reference
    "local": "7F7F0101,,10,1764756000.000000000,0.000000000,0.000000000,0.000000000,"
             "-7.832,0.000,0.000,0.000000000,0.000000000,0.0,Normal",
}


def tracking(name) -> ChronyTracking:
    parsed = systime.chrony_tracking(TRACKING[name] + "\n")
    assert parsed is not None
    return parsed


def kernel(synchronized=True, maxerror_us=5_000, bits=0x2001) -> KernelTimeStatus:
    bits = bits & ~0x40 if synchronized else bits | 0x40
    return KernelTimeStatus(synchronized, maxerror_us, 10, TimexStatus.from_bits(bits), bits,
                            "TIME_OK" if synchronized else "TIME_ERROR", 37)


# --- The kernel ---------------------------------------------------------------------------


def test_the_kernel_clock_status_is_read_here():
    status = systime.kernel_time_status()
    assert status is not None
    assert status.clock_state in systime.CLOCK_STATES.values()
    assert status.synchronized == (not status.status.unsync)
    assert 0 <= status.esterror_us and 0 <= status.maxerror_us
    assert status.status == TimexStatus.from_bits(status.status_bits)


class FakeClockAdjtime:
    """Stands in for clock_adjtime: records what it was asked, answers like a PPS-fed kernel."""

    def __init__(self, struct, result=0):
        self.struct, self.result, self.calls = struct, result, []

    def __call__(self, clock_id, timex):
        assert isinstance(timex, self.struct)
        self.calls.append((clock_id, timex.modes))
        timex.status, timex.maxerror, timex.esterror, timex.tai = 0x2107, 1_234, 56, 37
        return self.result


@pytest.mark.parametrize("struct", [systime.TIMEX_32, systime.TIMEX_64])
def test_the_kernel_is_asked_with_modes_zero_and_the_answer_decoded(monkeypatch, struct):
    fake = FakeClockAdjtime(struct)
    monkeypatch.setattr(systime, "_kernel_reader", lambda: (fake, struct))
    status = systime.kernel_time_status()
    assert fake.calls == [(systime.CLOCK_REALTIME, 0)]
    assert status == KernelTimeStatus(
        synchronized=True, maxerror_us=1_234, esterror_us=56, status=TimexStatus.from_bits(0x2107),
        status_bits=0x2107, clock_state="TIME_OK", tai_offset_s=37)
    assert (status.status.pll, status.status.pps_freq, status.status.pps_time, status.status.pps_signal,
            status.status.nano, status.status.unsync, status.status.pps_jitter) == (
        True, True, True, True, True, False, False)


def test_a_failed_read_is_none(monkeypatch):
    fake = FakeClockAdjtime(systime.TIMEX_64, result=-1)
    monkeypatch.setattr(systime, "_kernel_reader", lambda: (fake, systime.TIMEX_64))
    assert systime.kernel_time_status() is None
    monkeypatch.setattr(systime, "_kernel_reader", lambda: None)
    assert systime.kernel_time_status() is None


def test_the_unsync_bit_and_the_clock_state():
    timex = systime.TIMEX_64(status=0x2040, maxerror=16_000_000, esterror=16_000_000)
    status = systime.kernel_status_from_timex(timex, 5)
    assert (status.synchronized, status.clock_state, status.maxerror_us) == (False, "TIME_ERROR", 16_000_000)
    assert status.status.unsync and status.status.nano and not status.status.pps_signal


# --- struct timex against the C compilers ---------------------------------------------------------


STRICT = ["-Werror=implicit-function-declaration"]  # an undeclared clock_adjtime is not the header's


def c_layout_program(struct) -> str:
    """C that fills timex_layout[] with sizeof(struct timex) and the offsets of struct's fields."""
    names = [name for name, _ in struct._fields_ if not name.startswith("_")]
    offsets = "".join(f"  offsetof(struct timex, {name}),\n" for name in names)
    return ("#define _GNU_SOURCE\n"  # clock_adjtime is a GNU extension of <time.h>
            "#include <stddef.h>\n#include <stdio.h>\n#include <time.h>\n#include <sys/timex.h>\n"
            f"const unsigned int timex_layout[] = {{\n  sizeof(struct timex),\n{offsets}}};\n"
            "int read_clock(struct timex *t) { return clock_adjtime(CLOCK_REALTIME, t); }\n")


def ctypes_layout(struct) -> list[int]:
    return [ctypes.sizeof(struct)] + [getattr(struct, name).offset
                                      for name, _ in struct._fields_ if not name.startswith("_")]


def test_the_struct_used_here_is_the_c_librarys(tmp_path):
    """sizeof and every field's offset, from a program compiled against this machine's headers."""
    gcc = require_tool("gcc")
    function, struct = systime._kernel_reader()
    source = tmp_path / "timex.c"
    source.write_text(c_layout_program(struct) + """
int main(void) {
  for (size_t i = 0; i < sizeof timex_layout / sizeof timex_layout[0]; i++) printf("%u\\n", timex_layout[i]);
  return 0;
}
""")
    subprocess.run([gcc, *STRICT, "-o", tmp_path / "timex", source], check=True, capture_output=True)
    printed = subprocess.run([tmp_path / "timex"], check=True, capture_output=True, text=True).stdout
    assert [int(value) for value in printed.split()] == ctypes_layout(struct)
    if ctypes.sizeof(ctypes.c_long) == 8:
        assert struct is systime.TIMEX_64 and ctypes.sizeof(struct) == 208


def armhf_assembly(tmp_path, struct, *flags) -> str:
    source = tmp_path / "timex.c"
    source.write_text(c_layout_program(struct))
    return subprocess.run([require_tool("arm-linux-gnueabihf-gcc"), *STRICT, *flags, "-O1", "-S", "-o", "-", source],
                          check=True, capture_output=True, text=True).stdout


def words_after(label: str, assembly: str) -> list[int]:
    block = assembly.split(f"{label}:", 1)[1]
    return [int(value) for value in re.findall(r"^\s*\.word\s+(\d+)\s*$", block.split(".size", 1)[0], re.M)]


@pytest.mark.parametrize("struct, flags, symbol", [
    # 32-bit Raspberry Pi OS as built: 32-bit time_t, glibc's clock_adjtime
    (systime.TIMEX_32, [], "clock_adjtime"),
    # the same with 64-bit time: glibc >= 2.34's __clock_adjtime64, which systime prefers
    (systime.TIMEX_64, ["-D_TIME_BITS=64", "-D_FILE_OFFSET_BITS=64"], "__clock_adjtime64"),
], ids=["time32", "time64"])
def test_the_32_bit_arm_layouts_and_symbols(tmp_path, struct, flags, symbol):
    """The Pi Zero 2 W may run 32-bit Raspberry Pi OS: Debian's armhf cross compiler lays out
    its struct timex (read from the assembly, nothing is run) and names the function its
    clock_adjtime calls; systime's ctypes structs and symbol names must match."""
    assembly = armhf_assembly(tmp_path, struct, *flags)
    assert words_after("timex_layout", assembly) == ctypes_layout(struct)
    assert re.search(rf"\bb(l)?\s+{re.escape(symbol)}\b", assembly), assembly


# --- chrony's tracking --------------------------------------------------------------------------


def test_a_pps_line_parses_field_by_field():
    parsed = tracking("pps")
    assert parsed == ChronyTracking(
        ref_id=0x50505300, ref_name="PPS", stratum=1, ref_time_s=1764756012.345678901,
        system_time_offset_s=0.000000213, last_offset_s=-0.000000087, rms_offset_s=0.000000412,
        frequency_ppm=-7.832, residual_freq_ppm=0.001, skew_ppm=0.024, root_delay_s=0.000000001,
        root_dispersion_s=0.000012087, update_interval_s=4.0, leap_status="Normal")
    assert parsed.synchronized
    assert parsed.error_bound_s == pytest.approx(0.000000213 + 0.000012087 + 0.0000000005)


@pytest.mark.parametrize("name, ref_name, stratum, synchronized", [
    ("nmea", "NMEA", 1, True),
    ("shm0", "SHM0", 1, True),
    ("ntp", "192.0.2.10", 2, True),
    ("ntp6", "2001:db8::123", 3, True),
    ("unsynchronised", "", 0, False),
    ("local", "", 10, False),
])
def test_every_kind_of_line_parses(name, ref_name, stratum, synchronized):
    parsed = tracking(name)
    assert (parsed.ref_name, parsed.stratum, parsed.synchronized) == (ref_name, stratum, synchronized)


def test_an_offset_counts_whatever_its_sign():
    ahead, behind = tracking("nmea"), tracking("shm0")
    assert ahead.error_bound_s == pytest.approx(0.000312466 + 0.001234567 + 0.1)
    assert behind.error_bound_s == pytest.approx(0.000401 + 0.001234567 + 0.0000000005)


def test_a_reference_id_with_a_comma_keeps_its_name():
    parsed = systime.chrony_tracking(TRACKING["pps"].replace("50505300,PPS,", "47502C31,GP,1,", 1))
    assert (parsed.ref_id, parsed.ref_name, parsed.stratum) == (0x47502C31, "GP,1", 1)


@pytest.mark.parametrize("text", [
    "", "\n", "506 Cannot talk to daemon\n", "501 Not authorised\n",
    TRACKING["pps"].rsplit(",", 2)[0],  # cut short
    TRACKING["pps"].replace("50505300", "PPS"),  # not hex
    TRACKING["pps"].replace(",1,", ",one,", 1),
])
def test_anything_else_is_none(text):
    assert systime.chrony_tracking(text) is None


def fake_chronyc(tmp_path, body: str) -> str:
    script = tmp_path / "chronyc"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_reading_chronyc(tmp_path):
    arguments = tmp_path / "arguments"
    chronyc = fake_chronyc(tmp_path, f'echo "$@" > {arguments}; echo "{TRACKING["ntp"]}"')
    assert systime.read_chrony_tracking(chronyc=chronyc) == tracking("ntp")
    assert arguments.read_text().split() == ["-c", "tracking"]


@pytest.mark.parametrize("body", [
    'echo "506 Cannot talk to daemon" >&2; exit 1',  # chronyd not running
    "exec sleep 5",  # chronyd not answering
    "echo garbage",
])
def test_no_answer_from_chronyc_is_none(tmp_path, body):
    assert systime.read_chrony_tracking(timeout_s=0.5, chronyc=fake_chronyc(tmp_path, body)) is None


def test_no_chronyc_is_none(tmp_path):
    assert systime.read_chrony_tracking(chronyc=str(tmp_path / "no-chronyc")) is None


def test_the_real_chronyc_answers_or_is_none():
    """Here chronyd does not run: None. On a machine where it does, a parsed line."""
    answer = systime.read_chrony_tracking()
    assert answer is None or isinstance(answer, ChronyTracking)


# --- The source and its bound -----------------------------------------------------------------


def microseconds_up(seconds: float) -> int:
    return math.ceil(round(seconds * 1e9) / 1000)


@pytest.mark.parametrize("name, source", [
    ("pps", "gnss+pps"), ("nmea", "gnss"), ("shm0", "gnss"), ("ntp", "ntp"), ("ntp6", "ntp"),
])
def test_chrony_synchronised_names_the_source_and_bounds_the_error(name, source):
    line = tracking(name)
    for has_rtc in (True, False):
        for kernel_status in (kernel(True), kernel(False), None):
            assert systime.system_time_source(kernel_status, line, has_rtc) == (
                source, microseconds_up(line.error_bound_s))


def test_the_bounds_in_microseconds():
    assert systime.system_time_source(None, tracking("pps"), True) == ("gnss+pps", 13)
    assert systime.system_time_source(None, tracking("nmea"), True) == ("gnss", 101548)


@pytest.mark.parametrize("ref_name, source", [
    ("PPS", "gnss+pps"), ("PPS0", "gnss+pps"), ("PPS1", "gnss+pps"),
    ("NMEA", "gnss"), ("GPS", "gnss"), ("SHM0", "gnss"), ("SHM1", "gnss"), ("SOC0", "gnss"), ("SOC1", "gnss"),
    ("10.0.0.1", "ntp"), ("fe80::1", "ntp"), ("ntp.dock.example", "ntp"),
])
def test_reference_names(ref_name, source):
    assert systime.reference_source(ref_name) == source


@pytest.mark.parametrize("kernel_status, line, has_rtc, expected", [
    # chrony answers but has no reference: the clock runs on what the RTC gave it, or nothing
    (kernel(False), "unsynchronised", True, ("rtc", systime.RTC_ERROR_US)),
    (kernel(False), "unsynchronised", False, ("none", None)),
    (kernel(False), "local", True, ("rtc", systime.RTC_ERROR_US)),
    (kernel(False), "local", False, ("none", None)),
    # chrony's "not synchronised" outweighs a kernel flag left clear
    (kernel(True), "unsynchronised", False, ("none", None)),
    # no chrony: a kernel clock kept by some other daemon, with the kernel's bound
    (kernel(True, maxerror_us=48_000), None, True, ("ntp", 48_000)),
    (kernel(True, maxerror_us=48_000), None, False, ("ntp", 48_000)),
    (kernel(False), None, True, ("rtc", systime.RTC_ERROR_US)),
    (kernel(False), None, False, ("none", None)),
    (None, None, True, ("rtc", systime.RTC_ERROR_US)),
    (None, None, False, ("none", None)),
])
def test_without_a_reference(kernel_status, line, has_rtc, expected):
    chrony = tracking(line) if line else None
    assert systime.system_time_source(kernel_status, chrony, has_rtc) == expected


def test_the_rtc_assumption_is_a_parameter():
    assert systime.system_time_source(None, None, True, rtc_error_us=5_000_000) == ("rtc", 5_000_000)
    assert systime.RTC_ERROR_US == 2_000_000


def test_has_rtc(tmp_path):
    sys_rtc, dev_rtc = tmp_path / "sys-rtc0", tmp_path / "rtc0"
    assert not systime.has_rtc((sys_rtc, dev_rtc))
    dev_rtc.touch()
    assert systime.has_rtc((sys_rtc, dev_rtc))
    assert systime.has_rtc() in (True, False)  # this machine's, whatever it has


def test_this_machine_gets_an_answer():
    source, error_us = systime.read_system_time_source()
    assert source in systime.SOURCES
    assert (error_us is None) == (source == "none")


# --- The shipped configuration ----------------------------------------------------------------------


def chronyd_print_mode() -> str:
    chronyd = require_tool("chronyd")
    version = subprocess.run([chronyd, "-v"], capture_output=True, text=True, timeout=10).stdout
    major = re.search(r"version (\d+)\.", version)
    if major is None or int(major.group(1)) < 4:
        pytest.skip(f"chronyd -p (print the configuration) needs chrony 4.0 or later: {version!r}")
    return chronyd


def chronyd_parse(chronyd: str, conf: Path, cwd: Path) -> subprocess.CompletedProcess:
    """chronyd -p: parse, print, exit, before any clock or socket is opened (main.c)."""
    return subprocess.run([chronyd, "-p", "-x", "-f", str(conf)], capture_output=True, text=True,
                          timeout=10, cwd=cwd, stdin=subprocess.DEVNULL)


def refclocks(printed: str) -> dict[str, list[str]]:
    """refid -> the refclock directive's words."""
    found = {}
    for line in printed.splitlines():
        words = line.split()
        if words[:1] == ["refclock"]:
            found[words[words.index("refid") + 1]] = words
    return found


def test_chronyd_accepts_the_shipped_configuration(tmp_path):
    chronyd = chronyd_print_mode()
    result = chronyd_parse(chronyd, CHRONY_CONF, tmp_path)
    assert result.returncode == 0, result.stderr
    clocks = refclocks(result.stdout)
    assert clocks["NMEA"][1:3] == ["SHM", "0"]
    assert clocks["PPS"][1:3] == ["SOCK", "/run/chrony.pps0.sock"] and "trust" in clocks["PPS"]
    directives = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.strip()}
    assert directives["makestep"] == ["1", "3"]
    assert "rtcsync" in directives and "driftfile" in directives
    assert "pool" not in directives and "server" not in directives


def test_chronyds_parse_has_teeth(tmp_path):
    chronyd = chronyd_print_mode()
    broken = tmp_path / "broken.conf"
    broken.write_text(CHRONY_CONF.read_text().replace("refid PPS", "refid PPS lockk NMEA"))
    result = chronyd_parse(chronyd, broken, tmp_path)
    assert result.returncode != 0 and "Invalid refclock option" in result.stderr


def test_the_refclocks_name_the_sources_systime_expects():
    clocks = refclocks(CHRONY_CONF.read_text())
    assert {refid: systime.reference_source(refid) for refid in clocks} == {"NMEA": "gnss", "PPS": "gnss+pps"}


def gpsd_defaults() -> dict[str, str]:
    bash = require_tool("bash")
    subprocess.run([bash, "-n", str(GPSD_DEFAULTS)], check=True)
    printed = subprocess.run(
        [bash, "-c", 'set -eu; . "$1"; printf "%s\\n" "$DEVICES" "$GPSD_OPTIONS" "$USBAUTO"', "gpsd",
         str(GPSD_DEFAULTS)], check=True, capture_output=True, text=True, env={}).stdout
    devices, options, usbauto = printed.splitlines()
    return {"DEVICES": devices, "GPSD_OPTIONS": options, "USBAUTO": usbauto}


def test_the_gpsd_defaults_are_shell_with_the_settings():
    settings = gpsd_defaults()
    assert settings["DEVICES"].split() == ["/dev/serial0", "/dev/pps0"]
    assert "-n" in settings["GPSD_OPTIONS"].split()
    assert settings["USBAUTO"] == "false"


def test_chrony_listens_where_gpsd_sends_the_pulses():
    """gpsd sends a PPS device's pulses to /run/chrony.<its name>.sock (gpsd 3.22)."""
    pps_devices = [device for device in gpsd_defaults()["DEVICES"].split() if device.startswith("/dev/pps")]
    sockets = {words[2] for words in refclocks(CHRONY_CONF.read_text()).values() if words[1] == "SOCK"}
    assert sockets == {f"/run/chrony.{Path(device).name}.sock" for device in pps_devices}
