"""The dock's settings (DOCK/dock.toml), validated strictly; all optional.

  [listen]
  host = "0.0.0.0"        where devices reach the dock (the USB gadget link or the dock's LAN)
  port = 8443
  [archive]               recorder/archive (docs/ARCHIVE.md): kind = "local" (default) or "s3"
"""

import tomllib
from dataclasses import dataclass, field

from ..errors import ConfigError
from .layout import DockLayout

DEFAULT_PORT = 8443


@dataclass(frozen=True)
class DockSettings:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    archive: dict = field(default_factory=lambda: {"kind": "local"})


def load_settings(layout: DockLayout) -> DockSettings:
    try:
        document = tomllib.loads(layout.settings_path.read_text("utf-8"))
    except FileNotFoundError:
        return DockSettings()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{layout.settings_path}: {exc}") from None
    unknown = sorted(set(document) - {"listen", "archive"})
    if unknown:
        raise ConfigError(f"{layout.settings_path}: unknown section [{unknown[0]}]")
    listen = document.get("listen", {})
    if not isinstance(listen, dict) or set(listen) - {"host", "port"}:
        raise ConfigError(f"{layout.settings_path}: [listen] takes host and port only")
    host, port = listen.get("host", "0.0.0.0"), listen.get("port", DEFAULT_PORT)
    if not isinstance(host, str) or not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
        raise ConfigError(f"{layout.settings_path}: [listen] host is text and port a number 0–65535")
    archive = document.get("archive", {"kind": "local"})
    if not isinstance(archive, dict):
        raise ConfigError(f"{layout.settings_path}: [archive] is a table")
    return DockSettings(host, port, archive)


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """HOST:PORT or HOST (IPv6 in brackets) -> (host, port); ConfigError otherwise."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":") if rest else ""
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ConfigError(f"{text!r} is not HOST:PORT") from None
    if not host or not 0 <= port < 65536:
        raise ConfigError(f"{text!r} is not HOST:PORT")
    return host, port
