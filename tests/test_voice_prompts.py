"""The prompt catalogue: every cause has a text and a shipped rendering in both languages, each
shipped WAV is exactly what espeak-ng makes of its text today, and the package ships them."""

import tomllib
import wave
from pathlib import Path

import numpy as np
import pytest

from conftest import require_tool
from recorder.config import Config, config_from_dict
from recorder.config.settings import LIMITS
from recorder.errors import ConfigError, RecorderError
from recorder.voice import prompts
from recorder.voice.prompts import DEFAULT_LANGUAGE, LANGUAGES, VoiceError, catalogue, prompt_audio, prompt_text

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "recorder" / "voice"
CAUSES = ("battery", "storage", "fault", "power_loss", "crash")  # the interruption causes (the issue)
EVERY = [(key, language) for language in LANGUAGES for key in catalogue().keys]


def test_every_cause_has_a_prompt_in_both_languages_and_zh_cn_is_the_default():
    cat = catalogue()
    assert set(CAUSES) <= set(cat.keys) and "resumed" in cat.keys
    assert tuple(cat.languages) == LANGUAGES == ("zh-CN", "en")
    assert DEFAULT_LANGUAGE == "zh-CN" == Config().voice.language
    assert LIMITS[("voice", "language")] == set(LANGUAGES), "config and catalogue languages differ"
    for key in cat.keys:
        assert set(cat.texts[key]) == set(LANGUAGES), f"{key}: texts for {set(cat.texts[key])}"
        for language in LANGUAGES:
            assert (PACKAGE / "prompts" / language / f"{key}.wav").is_file()
    assert prompt_audio("battery").language == "zh-CN"


def test_the_prompt_names_the_cause():
    assert prompt_text("battery", "zh-CN") == "录像已恢复。中断原因：电量耗尽。请口述中断原因。"
    assert prompt_text("battery", "en") == ("Recording resumed. It was interrupted: battery empty. "
                                            "Please state the reason.")
    causes = {key: prompt_text(key, "zh-CN") for key in CAUSES}
    assert len(set(causes.values())) == len(CAUSES), "two causes share a text"
    for key in CAUSES:
        for language, ask in (("zh-CN", "请口述中断原因"), ("en", "Please state the reason")):
            assert ask in prompt_text(key, language)


@pytest.mark.parametrize("key, language", EVERY)
def test_prompt_audio_is_small_mono_speech(key, language):
    prompt = prompt_audio(key, language)
    assert prompt.samples.dtype == np.float32 and prompt.samples.ndim == 1 and prompt.rate == 22_050
    assert 2.0 < prompt.duration < 10.0
    assert 0.3 < np.max(np.abs(prompt.samples)) < 0.95, "too quiet, or touching full scale"
    with wave.open(str(PACKAGE / "prompts" / language / f"{key}.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
    assert (PACKAGE / "prompts" / language / f"{key}.wav").stat().st_size < 400 * 1024
    assert prompt_audio(key, language) is prompt, "read once, then cached"
    assert not prompt.samples.flags.writeable


@pytest.mark.parametrize("key, language", EVERY)
def test_each_shipped_file_is_a_fresh_rendering_of_its_text(key, language):
    """Byte for byte: espeak-ng's output is repeatable (docs/VOICE.md). A text edited without
    `make prompts`, or a file edited by hand, fails here."""
    require_tool("espeak-ng")
    from recorder.voice.render import espeak_version, render_prompt, shipped_path

    fresh = render_prompt(key, language)
    shipped = shipped_path(key, language).read_bytes()
    assert shipped == fresh, (f"{language}/{key}.wav is not espeak-ng {espeak_version()}'s rendering of "
                              f"{prompt_text(key, language)!r}: run `make prompts`")


def test_a_changed_text_is_caught(monkeypatch):
    """The check can fail: the same comparison with one text changed."""
    require_tool("espeak-ng")
    from recorder.voice import render

    texts = {key: dict(t) for key, t in catalogue().texts.items()}
    texts["battery"]["en"] = "Recording resumed. It was interrupted: battery low. Please state the reason."
    monkeypatch.setattr(prompts, "catalogue", lambda: prompts.Catalogue(catalogue().languages, texts))
    monkeypatch.setattr(render, "catalogue", prompts.catalogue)
    assert render.render_prompt("battery", "en") != render.shipped_path("battery", "en").read_bytes()
    assert render.main(["--check"]) == 1


def test_make_prompts_renders_them():
    makefile = (ROOT / "Makefile").read_text()
    assert "\nprompts:" in makefile and "recorder.voice.render" in makefile
    assert "make prompts" in (ROOT / "docs" / "VOICE.md").read_text()


def test_the_package_ships_the_catalogue_and_every_file():
    """pyproject's package data covers the locale file and every WAV (an installed wheel has them)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["recorder.voice"]
    shipped = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*") if p.is_file() and p.suffix in (".toml", ".wav")}
    covered = {str(p.relative_to(PACKAGE)) for pattern in data for p in PACKAGE.glob(pattern)}
    assert shipped and shipped <= covered, f"not in package data: {shipped - covered}"


@pytest.mark.parametrize("key, language, says", [
    ("flat-tyre", "zh-CN", "no voice prompt 'flat-tyre' (prompts: battery"),
    ("battery", "fr", "no voice prompts in language 'fr' (voice.language: zh-CN, en)"),
])
def test_unknown_keys_and_languages_are_clear_errors(key, language, says):
    with pytest.raises(VoiceError) as caught:
        prompt_audio(key, language)
    assert says in str(caught.value)
    assert isinstance(caught.value, RecorderError)  # the CLI's one-line message, exit 2


def test_voice_settings_are_validated():
    config = config_from_dict({"voice": {"language": "en", "output": "default", "explanation_seconds": 60}})
    assert (config.voice.language, config.voice.output, config.voice.explanation_seconds) == ("en", "default", 60)
    assert Config().voice.output == "" and Config().voice.explanation_seconds == 30
    for data, name in [({"language": "zh"}, "voice.language"), ({"explanation_seconds": 4}, "voice.explanation_seconds"),
                       ({"explanation_seconds": 301}, "voice.explanation_seconds"), ({"output": 3}, "voice.output"),
                       ({"output": " default"}, "voice.output"), ({"speaker": "x"}, "voice.speaker")]:
        with pytest.raises(ConfigError, match=name):
            config_from_dict({"voice": data})
