"""The board's serial number, for the enrolment request: the device tree's (Raspberry Pi OS
on every Pi model with a device tree), else /proc/cpuinfo's `Serial` line (older kernels).
The paths are parameters, so tests and other boards can name theirs."""

from pathlib import Path

DEVICE_TREE_SERIAL = Path("/sys/firmware/devicetree/base/serial-number")
CPUINFO = Path("/proc/cpuinfo")


def hardware_serial(device_tree: Path = DEVICE_TREE_SERIAL, cpuinfo: Path = CPUINFO) -> str | None:
    """The serial as the board states it (trailing NULs and spaces dropped), or None."""
    try:
        serial = Path(device_tree).read_bytes().rstrip(b"\0").decode("ascii", "replace").strip()
        if serial:
            return serial
    except OSError:
        pass
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == "Serial" and value.strip():
                return value.strip()
    except OSError:
        pass
    return None
