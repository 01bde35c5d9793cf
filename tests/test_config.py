from pathlib import Path

import pytest

from recorder.config import Config, config_from_dict, load_config
from recorder.errors import ConfigError


def test_defaults_match_the_documented_ones():
    config = Config()
    assert (config.video.width, config.video.height, config.video.fps) == (1280, 720, 30)
    assert config.video.gop_seconds == 1 and config.segments.seconds == 60
    assert config.prerecord.seconds == 30 and config.prerecord.audio is False


def test_file_overrides(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text("[video]\nfps = 25\n[prerecord]\nseconds = 0\n")
    config = load_config(path)
    assert config.video.fps == 25 and config.prerecord.seconds == 0
    assert config.video.width == 1280


@pytest.mark.parametrize(
    "data, name",
    [
        ({"prerecord": {"seconds": -1}}, "prerecord.seconds"),
        ({"prerecord": {"seconds": 121}}, "prerecord.seconds"),
        ({"video": {"fps": True}}, "video.fps"),
        ({"audio": {"codec": "mp3"}}, "audio.codec"),
        ({"audio": {"codec": "opus", "sample_rate": 44100}}, "audio.sample_rate"),
        ({"device": {"officer": "x"}}, "device.officer"),
        ({"device": 3}, "[device]"),
        ({"osd": {"font": ""}}, "osd.font"),
        ({"osd": {"font": 3}}, "osd.font"),
    ],
)
def test_invalid_settings_name_the_setting(data, name):
    with pytest.raises(ConfigError, match=name.replace("[", r"\[").replace("]", r"\]")):
        config_from_dict(data)
