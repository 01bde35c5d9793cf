"""Log records to journald in its native protocol, with the fields a technician filters on
(`journalctl -u recorder SESSION_ID=…`, `CAUSE=battery`): spoken directly, one datagram per
record to /run/systemd/journal/socket (systemd.journal-fields(7); the protocol:
https://systemd.io/JOURNAL_NATIVE_PROTOCOL/).

A field is `KEY=value\\n`; a value holding a newline is sent as `KEY\\n`, its length as a
little-endian 64-bit integer, the bytes, `\\n`. Code that knows the session, the segment or
the cause says so with `extra=` (`log.info(..., extra={"session_id": s, "cause": c})`):
they become SESSION_ID, SEGMENT and CAUSE.

Used only when systemd connected our stderr to the journal ($JOURNAL_STREAM names stderr's
device and inode, as systemd.exec(5) says to check): a `recorder` run from a terminal on the
device, or a test, keeps logging to stderr even where a journal socket exists.
"""

import logging
import os
import socket
import struct
import sys

JOURNAL_SOCKET = "/run/systemd/journal/socket"
# Record attributes (set through `extra=`) -> journal fields.
FIELDS = {"session_id": "SESSION_ID", "segment": "SEGMENT", "cause": "CAUSE"}
# logging's levels -> syslog priorities (the journal's PRIORITY=).
SEND_TIMEOUT_S = 1.0
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def stderr_is_journal(environ=None, stream=None) -> bool:
    """Whether systemd connected stderr to the journal ($JOURNAL_STREAM is `device:inode`)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        status = os.fstat((sys.stderr if stream is None else stream).fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (device, inode)


def journal_address(environ=None) -> str:
    """journald's socket ($RECORDER_JOURNAL_SOCKET: another one, for a test's fake journald)."""
    return (os.environ if environ is None else environ).get("RECORDER_JOURNAL_SOCKET") or JOURNAL_SOCKET


def encode(fields: dict) -> bytes:
    """One native-protocol message. Field names: upper case, digits, underscores."""
    out = bytearray()
    for key, value in fields.items():
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


def priority(levelno: int) -> int:
    return next((p for level, p in PRIORITIES if levelno >= level), 7)


class JournalHandler(logging.Handler):
    """A logging handler that sends each record to journald; a record journald does not take
    (no socket, too large) goes to stderr instead, so nothing is lost."""

    def __init__(self, address: str = JOURNAL_SOCKET, identifier: str = "recorder"):
        super().__init__()
        self.address, self.identifier = address, identifier
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # A journald that stops reading fills its queue and would block the thread that logs
        # (the loop, the pipeline) for good: after this long the record goes to stderr.
        self.socket.settimeout(SEND_TIMEOUT_S)
        self.fallback = logging.StreamHandler(sys.stderr)
        # The journal keeps the time, the level (PRIORITY) and the logger (LOGGER) itself.
        self.setFormatter(logging.Formatter("%(message)s"))

    def fields(self, record: logging.LogRecord) -> dict:
        fields = {
            "MESSAGE": self.format(record),
            "PRIORITY": priority(record.levelno),
            "SYSLOG_IDENTIFIER": self.identifier,
            "LOGGER": record.name,
            "CODE_FILE": record.pathname,
            "CODE_LINE": record.lineno,
            "CODE_FUNC": record.funcName,
            "THREAD_NAME": record.threadName,
        }
        for attribute, field in FIELDS.items():
            value = getattr(record, attribute, None)
            if value is not None:
                fields[field] = value
        return fields

    def emit(self, record: logging.LogRecord):
        try:
            message = encode(self.fields(record))
        except Exception:
            self.handleError(record)
            return
        try:
            self.socket.sendto(message, self.address)
        except OSError:  # no journald, or a record beyond a datagram: stderr still has it
            self.fallback.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
            self.fallback.emit(record)

    def close(self):
        self.socket.close()
        super().close()


def log_handler(environ=None) -> logging.Handler:
    """The handler `recorder` logs through: journald's when systemd connected stderr to the
    journal, else stderr."""
    if stderr_is_journal(environ):
        return JournalHandler(journal_address(environ))
    return logging.StreamHandler(sys.stderr)
