"""Telemetry: the device's position and GNSS time, from a gpsd client.

`GpsdClient` (gpsd.py) speaks gpsd's JSON protocol over TCP on a thread of its own,
reconnecting whenever gpsd goes away, and keeps the newest `Fix` (fix.py) stamped with
the agent's clock, so its age is always known and a stale position is never taken for a
current one; `TimeReport`s carry gpsd's PPS and TOFF reports. protocol.py reads what gpsd
sends as strictly as a hostile peer deserves (docs/GNSS.md).
"""

from .fix import MODE_2D, MODE_3D, MODE_NO_FIX, MODE_UNKNOWN, Fix, TimeReport
from .gpsd import GpsdClient

__all__ = ["MODE_2D", "MODE_3D", "MODE_NO_FIX", "MODE_UNKNOWN", "Fix", "GpsdClient", "TimeReport"]
