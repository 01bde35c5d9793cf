"""Configuration: a TOML file, validated strictly, with documented defaults.

Every setting has a default, so no file is needed on the simulated body. An
unknown key, a wrong type or an out-of-range value is a ConfigError naming the
setting (`video.fps`), raised before anything is opened or written.
"""

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..encryption import KeyFormatError, Recipient
from ..errors import ConfigError
from .pins import check_unique, resolve_pin

# The device's data partition holds the store and, beside it, the identity (its keys, the
# agency's bundle: docs/PROVISIONING.md), both writable under the service's sandbox.
DEFAULT_STORE = "/var/lib/recorder/store"
# The OSD's font: WenQuanYi Zen Hei (CJK incl. Extension A, and Latin), from this Debian package.
OSD_FONT_PACKAGE = "fonts-wqy-zenhei"
DEFAULT_OSD_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


@dataclass(frozen=True)
class DeviceConfig:
    officer_id: str = "unassigned"
    store: str = DEFAULT_STORE
    # The directory of the device's keys and the agency's bundle, never inside the store; "" =
    # beside the store (/var/lib/recorder/identity for the default store; recorder/seal/identity.py)
    identity: str = ""
    # Where the dock answers once the device is docked (HOST:PORT): on the USB gadget link the
    # dock's end is 10.77.0.1 (hw/network/, docs/DOCK.md); `recorder offload` goes there
    dock: str = "10.77.0.1:8443"


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


POWER_SUPPLIES = ("auto", "", "simulated")  # or a power_supply name ("BAT0") or directory


@dataclass(frozen=True)
class PowerConfig:
    """The battery and its warnings (docs/POWER.md). Levels are minutes of recording left."""

    supply: str = "auto"  # auto | "" (none: mains powered) | simulated | a power_supply name or directory
    warn_minutes: int = 15  # first warning; 5..30 (the national standard's window for the alarm)
    second_warn_minutes: int = 5  # second warning; 0 = none
    critical_minutes: int = 2  # seal, interrupt (cause battery), shut down
    battery_wh: float = 0.0  # the pack's energy, for a gauge that gives only a percentage; 0 = as the gauge says
    simulated_wh: float = 24.0  # supply = "simulated": the simulated pack's energy
    simulated_draw_w: float = 3.0  # ... the device's draw
    simulated_level: float = 1.0  # ... its state of charge at start (0..1)


@dataclass(frozen=True)
class StorageConfig:
    """Free space on the store's filesystem, as minutes of recording (docs/POWER.md)."""

    warn_minutes: int = 10  # warn when this much recording time is left above the reserve
    # MiB never used for recording: what sealing and stopping still need. 0 disables the reserve
    # and the storage monitor with it (the disk may then fill: for tests of that path only)
    reserve_mb: int = 64
    resume_minutes: int = 5  # recording time above the reserve that counts as recovered
    # On the device the store must be on its own journaled data partition, never the root
    # filesystem, memory or a read-only mount (store/mounts.py); off the device (a laptop
    # with a real camera, a test) this may be switched off. The simulated body never asks.
    require_data_partition: bool = True


@dataclass(frozen=True)
class GnssConfig:
    """The position and GNSS time (docs/GNSS.md, docs/TIME.md)."""

    receiver: str = "gpsd"  # gpsd | none (no receiver fitted: every segment says so)
    host: str = "127.0.0.1"  # gpsd's address (the device's own gpsd)
    port: int = 2947
    max_age_seconds: float = 2.0  # a fix older than this is no longer a position (never shown as current)
    # The simulated body's receiver (recorder/sim/sky.py): where it stands until a script's
    # path step moves it, and how long its first fix takes.
    simulated_sky: bool = True  # the simulated body's own receiver; false: [gnss] receiver as on a device
    simulated_start: str = "31.2304,121.4737"  # lat,lon in degrees (People's Square, Shanghai)
    simulated_first_fix_seconds: float = 2.0


@dataclass(frozen=True)
class RecoveryConfig:
    """Interruptions: resuming, stall detection, restarts (docs/INTERRUPTIONS.md)."""

    resume: bool = True  # record on after an interruption without waiting for a press
    stall_seconds: float = 2.0  # no video frame for this long: the camera stalled (a fault)
    restart_attempts: int = 5  # restarts after faults, in a row, before giving up (unrecoverable)
    restart_backoff_seconds: float = 1.0  # wait before the first restart; doubles each time
    restart_backoff_max_seconds: float = 30.0
    healthy_seconds: float = 60.0  # a run this long resets the count of failed restarts


@dataclass(frozen=True)
class VoiceConfig:
    """The spoken prompt when recording resumes after an interruption (docs/VOICE.md)."""

    language: str = "zh-CN"  # zh-CN | en: the prompts' language
    output: str = ""  # audio output: "" = no speaker (cues only), "default", a PortAudio device name or index
    explanation_seconds: int = 30  # after the prompt: the officer's explanation window (a MARK ends it early)


@dataclass(frozen=True)
class EncryptionConfig:
    """Encryption at rest (docs/ENCRYPTION.md): segments are written as age v1 files to these
    recipients (`age1…`, the agency's public keys; any one identity opens a file). On the
    device the installed bundle's recipient is added (provision/install.py); with none at all
    segments are plaintext MP4 (the simulated body, unless configured)."""

    recipients: tuple = ()


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
    power: PowerConfig = field(default_factory=PowerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)
    gnss: GnssConfig = field(default_factory=GnssConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    encryption: EncryptionConfig = field(default_factory=EncryptionConfig)

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
    ("gnss", "receiver"): {"gpsd", "none"},
    ("gnss", "port"): (1, 65535),
    ("gnss", "max_age_seconds"): (0.5, 30.0),
    ("gnss", "simulated_first_fix_seconds"): (0.0, 600.0),
    ("capture", "microphone"): {"auto", "sounddevice", "pyaudio", "synthetic"},
    ("power", "warn_minutes"): (5, 30),
    ("power", "second_warn_minutes"): (0, 29),
    ("power", "critical_minutes"): (1, 10),
    ("power", "battery_wh"): (0.0, 1000.0),
    ("power", "simulated_wh"): (0.01, 1000.0),
    ("power", "simulated_draw_w"): (0.0, 100.0),
    ("power", "simulated_level"): (0.0, 1.0),
    ("storage", "warn_minutes"): (1, 240),
    ("storage", "reserve_mb"): (0, 65536),
    ("storage", "resume_minutes"): (1, 120),
    ("recovery", "stall_seconds"): (0.5, 60.0),
    ("recovery", "restart_attempts"): (0, 100),
    ("recovery", "restart_backoff_seconds"): (0.0, 600.0),
    ("recovery", "restart_backoff_max_seconds"): (0.0, 3600.0),
    ("recovery", "healthy_seconds"): (1.0, 86_400.0),
    ("voice", "language"): {"zh-CN", "en"},  # the languages of recorder/voice/prompts.toml
    ("voice", "explanation_seconds"): (5, 300),
}

# Settings that name a GPIO pin: an int or a pin name, checked against the header.
PIN_SETTINGS = {
    ("buttons", "record"), ("buttons", "mark"), ("buttons", "trigger"),
    ("cues", "green"), ("cues", "red"), ("cues", "amber"), ("cues", "buzzer"), ("cues", "vibration"),
}
REQUIRED_PINS = {("buttons", "record"), ("buttons", "mark")}


MIB = 1024 * 1024
# The storage reserve must hold, once the floor is seen: the pre-record ring drained by a
# press made just above the floor, RESERVE_TAIL_SECONDS of recording (the look that finds
# the floor, the packets still in the encoders and the pipeline, the open fragment, the
# segment's close), both with an encoder overshoot margin, and the manifests, ledger
# entries and filesystem metadata of the seal and the stop (docs/POWER.md).
RESERVE_TAIL_SECONDS = 10
RESERVE_BITRATE_MARGIN = 1.5
RESERVE_METADATA_BYTES = 1 * MIB


def recording_bytes_per_second(config: "Config") -> float:
    """The configured video + audio bitrate, in bytes per second."""
    audio = config.audio.bitrate if config.audio.enabled else 0
    return (config.video.bitrate + audio) / 8


def minimum_storage_reserve(config: "Config") -> int:
    """Bytes the storage reserve needs for these video, audio and pre-record settings."""
    rate = recording_bytes_per_second(config) * RESERVE_BITRATE_MARGIN
    ring = min(config.prerecord.seconds * rate, config.prerecord.max_bytes)
    return int(ring + RESERVE_TAIL_SECONDS * rate + RESERVE_METADATA_BYTES)


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
    elif expected_type is tuple:  # a list of texts (encryption.recipients)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of texts, not {value!r}")
        return
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
    return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})


def parse_lat_lon(text: str) -> tuple[float, float]:
    """"LAT,LON" in degrees, on the globe (ValueError otherwise)."""
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r} is not LAT,LON in degrees (e.g. 31.2304,121.4737)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{text!r} is not on the globe")
    return lat, lon


def simulated_place(text: str) -> tuple[float, float]:
    """gnss.simulated_start as (lat, lon) degrees."""
    try:
        return parse_lat_lon(text)
    except ValueError as exc:
        raise ConfigError(f"gnss.simulated_start: {exc}") from None


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
    power = config.power
    if power.supply not in POWER_SUPPLIES and not power.supply.startswith("/") and "/" in power.supply:
        raise ConfigError(f"power.supply = {power.supply!r} must be auto, \"\", simulated, a power_supply "
                          "name (BAT0) or an absolute directory")
    if power.second_warn_minutes and not power.critical_minutes < power.second_warn_minutes < power.warn_minutes:
        raise ConfigError("power.second_warn_minutes must lie between power.critical_minutes and "
                          "power.warn_minutes (or be 0: no second warning)")
    if not power.critical_minutes < power.warn_minutes:
        raise ConfigError("power.critical_minutes must be less than power.warn_minutes")
    simulated_place(config.gnss.simulated_start)  # raises a ConfigError when it is not lat,lon
    needed = minimum_storage_reserve(config)
    if config.storage.reserve_mb and config.storage.reserve_mb * MIB < needed:
        raise ConfigError(
            f"storage.reserve_mb = {config.storage.reserve_mb} is too small for these video, audio and "
            f"prerecord settings: sealing and stopping at the floor need at least {-(-needed // MIB)} MiB "
            "(docs/POWER.md)")
    for text in config.encryption.recipients:
        try:
            Recipient.parse(text)
        except KeyFormatError as exc:
            raise ConfigError(f"encryption.recipients: {text!r} is not an age recipient (age1…): {exc}") from None
    if config.voice.output != config.voice.output.strip():
        raise ConfigError(f"voice.output = {config.voice.output!r} has spaces around the device name")
    return config


def read_config_dict(path: Path | None) -> dict:
    """The TOML file's tables as they are (nothing checked yet); {} for no file."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


# Where the device keeps its store and keys is the image's to say, never a bundle's.
NOT_FROM_THE_AGENCY = {("device", "store"), ("device", "identity")}


def overlay_config(base: dict, overlay_text: str, what: str) -> Config:
    """The image's settings with the agency's on top, setting by setting (the installed
    bundle's configuration: docs/PROVISIONING.md), checked as one configuration."""
    return config_from_dict(overlay_dict(base, overlay_text, what))


def overlay_dict(base: dict, overlay_text: str, what: str) -> dict:
    """`base` with the settings of `overlay_text` on top (not yet checked as a whole)."""
    try:
        overlay = tomllib.loads(overlay_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} is not valid TOML: {exc}") from None
    merged = {section: dict(values) if isinstance(values, dict) else values for section, values in base.items()}
    for section, values in overlay.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{what}: [{section}] must be a table")
        for key in values:
            if (section, key) in NOT_FROM_THE_AGENCY:
                raise ConfigError(f"{what} may not set {section}.{key}: the device image decides it")
        merged.setdefault(section, {})
        if not isinstance(merged[section], dict):
            raise ConfigError(f"[{section}] must be a table")
        merged[section].update(values)
    return merged


def load_config(path: Path | None) -> Config:
    return config_from_dict(read_config_dict(path))
