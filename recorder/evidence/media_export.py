"""`recorder export --media SESSION --identity AGE-KEY-FILE`: a session's segments as MP4
files an authorised viewer plays, decrypted with the agency's age identity and each checked
against what the device signed (docs/ENCRYPTION.md).

Only segments whose ledger entry verifies, whose manifest is the sealed one and signed, and
whose file is the sealed one are exported. Each decrypted file is checked against the
manifest's plaintext: its size and SHA-256, its init and fragment hashes, its frame count.
A segment sealed after a power cut (no final chunk) decrypts to its whole fragments, as its
manifest says. Plaintext segments (format 4 and before) are copied and checked by their hash.
Nothing is written over an existing file."""

from dataclasses import dataclass, field
from pathlib import Path

from ..encryption import AgeError
from .encrypted import Decryption, encryption_of
from .files import READ_CHUNK, NotRegular, digest_open, open_read_only, safe_relative
from .gpx import trusted_manifest
from .segments import _sealed_ranges
from .trusted import ExportError, find_session, signed_history


@dataclass
class ExportedSegment:
    seq: int
    path: Path | None  # the file written (None: nothing written)
    frames: int
    encrypted: bool
    complete: bool  # False: sealed after a power cut, its whole fragments only
    problems: list = field(default_factory=list)  # why it does not match what was signed

    @property
    def matches(self) -> bool:
        return self.path is not None and not self.problems


def export_session_media(store_root, session_id: str, identities, out_dir: Path,
                         public_key_path: Path | None = None) -> tuple[str, list[ExportedSegment]]:
    """(session id, one result per sealed segment, in order). out_dir is created if needed."""
    signed = signed_history(store_root, public_key_path)
    store = signed.store
    session_id, session = find_session(signed, session_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    return session_id, [_export(store, signed.key, segment, list(identities), out_dir)
                        for segment in session.segments]


def _export(store, key, segment: dict, identities: list, out_dir: Path) -> ExportedSegment:
    seq = segment.get("seq")
    manifest = trusted_manifest(store, key, segment)
    result = ExportedSegment(seq, None, 0, False, True)
    if manifest is None:
        result.problems.append("its manifest is not the sealed, signed one")
        return result
    result.frames = manifest.get("video", {}).get("frames", 0)
    relative = segment.get("path")
    source = safe_relative(store.root, relative) if isinstance(relative, str) else None
    if source is None:
        result.problems.append(f"its path {relative!r} is outside the store's media")
        return result
    encryption = encryption_of(manifest)
    result.encrypted = encryption is not None
    target = out_dir / f"{seq:05d}.mp4"
    try:
        with open(open_read_only(source), "rb") as f:
            if digest_open(f) != (segment.get("file_size"), segment.get("file_sha256")):
                result.problems.append("its file is not the one sealed (size or SHA-256)")
                return result
            if encryption is None:
                f.seek(0)
                _write_new(target, iter(lambda: f.read(READ_CHUNK), b""))
                result.path = target
                return result
            result.complete = encryption["final_chunk"]
            with Decryption(f, identities, encryption["final_chunk"]) as decryption:
                ending = decryption.ending_problem()
                own, samples = decryption.layout()
                result.problems += _plaintext_problems(own, samples, manifest)
                if ending:
                    result.problems.append(ending)
                plain = decryption.plaintext
                plain.seek(0)
                _write_new(target, iter(lambda: plain.read(READ_CHUNK), b""))
                result.path = target
    except AgeError as exc:
        result.problems.append(f"it does not decrypt with the identity given: {exc}")
    except (OSError, NotRegular) as exc:
        result.problems.append(f"cannot be read: {exc}")
    return result


def _plaintext_problems(own: dict, samples: dict, manifest: dict) -> list[str]:
    wrong = []
    if own["file"] != manifest["encryption"]["plaintext"]:
        wrong.append("its plaintext's size or SHA-256 is not the one signed")
    if dict(_sealed_ranges(own)) != dict(_sealed_ranges(manifest)):
        wrong.append("its init, fragments or tail are not the ones signed")
    if samples.get("vide", 0) != manifest.get("video", {}).get("frames"):
        wrong.append(f"it holds {samples.get('vide', 0)} frames, the manifest {manifest.get('video', {}).get('frames')}")
    return wrong


def _write_new(target: Path, chunks) -> None:
    try:
        with open(target, "xb") as out:  # never over an existing file: a clerk's copy stays
            for chunk in chunks:
                out.write(chunk)
    except FileExistsError:
        raise ExportError(f"{target} exists already: export into an empty directory") from None
