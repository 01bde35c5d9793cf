"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and the hashes built on it.

Everything that is signed or chained is serialised with JCS, so a verifier can
re-create the exact bytes from the parsed JSON and detect any non-canonical edit.
Signed documents avoid floating-point numbers: times are integers (ns, µs).
"""

import hashlib

import rfc8785


def canonical_bytes(document) -> bytes:
    return rfc8785.dumps(document)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
