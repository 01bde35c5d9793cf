"""[power] and [storage]: defaults, the bounds the standard and the reserve set, and the
README's configuration block saying the same as the code."""

import re
import tomllib
from pathlib import Path

import pytest

from recorder.config import Config, config_from_dict, minimum_storage_reserve
from recorder.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def test_defaults():
    power, storage = Config().power, Config().storage
    assert (power.supply, power.warn_minutes, power.second_warn_minutes, power.critical_minutes) == ("auto", 15, 5, 2)
    assert (storage.warn_minutes, storage.reserve_mb, storage.resume_minutes) == (10, 64, 5)


@pytest.mark.parametrize("minutes, ok", [(4, False), (5, True), (15, True), (30, True), (31, False)])
def test_the_first_warning_lies_in_the_standards_window(minutes, ok):
    """GA/T 947, as vendors quote it: the low-battery alarm while at least 5 and at most 30
    minutes of recording remain."""
    data = {"power": {"warn_minutes": minutes, "second_warn_minutes": 0}}
    if ok:
        assert config_from_dict(data).power.warn_minutes == minutes
    else:
        with pytest.raises(ConfigError, match="power.warn_minutes"):
            config_from_dict(data)


@pytest.mark.parametrize("power, match", [
    ({"second_warn_minutes": 15}, "power.second_warn_minutes"),
    ({"second_warn_minutes": 2}, "power.second_warn_minutes"),
    ({"warn_minutes": 5, "second_warn_minutes": 0, "critical_minutes": 5}, "power.critical_minutes"),
    ({"critical_minutes": 0}, "power.critical_minutes"),
    ({"supply": "power_supply/BAT0"}, "power.supply"),
    ({"supply": 1}, "power.supply"),
    ({"simulated_level": 1.5}, "power.simulated_level"),
    ({"flavour": "lithium"}, "power.flavour"),
])
def test_bad_power_settings_name_the_setting(power, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"power": power})


@pytest.mark.parametrize("supply", ["auto", "", "simulated", "BAT0", "bq27441-0", "/sys/class/power_supply/BAT1"])
def test_supply_names(supply):
    assert config_from_dict({"power": {"supply": supply}}).power.supply == supply


def test_no_second_warning():
    assert config_from_dict({"power": {"second_warn_minutes": 0}}).power.second_warn_minutes == 0


def test_the_reserve_must_hold_what_sealing_at_the_floor_needs():
    """The default (64 MiB) is more than twice what the default video, audio and pre-record
    need (~30 MiB: 30 s of pre-record and 10 s of recording at 1.5 × 4.1 Mbit/s, and 1 MiB);
    a smaller reserve, or a bigger pre-record, is refused with the size it needs."""
    needed = minimum_storage_reserve(Config())
    assert 29 * MIB < needed < 31 * MIB and Config().storage.reserve_mb * MIB >= 2 * needed
    with pytest.raises(ConfigError, match=r"storage.reserve_mb = 16 is too small .* at least 31 MiB"):
        config_from_dict({"storage": {"reserve_mb": 16}})
    with pytest.raises(ConfigError, match="storage.reserve_mb = 64 is too small"):
        config_from_dict({"video": {"bitrate": 12_000_000}, "prerecord": {"seconds": 60}})
    big = config_from_dict({"video": {"bitrate": 12_000_000}, "prerecord": {"seconds": 60},
                            "storage": {"reserve_mb": 128}})
    assert minimum_storage_reserve(big) <= 128 * MIB
    small = config_from_dict({"video": {"bitrate": 600_000}, "prerecord": {"seconds": 3}, "storage": {"reserve_mb": 3}})
    assert minimum_storage_reserve(small) <= 3 * MIB


def test_the_readme_documents_the_sections_as_they_are():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Configuration.*?```toml\n(.*?)```", readme, re.S).group(1)
    documented = tomllib.loads(block)
    for section in ("power", "storage"):
        assert documented[section] == Config().as_dict()[section], section
