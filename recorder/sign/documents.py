"""Signed JSON documents: a dict plus a "sig" member.

sig = base64(Ed25519(JCS(document without "sig"))). Used for ledger entries
and segment manifests alike (docs/FORMATS.md).
"""

from .canonical import canonical_bytes
from .keys import DeviceIdentity, verify_signature

SIGNATURE_FIELD = "sig"


def signed(identity: DeviceIdentity, document: dict) -> dict:
    unsigned = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    return {**unsigned, SIGNATURE_FIELD: identity.sign(canonical_bytes(unsigned))}


def signature_valid(public_key, document: dict) -> bool:
    signature = document.get(SIGNATURE_FIELD)
    if not isinstance(signature, str):
        return False
    unsigned = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    try:
        message = canonical_bytes(unsigned)
    except (ValueError, TypeError):  # rfc8785 rejects e.g. integers beyond 2**53
        return False
    return verify_signature(public_key, signature, message)
