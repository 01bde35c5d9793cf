"""Which TLS 1.3 cipher suite the device asks for first.

The Pi Zero 2 W and the Pi 4 (Cortex-A53/A72 as Raspberry Pi ships them) have no ARMv8
crypto extensions: AES-GCM runs in software there, several times slower than
ChaCha20-Poly1305. Python's ssl cannot order TLS 1.3 suites (no set_ciphersuites); OpenSSL
reads them from its configuration file, and only if OPENSSL_CONF names it before ssl is
first imported. So `recorder offload` points OPENSSL_CONF at the file beside this module when
the CPU has no AES instructions (or when asked), before anything imports ssl; the dock
(recorder/dock/keys.py) honours a client that lists ChaCha20 first."""

import os
import sys
from pathlib import Path

CHACHA_CONF = Path(__file__).with_name("openssl-chacha20.cnf")


def cpu_has_aes(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """The `aes` flag (x86 `flags`, ARM `Features`) of the first processor listed."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return True  # unknown: leave OpenSSL's own order
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return "aes" in value.split()
    return True


def prefer_chacha20(choice: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Set OPENSSL_CONF for a ChaCha20-first client when `choice` ("auto", "chacha20",
    "aes") asks for it; True when set. Too late once ssl is imported (then False)."""
    wanted = choice == "chacha20" or (choice == "auto" and not cpu_has_aes(cpuinfo))
    if not wanted or "ssl" in sys.modules or "OPENSSL_CONF" in os.environ:
        return wanted and os.environ.get("OPENSSL_CONF") == str(CHACHA_CONF)
    os.environ["OPENSSL_CONF"] = str(CHACHA_CONF)
    return True
