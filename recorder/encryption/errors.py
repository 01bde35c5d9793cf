"""What can go wrong opening an age file. Every refusal is an AgeError; a file that is
merely cut short is not an error but a result (stream.Torn) unless the caller asks for a
complete file, when it is TornFileError."""


class AgeError(Exception):
    """The file is not a valid age v1 file for these identities: nothing of it is trusted."""


class KeyFormatError(AgeError):
    """A recipient or identity string is malformed."""


class HeaderError(AgeError):
    """The header is malformed, or its MAC does not verify (edited, or not for this key)."""


class NoIdentityMatch(AgeError):
    """No X25519 stanza in the header opens with the identities given."""


class PayloadError(AgeError):
    """A chunk failed authentication, chunks are out of order, a chunk was marked last
    early, or data follows the final chunk: the payload was altered."""


class TornFileError(AgeError):
    """The file ends before its final chunk (cut short: a power cut, a partial copy).
    `result` says how much was decrypted and authenticated before the end."""

    def __init__(self, result):
        super().__init__(result.torn.describe(result))
        self.result = result
