"""What the provisioning documents share: JSON objects of one format with a fixed set of
members, signed over the RFC 8785 canonical JSON of everything but `signature`."""

import json

from ..errors import ProvisioningError
from ..evidence.documents import without


def read_document(data: bytes, format_name: str, fields: tuple, what: str) -> dict:
    """The document, or ProvisioningError: not JSON, another format, other members."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ProvisioningError(f"the {what} is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != format_name:
        raise ProvisioningError(f"not a {what} of format {format_name}")
    if sorted(document) != sorted(fields):
        raise ProvisioningError(f"the {what}'s fields are {sorted(document)}, expected {sorted(fields)}")
    return document


def signed_bytes(document: dict) -> bytes:
    """What `signature` signs."""
    return without(document, "signature")
