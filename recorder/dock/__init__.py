"""The dock: the workstation side of offload (docs/DOCK.md). It witnesses each device's ledger,
takes its files (resumable, content-addressed), verifies them with the evidence format's own
verifier, puts them in the archive and only then signs a receipt; it keeps its own audited
access log. Nothing of the device is imported here: a dock runs on any workstation."""
