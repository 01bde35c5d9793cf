"""Configuration: a TOML file, validated strictly, with documented defaults.

Every setting has a default, so no file is needed on the simulated body. An
unknown key, a wrong type or an out-of-range value is a ConfigError naming the
setting (`video.fps`), raised before anything is opened or written.
"""

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import ConfigError
from .pins import check_unique, resolve_pin

DEFAULT_STORE = "/var/lib/recorder"
# The OSD's font: WenQuanYi Zen Hei (CJK incl. Extension A, and Latin), from this Debian package.
OSD_FONT_PACKAGE = "fonts-wqy-zenhei"
DEFAULT_OSD_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


@dataclass(frozen=True)
class DeviceConfig:
    officer_id: str = "unassigned"
    store: str = DEFAULT_STORE


@dataclass(frozen=True)
class VideoConfig:
    width: int = 1280
    height: int = 720
    fps: int = 30
    gop_seconds: int = 1
    bitrate: int = 4_000_000
    preset: str = "veryfast"  # libx264 preset


@dataclass(frozen=True)
class AudioConfig:
    enabled: bool = True
    codec: str = "aac"  # aac | opus
    sample_rate: int = 48_000
    channels: int = 1
    bitrate: int = 96_000


@dataclass(frozen=True)
class PrerecordConfig:
    seconds: int = 30
    max_bytes: int = 64 * 1024 * 1024
    audio: bool = False  # privacy: no sound before the officer presses record


@dataclass(frozen=True)
class SegmentConfig:
    seconds: int = 60


INPUTS = ("record", "mark", "trigger")  # the officer's inputs, each a ButtonsConfig pin setting


@dataclass(frozen=True)
class ButtonsConfig:
    """Inputs (BCM numbers or pin names; hw/pinout.md). Buttons close to ground."""

    record: str = "GPIO17"
    mark: str = "GPIO27"
    trigger: str = ""  # optional holster / light-bar sensor; "" = none
    pull_up: bool = True
    hold_seconds: float = 3.0  # hold RECORD this long while recording to stop
    chord_seconds: float = 2.0  # hold RECORD + MARK together this long to toggle stealth
    debounce_ms: int = 30  # an input counts only once stable this long


@dataclass(frozen=True)
class CuesConfig:
    """Outputs ("" = not fitted) and how cues behave (docs/CUES.md)."""

    green: str = "GPIO5"
    red: str = "GPIO6"
    amber: str = "GPIO13"
    buzzer: str = "GPIO12"
    vibration: str = "GPIO16"
    active_high: bool = True
    stealth: bool = False  # start in stealth mode: no light, no sound
    stealth_vibration: bool = True  # haptic cues continue in stealth
    reminder_seconds: int = 120  # still-recording reminder while recording; 0 = never


@dataclass(frozen=True)
class CaptureConfig:
    camera: str = "auto"  # auto | picamera2 | opencv | synthetic
    camera_device: str = ""  # opencv: /dev/videoN, an index "0", or a video file path
    microphone: str = "auto"  # auto | sounddevice | pyaudio | synthetic
    microphone_device: str = ""  # back-end device name or index; "" = the system default


@dataclass(frozen=True)
class OsdConfig:
    enabled: bool = True  # time, device id, officer id burned into every frame
    font: str = DEFAULT_OSD_FONT  # TrueType/OpenType file (first face of a collection); docs/CAPTURE.md


@dataclass(frozen=True)
class VoiceConfig:
    """The spoken prompt when recording resumes after an interruption (docs/VOICE.md)."""

    language: str = "zh-CN"  # zh-CN | en: the prompts' language
    output: str = ""  # audio output: "" = no speaker (cues only), "default", a PortAudio device name or index
    explanation_seconds: int = 30  # after the prompt: the officer's explanation window (a MARK ends it early)


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    prerecord: PrerecordConfig = field(default_factory=PrerecordConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    buttons: ButtonsConfig = field(default_factory=ButtonsConfig)
    cues: CuesConfig = field(default_factory=CuesConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    osd: OsdConfig = field(default_factory=OsdConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)

    def as_dict(self) -> dict:
        return asdict(self)


# (section, key) -> (minimum, maximum) for numbers, or the allowed values.
LIMITS = {
    ("video", "width"): (64, 3840),
    ("video", "height"): (48, 2160),
    ("video", "fps"): (1, 120),
    ("video", "gop_seconds"): (1, 10),
    ("video", "bitrate"): (100_000, 50_000_000),
    ("video", "preset"): {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium"},
    ("audio", "codec"): {"aac", "opus"},
    ("audio", "sample_rate"): {16_000, 24_000, 32_000, 44_100, 48_000},
    ("audio", "channels"): (1, 2),
    ("audio", "bitrate"): (16_000, 320_000),
    ("prerecord", "seconds"): (0, 120),
    ("prerecord", "max_bytes"): (1024 * 1024, 4 * 1024**3),
    ("segments", "seconds"): (2, 3600),
    ("buttons", "hold_seconds"): (1.0, 10.0),
    ("buttons", "chord_seconds"): (0.5, 10.0),
    ("buttons", "debounce_ms"): (1, 200),
    ("cues", "reminder_seconds"): (0, 3600),
    ("capture", "camera"): {"auto", "picamera2", "opencv", "synthetic"},
    ("capture", "microphone"): {"auto", "sounddevice", "pyaudio", "synthetic"},
    ("voice", "language"): {"zh-CN", "en"},  # the languages of recorder/voice/prompts.toml
    ("voice", "explanation_seconds"): (5, 300),
}

# Settings that name a GPIO pin: an int or a pin name, checked against the header.
PIN_SETTINGS = {
    ("buttons", "record"), ("buttons", "mark"), ("buttons", "trigger"),
    ("cues", "green"), ("cues", "red"), ("cues", "amber"), ("cues", "buzzer"), ("cues", "vibration"),
}
REQUIRED_PINS = {("buttons", "record"), ("buttons", "mark")}


def _check_value(section: str, key: str, value, expected_type):
    name = f"{section}.{key}"
    if (section, key) in PIN_SETTINGS:
        if (section, key) in REQUIRED_PINS and value in ("", None):
            raise ConfigError(f"{name} must name a pin: the device cannot work without it")
        return  # resolved (and type-checked) once, with the duplicate check in config_from_dict
    if expected_type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, not {value!r}")
    elif expected_type is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, not {value!r}")
    elif expected_type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be a whole number, not {value!r}")
    elif not isinstance(value, expected_type):
        raise ConfigError(f"{name} must be a {expected_type.__name__}, not {value!r}")
    limit = LIMITS.get((section, key))
    if isinstance(limit, tuple) and not limit[0] <= value <= limit[1]:
        raise ConfigError(f"{name} = {value} is out of range {limit[0]}..{limit[1]}")
    if isinstance(limit, set) and value not in limit:
        raise ConfigError(f"{name} = {value!r} is not one of {', '.join(map(str, sorted(limit)))}")


def _build_section(section: str, cls, values) -> object:
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table")
    known = {f.name: f for f in fields(cls)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {section}.{key} (known: {', '.join(known)})")
        _check_value(section, key, value, type(getattr(cls(), key)))
    return cls(**values)


def config_from_dict(data: dict) -> Config:
    sections = {f.name: f.default_factory for f in fields(Config)}
    built = {}
    for section, values in data.items():
        if section not in sections:
            raise ConfigError(f"unknown section [{section}] (known: {', '.join(sections)})")
        built[section] = _build_section(section, sections[section], values)
    config = Config(**built)
    if config.video.width % 2 or config.video.height % 2:
        raise ConfigError("video.width and video.height must be even numbers")
    if config.audio.codec == "opus" and config.audio.sample_rate != 48_000:
        raise ConfigError("audio.sample_rate must be 48000 with audio.codec = opus")
    check_unique(
        {
            f"{section}.{key}": resolve_pin(f"{section}.{key}", getattr(getattr(config, section), key))
            for section, key in sorted(PIN_SETTINGS)
        }
    )
    if config.buttons.chord_seconds >= config.buttons.hold_seconds:
        raise ConfigError("buttons.chord_seconds must be shorter than buttons.hold_seconds")
    if config.osd.enabled and not config.osd.font.strip():
        raise ConfigError(f"osd.font must name a font file (default {DEFAULT_OSD_FONT}, "
                          f"Debian package {OSD_FONT_PACKAGE})")
    capture = config.capture
    if capture.camera_device and capture.camera not in ("opencv", "auto"):
        raise ConfigError(f"capture.camera_device is only used with capture.camera = opencv, not {capture.camera!r}")
    if capture.microphone_device and capture.microphone in ("synthetic",):
        raise ConfigError("capture.microphone_device is not used with capture.microphone = synthetic")
    if not config.audio.enabled and capture.microphone not in ("auto", "synthetic"):
        raise ConfigError(f"capture.microphone = {capture.microphone!r} needs audio.enabled = true")
    if config.voice.output != config.voice.output.strip():
        raise ConfigError(f"voice.output = {config.voice.output!r} has spaces around the device name")
    return config


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return config_from_dict(data)
