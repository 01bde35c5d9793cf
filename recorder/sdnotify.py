"""systemd's service notifications (sd_notify(3)), spoken directly: one datagram per message
to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or `@name` in the abstract namespace),
lines of `KEY=value`.

Off systemd ($NOTIFY_SOCKET unset) every call does nothing. A send that fails is logged once
and never raised: a notification must not end a recording (systemd notices the silence: a
missed WATCHDOG=1 restarts the agent, a missed READY=1 fails its start).
"""

import logging
import os
import socket

log = logging.getLogger("recorder.sdnotify")


def notify_address(environ=None) -> str | None:
    """The socket systemd listens on, as bind/sendto take it, or None off systemd."""
    value = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not value:
        return None
    if value.startswith("@"):  # the abstract namespace: a leading NUL instead of the @
        return "\0" + value[1:]
    return value


def watchdog_interval_ns(environ=None, pid: int | None = None) -> int | None:
    """How often systemd wants WATCHDOG=1 ($WATCHDOG_USEC), or None when it does not ask us:
    no watchdog, or $WATCHDOG_PID names another process (the variables were inherited)."""
    environ = os.environ if environ is None else environ
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec * 1000


class Notifier:
    """Sends notifications to one address; a no-op when the address is None."""

    def __init__(self, address: str | None):
        self.address = address
        self._socket = None
        self._failed = False  # the first failure is logged, later ones are not

    @classmethod
    def from_environment(cls, environ=None) -> "Notifier":
        return cls(notify_address(environ))

    @property
    def display(self) -> str | None:
        """The address as $NOTIFY_SOCKET spells it (`@` for the abstract namespace's NUL)."""
        if self.address is not None and self.address.startswith("\0"):
            return "@" + self.address[1:]
        return self.address

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """One datagram of `KEY=value` lines; True when it was sent."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("sd_notify to %s failed (later failures are not logged): %s", self.display, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={one_line(status)}"] if status is not None else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={one_line(text)}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={one_line(status)}"] if status is not None else []))

    def close(self):
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def one_line(text: str) -> str:
    """A value for a notification: one line (a newline would start another assignment)."""
    return " ".join(str(text).split())
