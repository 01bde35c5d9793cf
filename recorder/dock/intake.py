"""Taking a device's files (docs/DOCK.md, "Uploads"): only files its witnessed ledger names,
content-addressed by SHA-256, resumable from the bytes the dock holds.

An upload lands in DOCK/staging/<device>/<sha256>/<attempt>, appended at the offset the dock
states (its size, fsync'd before any answer names it); when it reaches its size its hash is
compared with the one the ledger sealed, and only then is it linked into the device's store
at the dock (read-only; the directory fsync'd). A complete upload that does not hash to its
name stays as found and the next attempt starts a new file beside it (`<attempt + 1>`): the
dock removes and renames nothing. A file the store holds already is never taken twice."""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..durable import fsync_dir
from ..evidence.files import safe_relative
from ..evidence.layout import RECEIPTS_DIR
from ..evidence.ledger import LedgerText, parse_object

READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Wanted:
    path: str  # store-relative
    sha256: str | None  # None: named by path only (bytes an interruption set aside)
    size: int | None
    segment: dict | None = None  # the body of the `segment` entry it belongs to


def named_files(store: Path) -> dict[str, Wanted]:
    """Every file the dock's copy of the ledger names, by store path (the ledger was
    witnessed: every line is the device's, signed and chained). A recovered manifest the
    dock holds names its torn tail too."""
    try:
        text = LedgerText.parse((store / "ledger" / "ledger.jsonl").read_bytes())
    except FileNotFoundError:
        return {}
    named: dict[str, Wanted] = {}
    for _, _, entry in text.entries():
        body = entry.get("body") if isinstance(entry, dict) else None
        if not isinstance(body, dict):
            continue
        if entry.get("type") == "segment":
            named[body["path"]] = Wanted(body["path"], body["file_sha256"], body["file_size"], body)
            named[body["manifest"]] = Wanted(body["manifest"], body["manifest_sha256"], None, body)
            _named_by_manifest(store, body, named)
        elif entry.get("type") == "interruption":
            for path in body.get("set_aside") or []:
                if isinstance(path, str) and path not in named:
                    named[path] = Wanted(path, None, None)
    return {path: wanted for path, wanted in named.items() if safe_relative(store, path) is not None}


def _named_by_manifest(store: Path, segment: dict, named: dict) -> None:
    """Files a manifest the dock holds (with the hash the ledger sealed) names: a recovered
    segment's torn tail, an encrypted segment's fragment index (format 5)."""
    relative = segment["manifest"]
    try:
        data = (store / relative).read_bytes()
    except OSError:
        return
    if hashlib.sha256(data).hexdigest() != segment["manifest_sha256"]:
        return
    manifest = parse_object(data) or {}
    recovered = manifest.get("recovered") if isinstance(manifest.get("recovered"), dict) else {}
    encryption = manifest.get("encryption") if isinstance(manifest.get("encryption"), dict) else {}
    for member in (recovered.get("torn"), encryption.get("index")):
        if isinstance(member, dict) and isinstance(member.get("name"), str) and "/" not in member["name"]:
            path = f"{relative.rsplit('/', 1)[0]}/{member['name']}"
            named[path] = Wanted(path, member.get("sha256"), member.get("size"), segment)


class UploadRefused(Exception):
    def __init__(self, status: int, message: str, offset: int | None = None):
        super().__init__(message)
        self.status, self.offset = status, offset


class AlreadyHeld(Exception):
    """The file is in the dock's store already (its answer was lost on a cut link): done."""


class Staging:
    """One device's uploads in progress. `offset(sha)` is what the dock holds durably."""

    def __init__(self, staging_dir: Path, store: Path):
        self.dir, self.store = staging_dir, store
        self._hashes: dict[str, tuple[int, "hashlib._Hash"]] = {}  # sha -> (bytes hashed, running hash)

    def path(self, sha256: str) -> Path:
        """The current attempt's file (attempts that did not hash to their name stay before it)."""
        attempts = self.dir / sha256
        numbers = [int(p.name) for p in attempts.glob("[0-9]*") if p.name.isdigit()] if attempts.exists() else []
        return attempts / str(max(numbers, default=1))

    def offset(self, sha256: str) -> int:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return 0

    def check(self, wanted: Wanted | None, path: str, sha256: str, offset: int, size: int) -> None:
        if wanted is None:
            raise UploadRefused(403, f"{path} is not a file the witnessed ledger names")
        if wanted.sha256 is not None and wanted.sha256 != sha256:
            raise UploadRefused(403, f"{path} was sealed with SHA-256 {wanted.sha256[:16]}…, not {sha256[:16]}…")
        if wanted.size is not None and wanted.size != size:
            raise UploadRefused(403, f"{path} was sealed with {wanted.size} bytes, not {size}")
        if (self.store / path).exists():
            raise AlreadyHeld(path)
        held = self.offset(sha256)
        if offset != held:
            raise UploadRefused(409, f"the dock holds {held} bytes of {path}, not {offset}", offset=held)
        if size < held:
            raise UploadRefused(403, f"{path}: {size} bytes declared, {held} held")

    def open(self, sha256: str) -> int:
        (self.dir / sha256).mkdir(parents=True, exist_ok=True)
        return os.open(self.path(sha256), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def absorb(self, sha256: str, data: bytes) -> None:
        """Keep the running hash in step with what is written (saves reading the file back)."""
        done, digest = self._hashes.get(sha256, (0, None))
        if digest is None:
            return
        digest.update(data)
        self._hashes[sha256] = (done + len(data), digest)

    def begin(self, sha256: str, offset: int) -> None:
        """Before appending at `offset`: a running hash of the bytes held (read back only when
        the dock restarted since, or another request left it elsewhere)."""
        done, digest = self._hashes.get(sha256, (0, None))
        if digest is not None and done == offset:
            return
        self._hashes[sha256] = (offset, _hash_file(self.path(sha256), offset) if offset else hashlib.sha256())

    def finish(self, path: str, sha256: str) -> bool:
        """A complete upload: into the store when its hash is its name (True), else set aside."""
        done, digest = self._hashes.pop(sha256, (0, None))
        staged = self.path(sha256)
        if digest is None or done != staged.stat().st_size:
            digest = _hash_file(staged)
        if digest.hexdigest() != sha256:
            next_attempt = staged.with_name(str(int(staged.name) + 1))
            os.close(os.open(next_attempt, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            fsync_dir(staged.parent)
            return False
        final = self.store / path
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, 0o444)
        os.link(staged, final)  # never over an existing name
        fsync_dir(final.parent)
        return True


def _hash_file(path: Path, limit: int | None = None):
    digest, done = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK if limit is None else min(READ_CHUNK, limit - done)):
            digest.update(chunk)
            done += len(chunk)
    return digest


def segment_members(named: dict[str, Wanted], path: str) -> list[Wanted]:
    """Every file of the segment `path` belongs to (media, manifest, and what the manifest
    names), or [] when it belongs to none."""
    segment = named[path].segment if path in named else None
    return [w for w in named.values() if segment is not None and w.segment is segment]


def receipt_in_store(store: Path, sha256: str) -> Path:
    return store / RECEIPTS_DIR / f"{sha256}.json"
