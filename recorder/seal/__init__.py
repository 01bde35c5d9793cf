"""Sealing: the device's signing identity, the ledger writer and the sealer that turns
closed segments into signed, chained evidence (formats: recorder/evidence/)."""
