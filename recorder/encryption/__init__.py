"""Encryption at rest: age v1 (age-encryption.org/v1) with X25519 recipients, written from
the spec with `cryptography` alone — the device encrypts to the agency's recipient as it
records; the dock and a clerk decrypt with the agency's identity (docs/ENCRYPTION.md)."""

from .alignment import free_box
from .errors import AgeError, HeaderError, KeyFormatError, NoIdentityMatch, PayloadError, TornFileError
from .keys import Identity, Recipient
from .stream import CHUNK, SEALED_CHUNK, Decrypted, StreamEncryptor, Torn, decrypt, decrypt_bytes, encrypt_bytes

__all__ = ["AgeError", "CHUNK", "Decrypted", "HeaderError", "Identity", "KeyFormatError", "NoIdentityMatch",
           "PayloadError", "Recipient", "SEALED_CHUNK", "StreamEncryptor", "Torn", "TornFileError", "decrypt",
           "decrypt_bytes", "encrypt_bytes", "free_box"]
