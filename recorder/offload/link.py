"""One HTTPS connection to the dock: TLS 1.3, the device's certificate, the agency CA, the
dock's name checked, and the dock's own certificate pinned (provision/tls.py) before any
request is sent. Blocking (http.client), with a timeout on every socket operation, so a
dead link ends a request instead of hanging the offload."""

import http.client
import json
import socket

from ..provision.tls import DockLink


class LinkError(Exception):
    """The link failed (cut, timed out, refused): the offload may be tried again."""


class DockRefused(Exception):
    """The dock refused a request on its merits: `code`, `detail`, the HTTP status."""

    def __init__(self, status: int, code: str, detail: str, facts: dict | None = None):
        super().__init__(f"{code}: {detail}")
        self.status, self.code, self.detail, self.facts = status, code, detail, facts or {}


class _PinnedConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, link: DockLink, timeout: float):
        super().__init__(host, port, timeout=timeout, context=link.context, blocksize=1 << 20)
        self.link = link

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        # as http.client's own connect(): without it Nagle holds each request's last segment
        # for a delayed ACK (bench/dock.py measured the uploads 1.76 s -> 1.30 s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.link.context.wrap_socket(sock, server_hostname=self.link.dock_name)
        self.link.check_peer(self.sock.getpeercert(binary_form=True))


class Dock:
    def __init__(self, host: str, port: int, link: DockLink, timeout: float = 20.0):
        self.host, self.port, self.link, self.timeout = host, port, link, timeout
        self._connection: _PinnedConnection | None = None

    @property
    def cipher(self) -> str | None:
        sock = self._connection.sock if self._connection is not None else None
        return sock.cipher()[0] if sock is not None else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                expect=(200, 201)) -> tuple[int, bytes, dict]:
        """(status, body, headers) for an expected status or a 409 (the dock says where to
        go on from); DockRefused for another answer; LinkError when the link fails."""
        try:
            if self._connection is None:
                self._connection = _PinnedConnection(self.host, self.port, self.link, self.timeout)
                self._connection.connect()
            self._connection.request(method, path, body=body, headers=headers or {})
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError is an OSError
            self.close()
            raise LinkError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from None
        try:
            refusal = json.loads(data) if response.status >= 400 else {}
        except ValueError:
            refusal = {}
        refusal = refusal if isinstance(refusal, dict) else {}
        if response.status in expect or (response.status == 409 and "refused" not in refusal):
            return response.status, data, dict(response.getheaders())
        raise DockRefused(response.status, str(refusal.get("refused", f"http-{response.status}")),
                          str(refusal.get("detail", data[:200])), refusal)

    def json(self, method: str, path: str, document=None) -> tuple[int, dict]:
        body = None if document is None else json.dumps(document).encode("utf-8")
        status, data, _ = self.request(method, path, body, {"Content-Type": "application/json"} if body else {})
        return status, json.loads(data)
