"""The recorder's modes and every transition allowed between them (docs/STATE_MACHINE.md).

Pure data and part of the evidence format: the state machine (recorder/agent/state.py)
refuses anything not listed, and the verifier checks the ledger's `transition` entries
against the same table. Interrupted/resuming modes (battery, storage, power cut) slot
in as new rows without reshaping the machine.
"""

BOOTING, READY, RECORDING, STOPPING, FAULT, OFF = "booting", "ready", "recording", "stopping", "fault", "off"
MODES = (BOOTING, READY, RECORDING, STOPPING, FAULT, OFF)

# Failures of the device's own pipeline: a segment could not be written, a seal failed.
FAULT_CAUSES = frozenset({"write-failed", "seal-failed"})

# (from, to) -> causes that may drive it. A cause names what made it happen.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (BOOTING, READY): frozenset({"boot"}),
    (READY, RECORDING): frozenset({"button:record", "trigger", "command"}),
    (RECORDING, STOPPING): frozenset({"button:record-hold", "command", "shutdown", "capture-failed"}),
    (STOPPING, READY): frozenset({"session-closed"}),
    (BOOTING, OFF): frozenset({"shutdown", "capture-failed"}),
    (READY, OFF): frozenset({"shutdown", "capture-failed"}),
    **{(mode, FAULT): FAULT_CAUSES for mode in (BOOTING, READY, RECORDING, STOPPING)},
    (FAULT, OFF): frozenset({"shutdown"}),
}


def allowed(source: str, target: str, cause: str) -> bool:
    return cause in TRANSITIONS.get((source, target), ())
