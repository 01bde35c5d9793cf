"""Configuration: a TOML file, validated strictly, every setting with a default.

`settings` holds the sections and their checks; `pins` resolves GPIO pin names
against the 40-pin header (gpiozero's board data, imported only when pins are
checked), so reading a configuration costs nothing of the device.
"""

from .settings import (  # noqa: F401  (the package's public names)
    DEFAULT_OSD_FONT,
    DEFAULT_STORE,
    OSD_FONT_PACKAGE,
    AudioConfig,
    ButtonsConfig,
    CaptureConfig,
    Config,
    CuesConfig,
    DeviceConfig,
    EncryptionConfig,
    OsdConfig,
    PowerConfig,
    PrerecordConfig,
    RecoveryConfig,
    SegmentConfig,
    StorageConfig,
    VideoConfig,
    VoiceConfig,
    GnssConfig,
    simulated_place,
    config_from_dict,
    load_config,
    overlay_config,
    overlay_dict,
    read_config_dict,
    minimum_storage_reserve,
    recording_bytes_per_second,
)
