"""A datagram socket read all the time on a thread of its own, as systemd and journald read
theirs (a datagram queue is short, 10 on Linux, and a writer blocks when it is full)."""

import socket
import threading


class DatagramListener:
    def __init__(self, address: str, size: int = 1 << 20):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(address)
        self.socket.settimeout(0.1)
        self.size = size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def keep(self, data: bytes) -> None:
        """What a subclass does with each datagram."""
        raise NotImplementedError

    def _receive(self):
        while not self._stop.is_set():
            try:
                data = self.socket.recv(self.size)
            except socket.timeout:
                continue
            self.keep(data)

    def stop(self):
        self._stop.set()
        self._thread.join()
