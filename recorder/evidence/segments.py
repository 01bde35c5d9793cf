"""Checking one sealed segment: its manifest against the ledger and its session, its media
file against the manifest and against the file's own boxes (docs/FORMATS.md).

A `SegmentCheck` reports through the verification's `problem(code, location, message,
session_id)`; it never stops at the first discrepancy.
"""

import os

from .bmff import hash_layout, hash_range, sample_counts
from .canonical import canonical_bytes, sha256_hex
from .documents import signature_valid
from ..encryption import AgeError
from .encrypted import Decryption, ciphertext_problems, encryption_of, index_problems, malformed
from .entries import MANIFEST_TYPE, MANIFEST_VERSIONS
from .files import NotRegular, digest_open, open_read_only, read_regular
from .layout import is_encrypted_name
from .ledger import parse_object
from .rules import canonical_signature, floats_in, timestamp_problem
from .track import mappings_problem, placement_problem, track_problems

RANGE_MEMBERS = ("offset", "size", "sha256")
# Version 1 manifests named the audio codec by its encoder where the two differ.
ENCODER_NAMES = {"libopus": "opus"}


class SegmentCheck:
    def __init__(self, store, key, device_id: str, problem, identities=()):
        """identities: the agency's age identities, to check encrypted segments' plaintext
        too (none: their ciphertext only, as the dock does)."""
        self.store, self.key, self.device_id, self.problem = store, key, device_id, problem
        self.released: dict[str, dict] = {}  # path -> file record, freed under a dock receipt
        self.hashed: set[tuple[str, str]] = set()  # (path, sha256) checked before (verify_store)
        self.digested: dict[str, str] = {}  # path -> whole-file SHA-256 the caller computed (check_segment)
        self.identities = list(identities)
        self.accounted: set[str] = set()  # store paths of files manifests name (fragment indexes)

    # -- the manifest ------------------------------------------------------------------------
    def manifest(self, relative: str, body: dict, session, entry_location: str) -> dict | None:
        """Check one manifest; return it when its bytes are exactly the sealed ones."""
        sid = body["session_id"]
        data = self.read_named(relative, entry_location, sid)
        if data is None:
            return None
        authentic = sha256_hex(data) == body["manifest_sha256"]
        if not authentic:
            self.problem(
                "hash-mismatch", relative,
                f"SHA-256 is {sha256_hex(data)[:16]}…, the ledger ({entry_location}) sealed "
                f"{body['manifest_sha256'][:16]}…: the manifest was altered or replaced", sid,
            )
        manifest = parse_object(data)
        if manifest is None:
            self.problem("unparsable-manifest", relative, "the manifest is not a JSON object", sid)
            return None
        self.document_rules(manifest, data, relative, sid)
        self.compare(manifest, body, session, relative, entry_location)
        return manifest if authentic else None

    def document_rules(self, manifest: dict, data: bytes, relative: str, sid: str):
        if _canonical_or_none(manifest) != data:
            self.problem("not-canonical", relative,
                         "the manifest is not the canonical (JCS) form of its own JSON: it was edited", sid)
        if not _signature_ok(self.key, manifest):
            self.problem("bad-signature", relative,
                         f"the manifest signature does not verify with the key of {self.device_id}", sid)
        elif not canonical_signature(manifest):
            self.problem("non-canonical-signature", relative,
                         "the signature is not written in canonical base64", sid)
        for path in floats_in(manifest):
            self.problem("float-in-document", relative, f"{path} is a floating-point number", sid)
        for member in ("start", "end"):
            wrong = timestamp_problem(manifest.get(member), manifest.get("v") if isinstance(manifest.get("v"), int) else 1)
            if wrong:
                self.problem("inconsistent-time", relative, f"{member}: {wrong}", sid)
        if manifest.get("device_id") != self.device_id:
            self.problem("wrong-device", relative,
                         f"device_id is {manifest.get('device_id')!r}, the key's is {self.device_id}", sid)
        if manifest.get("v") in (4, 5):
            self.where_and_when(manifest, relative, sid)
        if manifest.get("v") == 5 and "encryption" in manifest:
            wrong = ["it is not an object"] if encryption_of(manifest) is None else malformed(manifest["encryption"])
            if wrong:
                self.problem("encryption-mismatch", relative,
                             f"the manifest's encryption is malformed: {', '.join(wrong)}", sid)
                manifest["encryption"] = None  # not usable below: the file is then checked by its hash alone

    def where_and_when(self, manifest: dict, relative: str, sid: str):
        """Version 4: the clock mappings place the manifest's times; the track is sound."""
        start, end = manifest.get("start"), manifest.get("end")
        if timestamp_problem(start, 4) or timestamp_problem(end, 4):
            return  # reported above
        mappings = manifest.get("clock")
        wrong = mappings_problem(mappings)
        if wrong is None:
            wrong = placement_problem(mappings, start, "start") or placement_problem(mappings, end, "end")
        if wrong:
            self.problem("inconsistent-time", relative, wrong, sid)
            mappings = None
        for wrong in track_problems(manifest.get("track"), start["mono_us"], end["mono_us"], mappings):
            self.problem("bad-track", relative, f"track: {wrong}", sid)

    def compare(self, manifest: dict, body: dict, session, relative: str, entry_location: str):
        """The manifest against its ledger entry and its session's start."""
        file_info, video, start, end = (_member(manifest, m) for m in ("file", "video", "start", "end"))
        pairs = {
            "type": (manifest.get("type"), MANIFEST_TYPE),
            "session_id": (manifest.get("session_id"), body["session_id"]),
            "seq": (manifest.get("seq"), body["seq"]),
            "file.name": (file_info.get("name"), body["path"].rsplit("/", 1)[-1]),
            "file.size": (file_info.get("size"), body["file_size"]),
            "file.sha256": (file_info.get("sha256"), body["file_sha256"]),
            "start.mono_us": (start.get("mono_us"), body["start_mono_us"]),
            "end.mono_us": (end.get("mono_us"), body["end_mono_us"]),
            "duration_us": (manifest.get("duration_us"), body["duration_us"]),
            "video.frames": (video.get("frames"), body["frames"]),
        }
        where = f"the ledger ({entry_location})"
        if session is not None:
            pairs["officer_id"] = (manifest.get("officer_id"), session.officer_id)
            for name in ("codec", "width", "height", "frame_rate"):
                if name in session.video:
                    pairs[f"video.{name}"] = (video.get(name), session.video[name])
        for name, (says, expected) in pairs.items():
            if says != expected or type(says) is not type(expected):
                origin = "session_start" if name.startswith("video.") and name != "video.frames" else where
                self.problem("manifest-mismatch", relative, f"{name} is {says!r}, {origin} says {expected!r}",
                             body["session_id"])
        encrypted_name = is_encrypted_name(str(file_info.get("name")))
        if ("encryption" in manifest) != encrypted_name:
            self.problem("encryption-mismatch", relative,
                         f"file.name is {file_info.get('name')!r} but the manifest "
                         f"{'has' if 'encryption' in manifest else 'has no'} encryption member", body["session_id"])
        if manifest.get("v") not in MANIFEST_VERSIONS:
            self.problem("manifest-mismatch", relative, f"format version {manifest.get('v')!r} is not one of "
                         f"{sorted(MANIFEST_VERSIONS)}", body["session_id"])
        if session is not None:
            self.compare_audio(manifest, body, session, relative)
        if manifest.get("prerecord") is not None and body["seq"] != 1:
            self.problem("manifest-mismatch", relative,
                         f"a prerecord object on segment {body['seq']}: only segment 1 holds the pre-record",
                         body["session_id"])

    def compare_audio(self, manifest: dict, body: dict, session, relative: str):
        """Sound as the session started it; none only where there is none: a session without
        audio, or its pre-record when no sound before the press is kept (format 2)."""
        audio, sid = manifest.get("audio"), body["session_id"]
        if audio is None:
            if session.audio is None:
                return
            pre_record_only = (manifest.get("v", 1) >= 2 and not session.prerecord_audio
                               and body["end_mono_us"] <= session.start_at.get("mono_us", 0))
            if not pre_record_only:
                self.problem("manifest-mismatch", relative,
                             "no audio in a segment of a session recorded with sound", sid)
            return
        if session.audio is None:
            self.problem("manifest-mismatch", relative, "audio in a segment of a session without sound", sid)
            return
        for name in ("codec", "sample_rate", "channels"):
            says = audio.get(name) if isinstance(audio, dict) else audio
            if name == "codec" and manifest.get("v") == 1:
                says = ENCODER_NAMES.get(says, says)
            if name in session.audio and says != session.audio[name]:
                self.problem("manifest-mismatch", relative,
                             f"audio.{name} is {says!r}, session_start says {session.audio[name]!r}", sid)

    # -- the media file ----------------------------------------------------------------------
    def media(self, relative: str, body: dict, manifest: dict | None, entry_location: str):
        sid = body["session_id"]
        if (relative, body["file_sha256"]) in self.hashed and (self.store.root / relative).is_file():
            self.account_index(relative, manifest)
            return
        if is_encrypted_name(relative) or (manifest is not None and encryption_of(manifest) is not None):
            return self.encrypted_media(relative, body, manifest, entry_location)
        try:
            with os.fdopen(open_read_only(self.store.root / relative), "rb") as f:
                # the layout from the file's own boxes, and every hash, in one read
                own = hash_layout(f, self.digested.get(relative))
                samples = sample_counts(f) if manifest is not None else {}
                if own["file"]["size"] == body["file_size"] and own["file"]["sha256"] == body["file_sha256"]:
                    if manifest is not None:
                        self.against_manifest(own, samples, manifest, relative, sid)
                    return
                self.problem(
                    "hash-mismatch", relative,
                    f"{own['file']['size']} bytes with SHA-256 {own['file']['sha256'][:16]}…, sealed "
                    f"({entry_location}) as {body['file_size']} bytes with {body['file_sha256'][:16]}…", sid,
                )
                if manifest is not None:  # an authentic manifest locates the damage
                    self.locate_damage(f, own["file"]["size"], body["file_size"], relative, manifest, sid)
        except FileNotFoundError:
            if relative not in self.released:
                self.problem("missing-file", relative, f"named by {entry_location} but does not exist", sid)
        except NotRegular as exc:
            self.problem("not-a-regular-file", relative, f"named by {entry_location} but {exc}", sid)
        except OSError as exc:
            self.problem("unreadable-file", relative, f"cannot be read: {exc.strerror}", sid)

    def account_index(self, relative: str, manifest: dict | None) -> None:
        """An encrypted segment's fragment index belongs in the store: its authentic manifest
        names it."""
        if manifest is not None and encryption_of(manifest) is not None:
            name = manifest["encryption"]["index"]["name"]
            if "/" not in name and name not in ("", ".", ".."):
                self.accounted.add(f"{relative.rsplit('/', 1)[0]}/{name}")

    def encrypted_media(self, relative: str, body: dict, manifest: dict | None, entry_location: str):
        """An age-encrypted segment (format 5): its ciphertext as sealed, and as its manifest
        describes it; with the agency's identities, its plaintext too."""
        sid = body["session_id"]
        directory = relative.rsplit("/", 1)[0]
        self.account_index(relative, manifest)
        try:
            with os.fdopen(open_read_only(self.store.root / relative), "rb") as f:
                known = self.digested.get(relative)
                size, digest = (os.fstat(f.fileno()).st_size, known) if known else digest_open(f)
                if (size, digest) != (body["file_size"], body["file_sha256"]):
                    self.problem("hash-mismatch", relative,
                                 f"{size} bytes with SHA-256 {digest[:16]}…, sealed ({entry_location}) as "
                                 f"{body['file_size']} bytes with {body['file_sha256'][:16]}…", sid)
                    return
                if manifest is None or encryption_of(manifest) is None:
                    return
                for wrong in ciphertext_problems(f, size, manifest):
                    self.problem("encryption-mismatch", relative, wrong, sid)
                index, wrongs = index_problems(self.store.root, directory, manifest)
                for wrong in wrongs:
                    self.problem("index-mismatch", index or relative, wrong, sid)
                if self.identities:
                    self.plaintext(f, manifest, relative, sid)
        except FileNotFoundError:
            if relative not in self.released:  # freed under a dock receipt, with its index
                self.problem("missing-file", relative, f"named by {entry_location} but does not exist", sid)
        except NotRegular as exc:
            self.problem("not-a-regular-file", relative, f"named by {entry_location} but {exc}", sid)
        except OSError as exc:
            self.problem("unreadable-file", relative, f"cannot be read: {exc.strerror}", sid)

    def plaintext(self, f, manifest: dict, relative: str, sid: str):
        """With the agency's key: the file decrypts, ends as sealed, and is the MP4 its
        manifest describes."""
        enc = manifest["encryption"]
        try:
            decryption = Decryption(f, self.identities, enc["final_chunk"])
        except AgeError as exc:
            self.problem("decryption-failed", relative, f"it does not decrypt with the identities given: {exc}", sid)
            return
        with decryption:
            ending = decryption.ending_problem()
            if ending:
                self.problem("decryption-failed", relative, ending, sid)
            own, samples = decryption.layout()
            if own["file"] != enc["plaintext"]:
                self.problem("decryption-failed", relative,
                             f"its plaintext is {own['file']['size']} bytes with SHA-256 {own['file']['sha256'][:16]}…, "
                             f"the manifest says {enc['plaintext']['size']} bytes with "
                             f"{str(enc['plaintext']['sha256'])[:16]}…", sid)
            self.against_manifest(own, samples, manifest, f"{relative} (decrypted)", sid)

    def against_manifest(self, own: dict, samples: dict, manifest: dict, relative: str, sid: str):
        """The sealed bytes are authentic: the signed manifest must describe them exactly —
        ranges as the file's own boxes lay them out, each range's hash, the sample counts."""
        sealed = dict(_sealed_ranges(manifest, strict=True))
        derived = dict(_sealed_ranges(own, strict=True))
        for name in sorted(set(sealed) | set(derived), key=_range_order):
            says, is_ = sealed.get(name), derived.get(name)
            if says == is_:
                continue
            if says is None or is_ is None or (says["offset"], says["size"]) != (is_["offset"], is_["size"]):
                self.problem("layout-mismatch", f"{relative} {name}",
                             f"the manifest says {_range_text(says)}, the file's own boxes give {_range_text(is_)}", sid)
            else:
                self.problem("fragment-mismatch", f"{relative} {name} (offset {is_['offset']}, {is_['size']} bytes)",
                             f"its SHA-256 is {is_['sha256'][:16]}…, the manifest says {says['sha256'][:16]}…", sid)
        counts = {"vide": (_member(manifest, "video").get("frames"), "video frames")}
        audio = manifest.get("audio")
        counts["soun"] = ((audio.get("packets") if isinstance(audio, dict) else 0), "audio packets")
        for handler, (says, what) in counts.items():
            found = samples.get(handler, 0)
            if says != found:
                self.problem("sample-count-mismatch", relative,
                             f"the manifest says {says!r} {what}, the file's fragments hold {found}", sid)

    def locate_damage(self, f, actual_size: int, sealed_size: int, relative: str, manifest: dict, sid: str):
        """Name every sealed byte range (init, fragments, tail) whose bytes changed.

        The manifest's own offsets are re-hashed rather than a fresh box scan compared
        with it: a flipped byte in a box header would shift a fresh scan and blame every
        fragment after it, while the sealed ranges stay where they were."""
        for name, part in _sealed_ranges(manifest):
            got, digest = hash_range(f, part["offset"], part["size"])
            if got == part["size"] and digest == part["sha256"]:
                continue
            where = f"{relative} {name} (offset {part['offset']}, {part['size']} bytes)"
            if got < part["size"]:
                detail = f"the file ends {part['size'] - got} bytes before its end"
            else:
                detail = f"its SHA-256 is {digest[:16]}…, sealed as {part['sha256'][:16]}…"
            self.problem("fragment-mismatch", where, f"{name} differs from its seal: {detail}", sid)
        if actual_size > sealed_size:
            self.problem("trailing-data", f"{relative} after offset {sealed_size}",
                         f"{actual_size - sealed_size} bytes were appended after the sealed file", sid)

    def read_named(self, relative: str, entry_location: str, sid: str) -> bytes | None:
        try:
            return read_regular(self.store.root / relative)
        except FileNotFoundError:
            if relative not in self.released:
                self.problem("missing-file", relative, f"named by {entry_location} but does not exist", sid)
        except NotRegular as exc:
            self.problem("not-a-regular-file", relative, f"named by {entry_location} but {exc}", sid)
        except OSError as exc:
            self.problem("unreadable-file", relative, f"cannot be read: {exc.strerror}", sid)
        return None


def _member(document: dict, name: str) -> dict:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _canonical_or_none(document) -> bytes | None:
    try:
        return canonical_bytes(document)
    except Exception:  # e.g. integers outside the JCS range, NaN: cannot be canonical
        return None


def _signature_ok(key, document: dict) -> bool:
    try:
        return signature_valid(key, document)
    except Exception:  # a document JCS cannot serialise cannot carry a valid signature
        return False


def _is_range(part) -> bool:
    return isinstance(part, dict) and all(
        isinstance(part.get(m), int if m != "sha256" else str) and not isinstance(part.get(m), bool)
        for m in RANGE_MEMBERS)


def _sealed_ranges(document: dict, strict: bool = False):
    """(name, {offset, size, sha256}) for each range of a manifest (or a hash_layout).
    strict: every listed range, a malformed one as None; else the well-formed ones only."""
    fragments = document.get("fragments") if isinstance(document.get("fragments"), list) else []
    parts = [("init", document.get("init"))]
    parts += [(f"fragment {n}", part) for n, part in enumerate(fragments, start=1)]
    if document.get("tail") is not None:
        parts.append(("tail", document.get("tail")))
    for name, part in parts:
        if _is_range(part):
            yield name, {m: part[m] for m in RANGE_MEMBERS}
        elif strict:
            yield name, None


def _range_order(name: str) -> tuple:
    kind, _, number = name.partition(" ")
    return ({"init": 0, "fragment": 1, "tail": 2}[kind], int(number or 0))


def _range_text(part) -> str:
    return "nothing" if part is None else f"{part['size']} bytes at offset {part['offset']}"
