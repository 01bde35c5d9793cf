"""Keys, canonical JSON, signed manifests, the device ledger and its verifier."""
