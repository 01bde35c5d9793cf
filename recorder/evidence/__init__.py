"""The evidence format and its verifier, independent of the device.

Everything here needs only the standard library, `cryptography` and `rfc8785`, so a
dock, a court's expert or any third party can read and verify a store without the
device's code (no gpiozero, PyAV or numpy): canonical JSON, public keys and
signatures, the store layout, the ledger's chain rules and entry vocabulary, the
state table, the BMFF layout of a segment, and the verifier (docs/FORMATS.md).
"""
