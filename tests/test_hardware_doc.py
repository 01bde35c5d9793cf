"""hw/ describes the hardware the code expects: the pinout's defaults are the settings'
defaults, no pin has two owners, config.txt's overlay pins are the pinout's, the wiring
drawing puts each GPIO on its header pin, and every overlay named is a real one."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from recorder.config import Config
from recorder.config.pins import resolve_pin
from recorder.config.settings import PIN_SETTINGS

HW = Path(__file__).resolve().parent.parent / "hw"

# Overlays and dtparams of Raspberry Pi's kernel tree (raspberrypi/linux,
# arch/arm/boot/dts/overlays/README and *-overlay.dts; the same README is
# /boot/firmware/overlays/README on the device), as of the rpi-6.6.y/6.12.y branches.
# A fixed list: CI has no Raspberry Pi firmware to look in. Add a name here only after
# finding it in that README.
KNOWN_OVERLAYS = {
    "adau7002-simple", "disable-bt", "googlevoicehat-soundcard", "gpio-shutdown", "i2c-rtc",
    "imx219", "imx477", "imx708", "max98357a", "miniuart-bt", "pps-gpio", "uart0-pi5",
}
KNOWN_DTPARAMS = {"i2c_arm", "audio", "i2s", "spi"}
# config.txt's model filters (Raspberry Pi documentation, config_txt/conditional.adoc:
# [pi0] is Zero, Zero W and Zero 2 W; [pi4] includes the CM4).
KNOWN_SECTIONS = {"all", "pi0", "pi4", "pi5", "cm4"}
# Overlay parameters that name a GPIO.
PIN_PARAMETERS = ("gpiopin", "gpio_pin", "sdmode-pin")
# Pins an interface takes without naming them: (key, name) -> (interface, GPIO numbers).
FIXED_PINS = {
    ("dtparam", "i2c_arm"): ("i2c", {2, 3}),
    ("enable_uart", "1"): ("uart", {14, 15}),
    ("dtoverlay", "uart0-pi5"): ("uart", {14, 15}),
    ("dtoverlay", "adau7002-simple"): ("i2s", {18, 19, 20}),
}


def table(text: str, heading: str) -> list[dict[str, str]]:
    """The first markdown table after `heading`, as rows of column name -> cell."""
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    head, body = rows[0], rows[2:]
    return [dict(zip(head, row)) for row in body]


def gpio(cell: str) -> int | None:
    found = re.fullmatch(r"GPIO(\d+)", cell)
    return int(found.group(1)) if found else None


PINOUT = (HW / "pinout.md").read_text()
SETTINGS_ROWS = table(PINOUT, "## Recorder settings")
SYSTEM_ROWS = table(PINOUT, "## System pins")


def config_lines() -> list[tuple[str, str, str]]:
    """config.txt's active lines as (section, key, value), comments dropped."""
    section, out = "all", []
    for raw in (HW / "config.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line.strip("[]")
            assert section in KNOWN_SECTIONS, raw
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def test_the_pinout_names_every_pin_setting_with_its_default():
    config = Config()
    documented = {}
    for row in SETTINGS_ROWS:
        section, key = row["setting"].strip("`").split(".")
        documented[(section, key)] = row["default"]
        default = getattr(getattr(config, section), key)
        if default == "":
            assert row["default"].startswith("none"), row
        else:
            assert resolve_pin(row["setting"], default) == gpio(row["default"]), row
            # and the header pin is that GPIO's
            assert resolve_pin("header", f"BOARD{row['header pin']}") == gpio(row["default"]), row
    assert set(documented) == PIN_SETTINGS
    # every pin field of the sections is a PIN_SETTING (a new one must be documented too)
    for section in ("buttons", "cues"):
        for f in fields(getattr(config, section)):
            if isinstance(f.default, str) and (f.default.startswith("GPIO") or f.name == "trigger"):
                assert (section, f.name) in PIN_SETTINGS


def test_the_system_pins_sit_on_their_header_pins():
    for row in SYSTEM_ROWS:
        assert resolve_pin("header", f"BOARD{row['header pin']}") == gpio(row["pin"]), row


def owners() -> dict[int, list[str]]:
    """GPIO -> the functions the pinout gives it (settings' defaults and system pins)."""
    out: dict[int, list[str]] = {}
    for row in SETTINGS_ROWS + SYSTEM_ROWS:
        number = gpio(row.get("default", row.get("pin", "")))
        if number is not None:
            out.setdefault(number, []).append(row["function"])
    return out


def test_no_pin_has_two_functions():
    shared = {n: names for n, names in owners().items() if len(names) > 1}
    assert not shared


def test_settings_stay_off_the_system_pins():
    # PPS GPIO4, I2C 2/3, UART 14/15, I2S 18-21, the power button: none is a setting's default
    system = {gpio(row["pin"]) for row in SYSTEM_ROWS}
    assert {4, 2, 3, 14, 15, 18, 19, 20, 21, 26} <= system
    defaults = {gpio(row["default"]) for row in SETTINGS_ROWS} - {None}
    assert not defaults & system


def test_config_txt_names_known_overlays_only():
    for section, key, value in config_lines():
        name = value.split(",")[0]
        if key == "dtoverlay":
            assert name in KNOWN_OVERLAYS, value
        elif key == "dtparam":
            assert name.split("=")[0] in KNOWN_DTPARAMS, value


def test_config_txt_pins_are_the_pinout_ones():
    system = {gpio(row["pin"]): row for row in SYSTEM_ROWS}
    interfaces: dict[int, set[str]] = {}
    for section, key, value in config_lines():
        name, *params = value.split(",")
        interface, pins = FIXED_PINS.get((key, name.split("=")[0]), (name, set()))
        pins = set(pins)
        for param in params:
            param_name, _, number = param.partition("=")
            if param_name in PIN_PARAMETERS:
                pins.add(int(number))
                # the pinout names this very overlay line's pin
                assert f"{name},{param}" in system[int(number)]["overlay / setting in config.txt"], value
        for pin in pins:
            assert pin in system, f"{value}: GPIO{pin} is not in pinout.md's system pins"
            interfaces.setdefault(pin, set()).add(interface)
    assert {n: i for n, i in interfaces.items() if len(i) > 1} == {}
    assert set(interfaces) >= {2, 3, 4, 14, 15, 18, 19, 20, 26}


def test_the_option_overlays_move_what_they_collide_with():
    # googlevoicehat-soundcard drives SD_MODE on GPIO16 (cues.vibration's default) and
    # max98357a's SD_MODE defaults to GPIO4 (the PPS): neither is enabled, and the files say so
    enabled = {value.split(",")[0] for _, key, value in config_lines() if key == "dtoverlay"}
    assert not enabled & {"googlevoicehat-soundcard", "max98357a"}
    # uart0-pi5's ctsrts would take GPIO16/17 (vibration, RECORD)
    assert not any("ctsrts" in value for _, _, value in config_lines())
    text = (HW / "config.txt").read_text()
    assert "GPIO16" in text and "GPIO24" in text
    assert "GPIO4" in PINOUT and "no-sdmode" in PINOUT


HEADER_PAIR = re.compile(r"GPIO(\d+)\s+\[\s*(\d+)\]|\[\s*(\d+)\]\s+GPIO(\d+)")


def test_the_wiring_drawing_puts_each_gpio_on_its_pin():
    text = (HW / "wiring.md").read_text()
    drawing = text[text.index("## The header"):text.index("## Each part")]
    seen = {}
    for found in HEADER_PAIR.finditer(drawing):
        number, pin = (found.group(1), found.group(2)) if found.group(1) else (found.group(4), found.group(3))
        assert resolve_pin("header", f"BOARD{pin}") == int(number), found.group(0)
        seen[int(number)] = int(pin)
    assert len(seen) == 28  # GPIO0..27, each once
    pins = [int(p) for p in re.findall(r"\[\s*(\d+)\]", drawing)]
    assert sorted(pins) == list(range(1, 41))


@pytest.mark.parametrize("name", ["wiring.md", "config.txt", "BOM.md"])
def test_other_files_name_pins_only_as_the_pinout_does(name):
    # "GPIOn ... <function>" in another file must not give a used pin to something else:
    # every GPIO they mention is either the pinout's or listed as free there
    used = owners()
    free = {int(n) for n in re.findall(r"GPIO(\d+)", PINOUT[PINOUT.index("## Free pins"):])}
    free |= set(range(7, 12)) | {0, 1}
    for number in {int(n) for n in re.findall(r"GPIO(\d+)", (HW / name).read_text())}:
        assert number in used or number in free, f"{name} mentions GPIO{number}"
