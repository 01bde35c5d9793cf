"""One offload (docs/DOCK.md, "An offload, step by step").

  1. free what an earlier release recorded but a power cut left on disk;
  2. hello: the head the dock holds for this device;
  3. checkout, the clock: the offset against the dock's clock, sealed in the ledger first
     (checkout.py), so the dock witnesses it with the rest;
  4. the ledger from there (witness first): refused → stop, nothing freed;
  5. the files the dock lists as missing, in plan.py's order, each from the offset the dock
     holds (it says where on a 409), resumed after a cut link;
  6. the receipt for the witnessed head; release under it (release.py);
  7. checkout, the officer: the dock's newest assignment for this device, recorded once.

A cut link is retried with a back-off on the injected clock, up to `max_failures` failures
in a row; the next offload goes on from what the dock holds. Progress is reported as
(files done, files in all, bytes sent)."""

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import ProvisioningError
from ..evidence.files import open_read_only
from ..evidence.keys import public_key_pem
from ..evidence.layout import MANIFEST_SUFFIX, StoreLayout
from ..evidence.ledger import LedgerText
from .checkout import measure_offset, record_offset, take_assignment
from .link import Dock, DockRefused, LinkError
from .plan import ordered
from .release import Released, Sent, free_files, pending_releases, release_under_receipt, stat_identity

log = logging.getLogger(__name__)
BLOCK = 1 << 20


class OffloadFailed(Exception):
    """The link kept failing: what the dock holds stays there; try again."""


@dataclass
class Outcome:
    head: str | None = None  # the head the dock witnessed
    cipher: str | None = None
    sent: list = field(default_factory=list)  # store paths the dock took in this offload
    bytes_sent: int = 0
    link_failures: int = 0
    receipt: str | None = None  # its SHA-256
    released: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    withheld: dict = field(default_factory=dict)
    refused: str | None = None  # the dock's refusal code, when it refused
    clock_offset: dict | None = None  # {"offset_us", "error_us"}: the dock's clock − the device's
    officer: str | None = None  # the officer the dock assigned for the next shift

    def record(self) -> dict:
        return dict(self.__dict__)


class Offload:
    def __init__(self, store: StoreLayout, identity, ledger, dock: Dock, clock, stamp=None,
                 max_failures: int = 8, progress=None, identity_dir=None):
        self.store, self.identity, self.ledger, self.dock, self.clock = store, identity, ledger, dock, clock
        self.stamp = stamp or clock.stamp
        self.max_failures, self.progress = max_failures, progress or (lambda *a: None)
        self.outcome = Outcome()
        self.identity_dir = identity_dir
        self._failures = 0
        self._files_done = 0
        self._sent_whole: dict[str, Sent] = {}  # store path -> what this offload read of it as it sent it

    def run(self) -> Outcome:
        device_id = self.identity.device_id
        certificate = self.dock.link.dock
        stale = pending_releases(self.store, certificate, device_id)
        if stale:
            free_files(self.store, stale)
            self.outcome.released += [r["path"] for r in stale]
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offload-hash")
        try:
            offset = self.retrying(lambda: measure_offset(self.dock, self.clock))
            record_offset(self.ledger, self.clock, certificate, offset)
            self.outcome.clock_offset = {"offset_us": offset.offset_us, "error_us": offset.error_us}
            missing = self.witness()
            for _ in range(4):
                if not missing:
                    break
                # the manifests alone first: held by the dock, they name more files (a torn tail,
                # a fragment index), which the dock then lists and takes before the media
                manifests = [item for item in missing if item["path"].endswith(MANIFEST_SUFFIX)]
                self.send(manifests or missing)
                missing = self.retrying(self.still_missing)
            self.receive_receipt(device_id, certificate)
            if self.identity_dir is not None:
                self.take_assignment(device_id, certificate)
        except DockRefused as exc:
            self.outcome.refused = exc.code
            self.outcome.withheld = exc.facts.get("withheld") or {}
            log.warning("the dock refused: %s", exc)
        finally:
            self.outcome.cipher = self.outcome.cipher or self.dock.cipher
            self.dock.close()
            self._hasher.shutdown(wait=True)
        return self.outcome

    def take_assignment(self, device_id: str, certificate) -> None:
        try:
            assignment = self.retrying(lambda: take_assignment(
                self.dock, self.ledger, self.clock, self.identity_dir, certificate, device_id))
        except ProvisioningError as exc:  # not the pinned dock's, or not for this device: ignored
            log.warning("the dock's assignment is refused: %s", exc)
            self.outcome.officer = None
            return
        self.outcome.officer = assignment.officer_id if assignment else None

    # -- with retries
    def retrying(self, step):
        while True:
            try:
                result = step()
                self._failures = 0
                if self.outcome.cipher is None:
                    self.outcome.cipher = self.dock.cipher
                return result
            except LinkError as exc:
                self._failures += 1
                self.outcome.link_failures += 1
                if self._failures >= self.max_failures:
                    raise OffloadFailed(f"the link failed {self._failures} times in a row: {exc}") from None
                log.info("link failed (%s); again in %.1f s", exc, self.backoff_s())
                self.clock.sleep_until(self.clock.monotonic_ns() + int(self.backoff_s() * 1e9))

    def backoff_s(self) -> float:
        return min(0.05 * 2 ** (self._failures - 1), 2.0)

    # -- the steps
    def witness(self) -> list[dict]:
        self.ledger_bytes = self.store.ledger_path.read_bytes()  # what this offload offers, read once
        answer = self.retrying(lambda: self.offer(self.ledger_bytes))
        self.outcome.head = answer["held"]
        return answer["missing"]

    def still_missing(self) -> list[dict]:
        """What the dock still lacks, once it holds the manifests (the same offer: no new lines)."""
        return self.offer(self.ledger_bytes)["missing"]

    def offer(self, data: bytes) -> dict:
        """The ledger's complete lines from those the dock holds -> {"held", "missing"}."""
        start = int(self.dock.json("GET", "/v1/hello")[1].get("held_lines") or 0)
        text = LedgerText.parse(data)
        offer = {"public_key": public_key_pem(self.identity.public_key).decode("ascii"), "from": start,
                 "head": text.head_ref, "lines": [line.decode("utf-8") for line in text.lines[start:]]}
        return self.dock.json("POST", "/v1/ledger", offer)[1]

    def send(self, missing: list[dict]) -> None:
        plan = ordered(missing, self.ledger_bytes)
        before = self._files_done
        for number, item in enumerate(plan, start=1):
            self.retrying(lambda: self.send_file(item))
            self._files_done = before + number
            self.progress(self._files_done, before + len(plan), self.outcome.bytes_sent)

    def send_file(self, item: dict) -> None:
        """Send one file from the offset the dock holds; returns once the dock stored it."""
        path = self.store.root / item["path"]
        with open(open_read_only(path), "rb", closefd=True) as f:
            size = f.seek(0, 2)
            sha256 = item["sha256"] or _sha256(f)
            offset = item.get("offset") or 0
            while True:
                f.seek(offset)
                reader = _Reader(f, size - offset, self.outcome, self._hasher if offset == 0 else None)
                status, data, _ = self.dock.request(
                    "PUT", f"/v1/files/{sha256}", body=reader,
                    headers={"X-Path": item["path"], "X-Offset": str(offset), "X-Size": str(size),
                             "Content-Length": str(size - offset)})
                answer = json.loads(data)
                if answer.get("stored"):
                    if status == 201:
                        self.outcome.sent.append(item["path"])
                        sent = reader.sent(f.fileno())
                        if sent is not None:
                            self._sent_whole[item["path"]] = sent
                    return
                offset = answer["offset"]  # a 409 or a short body: on from what the dock holds
                if status != 409:
                    raise LinkError(f"{item['path']}: the dock holds {offset} of {size} bytes")

    def receive_receipt(self, device_id: str, certificate) -> Released:
        status, data, headers = self.retrying(lambda: self.dock.request(
            "POST", "/v1/receipt", json.dumps({"head": self.outcome.head}).encode(),
            {"Content-Type": "application/json"}))
        self.outcome.withheld = json.loads(headers.get("X-Withheld", "{}") or "{}")
        released = release_under_receipt(self.store, self.ledger, self.stamp, data, certificate, device_id,
                                         self._sent_whole)
        self.outcome.receipt = released.receipt
        self.outcome.released += [r["path"] for r in released.files]
        self.outcome.kept = released.kept
        return released


class _Reader:
    """A file's bytes from its position, counted as they go (http.client reads blocks); a
    file sent whole is hashed as it goes too, so that its release need not read it again —
    on the hashing thread, block n while block n is encrypted and sent (hashlib lets go of
    the GIL: on a Pi, where the device's CPU is what limits an offload, they overlap)."""

    def __init__(self, f, length: int, outcome: Outcome, hasher: ThreadPoolExecutor | None):
        self.f, self.length, self.left, self.outcome, self.hasher = f, length, length, outcome, hasher
        self.digest = hashlib.sha256() if hasher is not None else None
        self._hashing = None  # the block being hashed
        self._identity = stat_identity(os.fstat(f.fileno())) if hasher is not None else None  # before any read

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        self.outcome.bytes_sent += len(data)
        if self.digest is not None:
            self._wait()  # blocks go into the hash in order
            self._hashing = self.hasher.submit(self.digest.update, data)
        return data

    def _wait(self) -> None:
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None

    def sent(self, fd: int) -> "Sent | None":
        """What was read, when it was the whole file and did not change while it was read:
        its size, hash and stat identity."""
        if self.digest is None or self.left or stat_identity(os.fstat(fd)) != self._identity:
            return None
        self._wait()
        return Sent(self.length, self.digest.hexdigest(), self._identity)


def _sha256(f) -> str:
    digest = hashlib.sha256()
    f.seek(0)
    while chunk := f.read(BLOCK):
        digest.update(chunk)
    return digest.hexdigest()


def device_offload(store_root, identity_dir, host: str, port: int, clock, progress=None) -> Offload:
    """The offload `recorder offload` runs: the device's store, its signing identity and
    ledger, and the link pinned to the dock its installed bundle names."""
    from ..provision.tls import dock_link
    from ..seal.identity import open_identity
    from ..seal.ledger import Ledger

    link = dock_link(identity_dir)  # first: a device without a bundle is refused before anything is opened
    store = StoreLayout(store_root)
    identity = open_identity(identity_dir, store, create=False)
    return Offload(store, identity, Ledger(store.ledger_path, identity), Dock(host, port, link), clock,
                   progress=progress, identity_dir=identity_dir)
