"""Checking an encrypted segment (format 5, docs/ENCRYPTION.md): its age ciphertext without
the agency's key, and its plaintext with it.

Without the key (the dock, an independent verifier): the file's size and hash are checked
by the caller as for any file; here, that its age header parses and holds one X25519 stanza
per recipient the manifest lists, that it is as long as the manifest's plaintext says
(header + plaintext + 16 bytes a chunk), that every fragment but a complete file's last ends
on a 64 KiB chunk boundary, and that the fragment index beside it is the one the manifest
sealed and describes the same fragments.

With the key (`recorder verify --identity`, `recorder export`): the file decrypts and
authenticates, ends as the manifest says (age's final chunk, or cut at a chunk boundary after
a power cut), and its plaintext is the MP4 the manifest describes (layout, hashes, samples).
"""

import json
import tempfile

from ..encryption import AgeError, decrypt
from ..encryption.header import HeaderIncomplete, X25519_TAG, read_header
from ..encryption.stream import CHUNK, NONCE_SIZE, TAG
from .bmff import hash_layout, sample_counts
from .canonical import sha256_hex
from .entries import AGE_FORMAT, ENCRYPTION_MEMBERS
from .files import NotRegular, read_regular


def encryption_of(manifest: dict) -> dict | None:
    value = manifest.get("encryption")
    return value if isinstance(value, dict) else None


def malformed(encryption: dict) -> list[str]:
    """Members of a manifest's `encryption` that are missing or of the wrong type."""
    wrong = [name for name, kind in ENCRYPTION_MEMBERS.items()
             if not isinstance(encryption.get(name), kind) or (kind is int and isinstance(encryption.get(name), bool))]
    for name in ("plaintext", "index"):
        part = encryption.get(name)
        if isinstance(part, dict) and not (isinstance(part.get("size"), int) and isinstance(part.get("sha256"), str)):
            wrong.append(f"{name}.size/sha256")
    if isinstance(encryption.get("index"), dict) and not isinstance(encryption["index"].get("name"), str):
        wrong.append("index.name")
    if encryption.get("format") != AGE_FORMAT and "format" not in wrong:
        wrong.append(f"format ({encryption.get('format')!r}, not {AGE_FORMAT!r})")
    return wrong


def expected_file_size(header_size: int, plaintext_size: int, final_chunk: bool) -> int:
    """age's arithmetic: a 16-byte tag per chunk; a complete file ends with a final chunk
    (possibly short), a recovered one after whole chunks."""
    chunks = -(-plaintext_size // CHUNK) if final_chunk else plaintext_size // CHUNK
    return header_size + plaintext_size + TAG * max(chunks, 1 if final_chunk else 0)


def ciphertext_problems(f, file_size: int, manifest: dict) -> list[str]:
    """What the ciphertext (an open file) and the manifest's `encryption` disagree on,
    without the key."""
    enc = encryption_of(manifest)
    wrong = []
    try:
        f.seek(0)
        header = read_header(f)
    except HeaderIncomplete:
        return ["the file ends inside its age header"]
    except AgeError as exc:
        return [f"its age header is malformed: {exc}"]
    stanzas = sum(1 for s in header.stanzas if s.args[0] == X25519_TAG)
    if stanzas != len(enc["recipients"]):
        wrong.append(f"its age header has {stanzas} X25519 stanza(s), the manifest lists "
                     f"{len(enc['recipients'])} recipient(s)")
    if header.size + NONCE_SIZE != enc["header_size"]:
        wrong.append(f"its age header and nonce take {header.size + NONCE_SIZE} bytes, the manifest says "
                     f"{enc['header_size']}")
    plaintext = enc["plaintext"]["size"]
    if not enc["final_chunk"] and plaintext % CHUNK:
        wrong.append(f"it has no final chunk, but its plaintext ({plaintext} bytes) does not end on a chunk boundary")
    expected = expected_file_size(enc["header_size"], plaintext, enc["final_chunk"])
    if file_size != expected:
        wrong.append(f"it is {file_size} bytes; age holds {plaintext} plaintext bytes in {expected} "
                     f"(header {enc['header_size']} + 16 bytes a chunk)")
    ranges = list(_ranges(manifest))
    last = len(ranges) - 1
    for n, (name, part) in enumerate(ranges):
        end = part["offset"] + part["size"]
        if name.startswith("fragment") and (n < last or not enc["final_chunk"]) and end % CHUNK:
            wrong.append(f"{name} ends at plaintext offset {end}, not on a 64 KiB chunk boundary (not aligned)")
    if ranges and ranges[-1][1]["offset"] + ranges[-1][1]["size"] != plaintext:
        wrong.append(f"its ranges end at {ranges[-1][1]['offset'] + ranges[-1][1]['size']}, the plaintext is "
                     f"{plaintext} bytes")
    return wrong


def _ranges(document: dict):
    fragments = document.get("fragments") if isinstance(document.get("fragments"), list) else []
    parts = [("init", document.get("init"))] + [(f"fragment {n}", p) for n, p in enumerate(fragments, start=1)]
    if document.get("tail") is not None:
        parts.append(("tail", document.get("tail")))
    for name, part in parts:
        if isinstance(part, dict) and isinstance(part.get("offset"), int) and isinstance(part.get("size"), int):
            yield name, part


def read_index(data: bytes) -> tuple[dict | None, list[dict]]:
    """(header line, fragment lines) of a fragment index's whole lines; a torn last line is
    left out (ValueError for a whole line that is not a JSON object)."""
    lines = data.split(b"\n")
    whole = lines[:-1]  # after the last newline: nothing, or a torn line
    parsed = [json.loads(line) for line in whole if line]
    if any(not isinstance(p, dict) for p in parsed):
        raise ValueError("an index line is not a JSON object")
    header = parsed[0] if parsed and "fragment" not in parsed[0] else None
    return header, [p for p in parsed if "fragment" in p]


def index_problems(store_root, directory: str, manifest: dict) -> tuple[str | None, list[str]]:
    """(store path of the index, what is wrong with it): it is the file the manifest sealed,
    and lists the manifest's init and fragments, and its frames."""
    enc = encryption_of(manifest)
    name = enc["index"]["name"]
    if "/" in name or name in ("", ".", ".."):
        return None, [f"index.name {name!r} is not a file name"]
    relative = f"{directory}/{name}"
    try:
        data = read_regular(store_root / relative)
    except FileNotFoundError:
        return relative, ["the fragment index the manifest names does not exist"]
    except (OSError, NotRegular) as exc:
        return relative, [f"the fragment index cannot be read: {exc}"]
    if len(data) != enc["index"]["size"] or sha256_hex(data) != enc["index"]["sha256"]:
        return relative, [f"the fragment index is {len(data)} bytes with SHA-256 {sha256_hex(data)[:16]}…, the "
                          f"manifest sealed {enc['index']['size']} bytes with {str(enc['index']['sha256'])[:16]}…"]
    try:
        header, fragments = read_index(data)
    except ValueError as exc:
        return relative, [f"the fragment index is not JSON lines: {exc}"]
    wrong = []
    if header is None or header.get("init") != manifest.get("init"):
        wrong.append("the index's init is not the manifest's")
    listed = [{k: f.get(k) for k in ("offset", "size", "sha256")} for f in fragments]
    if listed != manifest.get("fragments"):
        wrong.append(f"the index lists {len(listed)} fragment(s) that are not the manifest's "
                     f"{len(manifest.get('fragments') or [])}")
    frames = sum(f.get("video_samples", 0) for f in fragments if isinstance(f.get("video_samples"), int))
    video = manifest.get("video") if isinstance(manifest.get("video"), dict) else {}
    if frames != video.get("frames"):
        wrong.append(f"the index counts {frames} video frames, the manifest {video.get('frames')!r}")
    return relative, wrong


class Decryption:
    """A segment decrypted into a temporary file (deleted when closed: plaintext never
    lands in the store)."""

    def __init__(self, f, identities, final_chunk: bool):
        self.plaintext = tempfile.TemporaryFile(prefix="recorder-plaintext-")
        f.seek(0)
        self.result = decrypt(f, identities, self.plaintext, allow_torn=True)
        self.plaintext.flush()
        self.plaintext.seek(0)
        self.final_chunk = final_chunk

    def ending_problem(self) -> str | None:
        torn = self.result.torn
        if self.final_chunk and torn is not None:
            return f"the manifest says it is complete, but {torn.describe(self.result)}"
        if not self.final_chunk and (torn is None or torn.where != "chunk boundary"):
            how = "it is complete" if torn is None else torn.describe(self.result)
            return f"the manifest says it was sealed after a power cut at a chunk boundary, but {how}"
        return None

    def layout(self) -> tuple[dict, dict]:
        """(hash_layout, sample counts) of the plaintext."""
        return hash_layout(self.plaintext), sample_counts(self.plaintext)

    def close(self):
        self.plaintext.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

