"""Pin settings: resolve every way of naming a header pin to one GPIO number.

Officers' devices use the 40-pin header common to the Pi Zero 2 W, 4, CM4
carriers and 5. A pin may be written as a BCM number (17) or any name gpiozero
understands ("GPIO17", "BCM17", "BOARD11", "J8:11"); resolving them all to the
GPIO number lets the configuration catch two settings naming the same pin
under different names, before any device is opened.
"""

from functools import lru_cache

from ..errors import ConfigError


@lru_cache(maxsize=1)
def _board():
    # The header layout only: a mock factory opens no hardware. Imported here, when pins
    # are checked, so that reading a configuration does not load gpiozero.
    from gpiozero.pins.mock import MockFactory

    return MockFactory().board_info


def resolve_pin(setting: str, spec) -> int | None:
    """The BCM GPIO number a pin setting names; None for an empty (absent) setting."""
    if spec == "" or spec is None:
        return None
    if isinstance(spec, bool) or not isinstance(spec, (int, str)):
        raise ConfigError(f"{setting} must be a GPIO number or a pin name like \"GPIO17\", not {spec!r}")
    found = list(_board().find_pin(spec.strip() if isinstance(spec, str) else spec))
    if not found:
        raise ConfigError(
            f"{setting} = {spec!r} is not a pin of the 40-pin header "
            "(use a GPIO number 0-27 or a name like \"GPIO17\" or \"BOARD11\")"
        )
    _header, info = found[0]
    if not info.name.startswith("GPIO"):
        raise ConfigError(f"{setting} = {spec!r} is the {info.name} pin, not a GPIO")
    return int(info.name[len("GPIO"):])


def check_unique(pins: dict[str, int | None]) -> None:
    """pins: setting name -> resolved GPIO number. Two settings on one pin is an error."""
    seen: dict[int, str] = {}
    for setting, gpio in pins.items():
        if gpio is None:
            continue
        if gpio in seen:
            raise ConfigError(f"{setting} and {seen[gpio]} both use GPIO{gpio}")
        seen[gpio] = setting
