"""Rules every signed document of the format obeys, beyond its signature:

  integers only      no floating-point number anywhere (times are integer µs, rates are
                     strings such as "30/1"); JCS carries numbers as doubles, so a float
                     would be a second way to write the same value
  canonical base64   a signature is the standard base64 of exactly 64 bytes, with its
                     padding bits zero: any other spelling decodes to the same signature
                     but changes the entry's bytes, and so the hash the next entry chains to
  time stamps        `mono_us` and `wall_us` are integers, `clock` a string, and `wall` is
                     exactly `wall_us` written as RFC 3339 UTC with microseconds; from
                     version 4 `clock` names a source (clock.CLOCK_SOURCES) and `error_us`
                     is its bound, a non-negative integer, or null when none can be stated
"""

import base64
import binascii

from ..clock import CLOCK_SOURCES, iso_utc
from .documents import SIGNATURE_FIELD

SIGNATURE_BYTES = 64  # Ed25519


def floats_in(value, path: str = "") -> list[str]:
    """Paths of the floating-point numbers in a parsed JSON document."""
    if isinstance(value, float):
        return [path or "(the document)"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in floats_in(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in floats_in(v, f"{path}[{i}]")]
    return []


def canonical_signature(document: dict) -> bool:
    signature = document.get(SIGNATURE_FIELD)
    if not isinstance(signature, str):
        return True  # a missing signature is another rule's business
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return True  # not base64 at all: the signature check reports it
    return len(raw) == SIGNATURE_BYTES and base64.b64encode(raw).decode("ascii") == signature


def timestamp_problem(stamp, version: int = 1) -> str | None:
    """What is wrong with a time stamp of a document of that format version, or None."""
    if not isinstance(stamp, dict):
        return "is not an object"
    for member, kind in (("mono_us", int), ("wall_us", int), ("wall", str), ("clock", str)):
        value = stamp.get(member)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{member} is missing or not a {kind.__name__}"
    try:
        expected = iso_utc(stamp["wall_us"] * 1000)
    except (OverflowError, OSError, ValueError):
        return f"wall_us {stamp['wall_us']} is not a time"
    if stamp["wall"] != expected:
        return f"wall {stamp['wall']!r} is not wall_us {stamp['wall_us']} ({expected})"
    if version >= 4:
        return _v4_stamp_problem(stamp)
    return None


def _v4_stamp_problem(stamp: dict) -> str | None:
    if stamp["clock"] not in CLOCK_SOURCES:
        return f"clock {stamp['clock']!r} is not one of {', '.join(CLOCK_SOURCES)}"
    if "error_us" not in stamp:
        return "error_us is missing (null when no bound can be stated)"
    error = stamp["error_us"]
    if error is not None and (not isinstance(error, int) or isinstance(error, bool) or error < 0):
        return f"error_us {error!r} is not a non-negative integer or null"
    return None
