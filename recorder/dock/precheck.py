"""Each segment checked and archived as soon as the dock holds all of it (docs/DOCK.md,
"Verification"), on a worker thread beside the uploads that follow, so that a receipt is not
kept waiting for a verification of everything at the end.

When the last file of a segment arrives (its media, its manifest, and what the manifest
names), the segment is checked with the verifier's own per-segment checks
(`evidence.verifier.check_segment`: the manifest's signature and document rules, the media
against the manifest, every range hash) and, when nothing is wrong, each of its files is put
in the archive. The receipt then waits for the device's checks still running, hands the
clean ones to `verify_store` as already hashed (it still checks the ledger, the sessions and
every manifest again) and names the archived objects without storing them again. A segment
with a problem is simply not counted here: the receipt's full verification reports it as
ever. What a check archived stays archived whether or not a receipt covers it (a write-once
store keeps what it takes); a dock restarted in between checks everything at the receipt."""

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..evidence.verifier import check_segment
from .intake import Wanted

log = logging.getLogger(__name__)


class Prechecks:
    def __init__(self, archive, workers: int = 1):
        self.archive = archive
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dock-check")
        self._pending: dict[str, list[Future]] = {}  # device -> checks not yet collected
        self._checked: dict[str, dict[str, dict]] = {}  # device -> store path -> {"sha256", "size", "stored"}
        self._submitted: set[tuple[str, str, int]] = set()  # (device, session, seq)

    def submit(self, device_id: str, store: Path, members: list[Wanted], footage_class: str, recorded_until) -> bool:
        """Check the segment `members` make up, once; False when it was submitted before."""
        body = members[0].segment
        key = (device_id, body["session_id"], body["seq"])
        if key in self._submitted:
            return False
        self._submitted.add(key)
        future = self._executor.submit(self._check, store, members, footage_class, recorded_until)
        self._pending.setdefault(device_id, []).append(future)
        return True

    def _check(self, store: Path, members: list[Wanted], footage_class: str, recorded_until) -> dict[str, dict]:
        body = members[0].segment
        # every file in the dock's store hashed to its ledger hash when intake linked it there
        # (Staging.finish), and only the dock writes it: the whole-file hashes are not redone
        digested = {member.path: member.sha256 for member in members if member.sha256}
        problems = check_segment(store, body, digested)
        if problems:
            log.info("segment %s/%d: %d problem(s), left to the receipt's verification",
                     body["session_id"], body["seq"], len(problems))
            return {}
        checked = {}
        for member in members:
            if member.sha256 is None:  # a torn tail its manifest names without a hash: the receipt hashes it
                continue
            stored = self.archive.put(member.sha256, store / member.path, footage_class, recorded_until, checked=True)
            checked[member.path] = {"sha256": member.sha256, "size": stored.size, "stored": stored}
        return checked

    async def settled(self, device_id: str) -> dict[str, dict]:
        """Wait for the device's checks; store path -> what each clean one archived."""
        futures = self._pending.pop(device_id, [])
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures), return_exceptions=True)
        checked = self._checked.setdefault(device_id, {})
        for result in results:
            if isinstance(result, BaseException):  # the receipt checks and archives it again
                log.warning("a segment check of device %s failed: %s", device_id, result)
            else:
                checked.update(result)
        return dict(checked)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
