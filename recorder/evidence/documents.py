"""Signed JSON documents: a dict plus a signature member over the RFC 8785 canonical JSON
(JCS) of everything else.

The device's: sig = base64(Ed25519(JCS(document without "sig"))), for ledger entries and
segment manifests alike (docs/FORMATS.md). Signing takes any signer with a
`sign(message: bytes) -> str` method (the device identity), so this module needs no
private key to exist.

The agency's and the dock's (X.509 keys, P-256): base64(ECDSA-SHA256 DER signature over
JCS(document without the member)), in `signature` (receipts, bundles, assignments) or `sig`
(the dock's audit log): `ecdsa_signed` and `ecdsa_signature_valid`.
"""

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

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


ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def without(document: dict, member: str) -> bytes:
    """What a signature in `member` signs: JCS of the rest."""
    return canonical_bytes({k: v for k, v in document.items() if k != member})


def ecdsa_signed(private_key, document: dict, member: str = "signature") -> dict:
    body = {k: v for k, v in document.items() if k != member}
    signature = private_key.sign(canonical_bytes(body), ECDSA_SHA256)
    return {**body, member: base64.b64encode(signature).decode("ascii")}


def ecdsa_signature_valid(public_key, document: dict, member: str = "signature") -> bool:
    try:
        signature = base64.b64decode(document[member], validate=True)
        public_key.verify(signature, without(document, member), ECDSA_SHA256)
        return True
    except (InvalidSignature, KeyError, binascii.Error, ValueError, TypeError, AttributeError):
        return False
