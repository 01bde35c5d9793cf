"""The receiver the device has, chosen by [gnss] receiver: gpsd's client or none."""

from .track import NoReceiver


def open_receiver(gnss, clock):
    """A started receiver with `name`, `description`, `position(now_ns, max_age_ns)` and
    `close()`. gpsd that is not there yet is no error: the client keeps trying, and the
    track says "no-fix" until a position comes (a dead gpsd costs recording nothing)."""
    if gnss.receiver == "none":
        return NoReceiver()
    from .gpsd import GpsdClient

    client = GpsdClient(clock, gnss.host, gnss.port)
    client.start()
    return client
