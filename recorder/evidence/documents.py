"""Signed JSON documents: a dict plus a "sig" member.

sig = base64(Ed25519(JCS(document without "sig"))). Used for ledger entries
and segment manifests alike (docs/FORMATS.md). Signing takes any signer with a
`sign(message: bytes) -> str` method (the device identity), so this module needs
no private key to exist.
"""

from .canonical import canonical_bytes
from .keys import verify_signature

SIGNATURE_FIELD = "sig"


def unsigned(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != SIGNATURE_FIELD}


def signed(signer, document: dict) -> dict:
    body = unsigned(document)
    return {**body, SIGNATURE_FIELD: signer.sign(canonical_bytes(body))}


def signature_valid(public_key, document: dict) -> bool:
    signature = document.get(SIGNATURE_FIELD)
    if not isinstance(signature, str):
        return False
    try:
        message = canonical_bytes(unsigned(document))
    except (ValueError, TypeError):  # rfc8785 rejects e.g. integers beyond 2**53
        return False
    return verify_signature(public_key, signature, message)
