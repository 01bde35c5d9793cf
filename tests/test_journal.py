"""journald's native protocol, received by a fake journald (a real datagram socket) and
parsed back: the structured fields SESSION_ID, SEGMENT, CAUSE, and the binary length form for
values with newlines (docs/SERVICE.md)."""

import logging
import os
import struct
import subprocess
import sys

from conftest import write_config
from support.datagrams import DatagramListener
from recorder.journal import JournalHandler, encode, stderr_is_journal


def parse(message: bytes) -> dict:
    """A native-protocol datagram back into its fields (journald's own reading of it)."""
    fields, at = {}, 0
    while at < len(message):
        end = message.index(b"\n", at)
        line = message[at:end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            at = end + 1
        else:  # KEY\n, a little-endian 64-bit length, the bytes, \n
            key = line
            (size,) = struct.unpack("<Q", message[end + 1:end + 9])
            value = message[end + 9:end + 9 + size]
            assert message[end + 9 + size:end + 10 + size] == b"\n"
            at = end + 10 + size
        fields.setdefault(key.decode(), []).append(value.decode())
    return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}


class FakeJournald(DatagramListener):
    """Reads as journald does, all the time."""

    def __init__(self, path):
        self.messages: list[bytes] = []
        super().__init__(str(path))

    def keep(self, data: bytes):
        self.messages.append(data)

    def received(self) -> list[dict]:
        self.stop()
        self.socket.setblocking(False)
        while True:  # what came after the thread's last read
            try:
                self.messages.append(self.socket.recv(1 << 20))
            except BlockingIOError:
                break
        self.socket.close()
        return [parse(message) for message in self.messages]


def test_values_with_newlines_take_the_binary_form():
    message = encode({"MESSAGE": "two\nlines", "CAUSE": "battery", "SEGMENT": 3})
    assert message.startswith(b"MESSAGE\n" + struct.pack("<Q", 9) + b"two\nlines\n")
    assert parse(message) == {"MESSAGE": "two\nlines", "CAUSE": "battery", "SEGMENT": "3"}


def test_a_record_carries_its_fields_and_its_traceback(tmp_path):
    journald = FakeJournald(tmp_path / "journal")
    handler = JournalHandler(str(tmp_path / "journal"))
    log = logging.getLogger("recorder.test-journal")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("recording stopped", extra={"session_id": "1a2b", "segment": 3, "cause": "battery"})
        try:
            raise OSError("disk gone")
        except OSError:
            log.exception("sealing failed")
    finally:
        log.removeHandler(handler)
        handler.close()
    first, second = journald.received()
    assert {k: first[k] for k in ("MESSAGE", "PRIORITY", "SESSION_ID", "SEGMENT", "CAUSE", "SYSLOG_IDENTIFIER")} == {
        "MESSAGE": "recording stopped", "PRIORITY": "4", "SESSION_ID": "1a2b", "SEGMENT": "3", "CAUSE": "battery",
        "SYSLOG_IDENTIFIER": "recorder"}
    assert first["CODE_FUNC"] == "test_a_record_carries_its_fields_and_its_traceback"
    assert second["PRIORITY"] == "3" and "SESSION_ID" not in second
    assert second["MESSAGE"].startswith("sealing failed\nTraceback") and "OSError: disk gone" in second["MESSAGE"]


def test_without_journald_the_record_goes_to_stderr(tmp_path, capsys):
    handler = JournalHandler(str(tmp_path / "no-journald"))
    handler.handle(logging.makeLogRecord({"name": "recorder", "levelno": logging.ERROR, "levelname": "ERROR",
                                          "msg": "still said"}))
    handler.close()
    assert "recorder ERROR still said" in capsys.readouterr().err


def test_only_a_stderr_systemd_connected_counts(tmp_path):
    with open(tmp_path / "stderr", "w") as stream:
        status = os.fstat(stream.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino + 1}"}, stream)
        assert not stderr_is_journal({}, stream)


def test_a_run_under_systemd_logs_to_the_journal_with_its_session(tmp_path):
    """A real `recorder run`, its stderr a pipe named by $JOURNAL_STREAM as systemd names the
    journal's stream: the log records reach the (fake) journal with their fields."""
    journald = FakeJournald(tmp_path / "journal")
    read_end, write_end = os.pipe()
    status = os.fstat(write_end)
    env = dict(os.environ, JOURNAL_STREAM=f"{status.st_dev}:{status.st_ino}",
               RECORDER_JOURNAL_SOCKET=str(tmp_path / "journal"))
    with open(read_end, "rb") as stderr_pipe:
        process = subprocess.Popen(
            [sys.executable, "-m", "recorder", "run", "--simulate", "--once", "--fast", "--log-level", "info",
             "--config", str(write_config(tmp_path)), "--store", str(tmp_path / "store"),
             "--start-at", "1", "--duration", "9"],
            stdout=subprocess.DEVNULL, stderr=write_end, env=env)
        os.close(write_end)
        stderr = stderr_pipe.read().decode()
    assert process.wait(timeout=120) == 0, stderr
    records = journald.received()
    started = [r for r in records if r["MESSAGE"].startswith("recording started")]
    assert len(started) == 1 and started[0]["CAUSE"] == "command"
    session = started[0]["SESSION_ID"]
    sealed = [r for r in records if r["MESSAGE"].startswith("sealed ")]
    assert [r["SEGMENT"] for r in sealed] == [str(n) for n in range(1, len(sealed) + 1)] and len(sealed) >= 3
    assert {r["SESSION_ID"] for r in sealed} == {session}
    stopped = [r for r in records if r["MESSAGE"].startswith("recording stopped")]
    assert stopped[0]["SESSION_ID"] == session and stopped[0]["SEGMENT"] == str(len(sealed))
    assert " INFO " not in stderr, "the records went to the journal, not to stderr"
