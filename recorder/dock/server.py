"""The dock's HTTPS service (`recorder dock serve`; docs/DOCK.md, "The protocol").

aiohttp on TLS 1.3 with a device certificate required (DockKeys.server_context). The device
is who its certificate says (the agency CA issued it; its SAN names the device id); every
request acts on that device's own files only.

  GET  /v1/hello                 the dock's name, the device's id, the head the dock holds and
                                 how many ledger lines
  POST /v1/ledger                {"public_key", "from" (a line, from 0), "head", "lines"}: witness first
                                 -> {"held", "missing": [{"path", "sha256", "size", "offset"}]}
  PUT  /v1/files/<sha256>        body = bytes from X-Offset of the file X-Path (X-Size bytes in
                                 all) -> {"offset"} (durable), {"stored": true} once whole (or
                                 held already); a whole segment is then checked and archived
                                 on a worker thread (precheck.py)
  POST /v1/receipt               {"head"} -> the signed receipt (verify, archive, sign)
  GET  /v1/time                  the dock's clock, for the device's offset (checkout):
                                 {"wall_ns", "source", "error_ns"}
  GET  /v1/assignment            the newest officer assignment signed for the device, or 404

Refusals are JSON {"refused": code, "detail"} with 4xx statuses, and go to the device's
events at the dock (DOCK/devices/<id>/events.jsonl)."""

import asyncio
import json
import logging
import os
import time
from datetime import datetime, timezone

from aiohttp import web

from ..agency.certs import DEVICE_URI_PREFIX
from ..durable import write_all
from ..evidence.layout import MANIFEST_SUFFIX
from ..evidence.ledger import parse_object
from .checkout import latest_assignment
from .events import append_event
from .intake import AlreadyHeld, Staging, UploadRefused, named_files, receipt_in_store, segment_members
from .layout import DockLayout
from .precheck import Prechecks
from .receipting import PATROL, VerificationRefused, footage_classes, issue
from .witness import Refused, append_witnessed, check_offer, held

log = logging.getLogger(__name__)
CHUNK = 1 << 20
MAX_LEDGER_REQUEST = 256 << 20


class DockService:
    def __init__(self, layout: DockLayout, keys, archive, now=lambda: datetime.now(timezone.utc),
                 clock_quality=None, wall_ns=time.time_ns):
        """wall_ns, clock_quality: the clock devices are checked out against (GET /v1/time) and
        what the dock states of it, (source, error_ns); the system's unless given."""
        self.layout, self.keys, self.archive, self.now, self.wall_ns = layout, keys, archive, now, wall_ns
        self.clock_quality = clock_quality or _system_clock_quality()
        self._locks: dict[str, asyncio.Lock] = {}
        self._staging: dict[str, Staging] = {}
        self._writers: dict[tuple[str, str], object] = {}  # (device, sha) -> the request that may write
        self._named: dict[str, tuple[int, dict]] = {}  # device -> (ledger size, named_files)
        self._classes: dict[str, tuple[int, dict]] = {}  # device -> (ledger size, footage_classes)
        self.prechecks = Prechecks(archive)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_LEDGER_REQUEST)
        app.router.add_get("/v1/hello", self.hello)
        app.router.add_post("/v1/ledger", self.ledger)
        app.router.add_put("/v1/files/{sha256:[0-9a-f]{64}}", self.upload)
        app.router.add_post("/v1/receipt", self.receipt)
        app.router.add_get("/v1/time", self.time)
        app.router.add_get("/v1/assignment", self.assignment)
        return app

    # -- who is asking
    def device_of(self, request) -> str:
        certificate = request.transport.get_extra_info("peercert") if request.transport else None
        for kind, value in (certificate or {}).get("subjectAltName", ()):
            if kind == "URI" and value.startswith(DEVICE_URI_PREFIX):
                return value.removeprefix(DEVICE_URI_PREFIX)
        raise web.HTTPForbidden(text=_refusal("not-a-device", "the client certificate names no device"),
                                content_type="application/json")

    def named(self, device_id: str) -> dict:
        """The files the device's witnessed ledger (and the manifests held) name, read again
        only when the ledger grew or a manifest arrived: not once per upload."""
        ledger = self.layout.device_store(device_id) / "ledger" / "ledger.jsonl"
        size = ledger.stat().st_size if ledger.exists() else 0
        cached = self._named.get(device_id)
        if cached is None or cached[0] != size:
            cached = (size, named_files(self.layout.device_store(device_id)))
            self._named[device_id] = cached
        return cached[1]

    def footage_class(self, device_id: str, session_id: str):
        """(retention class, recorded until) of a session, as the witnessed ledger says."""
        store = self.layout.device_store(device_id)
        size = (store / "ledger" / "ledger.jsonl").stat().st_size
        cached = self._classes.get(device_id)
        if cached is None or cached[0] != size:
            cached = self._classes[device_id] = (size, footage_classes(store))
        return cached[1].get(session_id, (PATROL, self.now()))

    def precheck(self, device_id: str, path: str) -> None:
        """The segment `path` belongs to, to the worker thread once the dock holds all of it."""
        store = self.layout.device_store(device_id)
        members = segment_members(self.named(device_id), path)
        if members and all((store / w.path).exists() for w in members):
            footage_class, until = self.footage_class(device_id, members[0].segment["session_id"])
            self.prechecks.submit(device_id, store, members, footage_class, until)

    def lock(self, device_id: str) -> asyncio.Lock:
        return self._locks.setdefault(device_id, asyncio.Lock())

    def staging(self, device_id: str) -> Staging:
        if device_id not in self._staging:
            self._staging[device_id] = Staging(self.layout.staging_dir / device_id, self.layout.device_store(device_id))
        return self._staging[device_id]

    def refuse(self, device_id: str, status: int, code: str, detail: str, **facts):
        append_event(self.layout, device_id, self.now(), "refused", code=code, detail=detail, **facts)
        log.warning("device %s refused: %s: %s", device_id, code, detail)
        return web.Response(status=status, text=_refusal(code, detail), content_type="application/json")

    # -- the steps
    async def hello(self, request):
        device_id = self.device_of(request)
        store = self.layout.device_store(device_id)
        now = held(store / "ledger" / "ledger.jsonl")
        return web.json_response({"dock": self.keys.certificate.subject.rfc4514_string(), "device_id": device_id,
                                  "held": now.ref, "held_lines": now.lines})

    async def ledger(self, request):
        device_id = self.device_of(request)
        try:
            offer = await request.json()
            public_key = offer["public_key"].encode("ascii")
            lines = "".join(line + "\n" for line in offer["lines"]).encode("utf-8")
            from_index, head = int(offer["from"]), str(offer["head"])
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError):
            return self.refuse(device_id, 400, "bad-request", "the ledger offer is not {public_key, from, head, lines}")
        store = self.layout.device_store(device_id)
        async with self.lock(device_id):
            try:
                before, new = check_offer(store, device_id, public_key, from_index, head, lines)
            except Refused as exc:
                return self.refuse(device_id, 409, exc.code, str(exc), offered=head)
            now = append_witnessed(store, public_key, new)
            self._link_receipts(device_id, new)
            if new:
                append_event(self.layout, device_id, self.now(), "witnessed", head=now.ref, entries=len(new),
                             previous=before.ref, cipher=_cipher(request))
            staging = self.staging(device_id)
            wanted = [{"path": w.path, "sha256": w.sha256, "size": w.size,
                       "offset": staging.offset(w.sha256) if w.sha256 else 0}
                      for w in self.named(device_id).values() if not (store / w.path).exists()]
        return web.json_response({"held": now.ref, "missing": wanted})

    def _link_receipts(self, device_id: str, lines: list[bytes]) -> None:
        """A witnessed release names a receipt this dock issued: its bytes join the store."""
        store = self.layout.device_store(device_id)
        issued = {}
        for path in self.layout.receipts_dir(device_id).glob("*.json"):
            issued[_sha256_file(path)] = path
        for line in lines:
            entry = parse_object(line) or {}
            if entry.get("type") != "release":
                continue
            sha = entry["body"].get("receipt_sha256")
            target = receipt_in_store(store, sha)
            if sha in issued and not target.exists():
                target.parent.mkdir(exist_ok=True)
                os.link(issued[sha], target)

    async def upload(self, request):
        device_id = self.device_of(request)
        sha256 = request.match_info["sha256"]
        try:
            path = request.headers["X-Path"]
            offset, size = int(request.headers["X-Offset"]), int(request.headers["X-Size"])
        except (KeyError, ValueError):
            return self.refuse(device_id, 400, "bad-request", "an upload needs X-Path, X-Offset and X-Size")
        store = self.layout.device_store(device_id)
        staging = self.staging(device_id)
        try:
            staging.check(self.named(device_id).get(path), path, sha256, offset, size)
        except AlreadyHeld:
            return web.json_response({"offset": size, "stored": True})
        except UploadRefused as exc:
            if exc.status == 409:  # not a refusal: the device is told where to go on from
                return web.json_response({"offset": exc.offset, "detail": str(exc)}, status=409)
            return self.refuse(device_id, exc.status, "not-named", str(exc), path=path)
        token = object()
        self._writers[(device_id, sha256)] = token  # a newer request for the file takes over
        staging.begin(sha256, offset)
        fd = staging.open(sha256)
        written = offset
        try:
            async for chunk in request.content.iter_chunked(CHUNK):
                if self._writers.get((device_id, sha256)) is not token or written + len(chunk) > size:
                    break
                write_all(fd, chunk)
                staging.absorb(sha256, chunk)
                written += len(chunk)
        except BaseException as exc:  # a cut link (or a cancelled handler): what came is kept
            log.info("upload of %s from %s cut at %d: %s", path, device_id, written, exc.__class__.__name__)
            raise
        finally:
            os.fsync(fd)
            os.close(fd)
        if written < size:
            return web.json_response({"offset": written})
        async with self.lock(device_id):
            if (store / path).exists():
                return web.json_response({"offset": size, "stored": True})
            if not staging.finish(path, sha256):
                return self.refuse(device_id, 422, "hash-mismatch",
                                   f"{path}: the bytes received do not hash to {sha256[:16]}…; set aside, send again",
                                   path=path)
        if path.endswith(MANIFEST_SUFFIX):  # it may name more files (a torn tail, a fragment index)
            self._named.pop(device_id, None)
        self.precheck(device_id, path)
        append_event(self.layout, device_id, self.now(), "received", path=path, sha256=sha256, size=size)
        return web.json_response({"offset": size, "stored": True}, status=201)

    async def receipt(self, request):
        device_id = self.device_of(request)
        try:
            head = str((await request.json())["head"])
        except (ValueError, KeyError, TypeError):
            return self.refuse(device_id, 400, "bad-request", "a receipt request is {head}")
        async with self.lock(device_id):
            checked = await self.prechecks.settled(device_id)
            loop = asyncio.get_running_loop()
            try:
                data, withheld = await loop.run_in_executor(
                    None, issue, self.layout, device_id, self.keys, self.archive, head, self.now(), checked)
            except VerificationRefused as exc:
                return self.refuse(device_id, 422, "does-not-verify", str(exc), withheld=exc.withheld.record())
            except ValueError as exc:
                return self.refuse(device_id, 409, "not-witnessed", str(exc))
        receipt = json.loads(data)
        append_event(self.layout, device_id, self.now(), "receipt", head=head, files=len(receipt["files"]),
                     withheld=withheld.record())
        return web.Response(body=data, content_type="application/json",
                            headers={"X-Withheld": json.dumps(withheld.record(), ensure_ascii=True)[:8000]})

    async def time(self, request):
        self.device_of(request)
        wall_ns = self.wall_ns()  # first: what is measured is this moment
        source, error_ns = self.clock_quality()
        return web.json_response({"wall_ns": wall_ns, "source": source, "error_ns": error_ns})

    async def assignment(self, request):
        device_id = self.device_of(request)
        newest = latest_assignment(self.layout, device_id)
        if newest is None:
            return web.json_response({"refused": "no-assignment", "detail": "none issued"}, status=404)
        return web.Response(body=newest, content_type="application/json")


def _system_clock_quality():
    """The dock's own clock: its source and error bound as chrony and the kernel say (read
    only; recorder/systime.py), so that a device's offset is never stated better than the
    dock's clock is."""
    from ..clock import DRIFT_PPB
    from ..systime import SystemDiscipline

    return SystemDiscipline(DRIFT_PPB)


def _cipher(request) -> str | None:
    """The TLS 1.3 suite this connection negotiated (the events say which one each offload had)."""
    cipher = request.transport.get_extra_info("cipher") if request.transport else None
    return cipher[0] if cipher else None


def _refusal(code: str, detail: str) -> str:
    return json.dumps({"refused": code, "detail": detail}, ensure_ascii=False)


def _sha256_file(path) -> str:
    from ..evidence.files import hash_regular

    return hash_regular(path)[1]


async def serve(service: DockService, host: str, port: int, ready=None, stop: asyncio.Event | None = None):
    """Run until `stop` is set (or forever); `ready(port)` once listening (port 0: any)."""
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=service.keys.server_context(), reuse_address=True)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    try:
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        await runner.cleanup()
        service.prechecks.close()


def open_dock_service(root, settings=None, **clock) -> DockService:
    """The dock directory's service as `recorder dock serve` runs it: its keys and archive
    (settings: the directory's, read here unless given; clock: DockService's `wall_ns` and
    `clock_quality`, the system's unless given)."""
    from ..archive import open_archive
    from .keys import load_dock_keys
    from .settings import load_settings

    layout = DockLayout(root)
    keys = load_dock_keys(layout.root)
    settings = settings or load_settings(layout)
    return DockService(layout, keys, open_archive(settings.archive, layout.root), **clock)
