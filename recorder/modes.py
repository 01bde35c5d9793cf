"""The recorder's modes and every transition allowed between them (docs/STATE_MACHINE.md).

Pure data, shared by the state machine (which refuses anything not listed) and
the verifier (which checks the ledger's `transition` entries against it).
Interrupted/resuming modes (battery, storage, fault, power cut) slot in as new
rows without reshaping the machine.
"""

BOOTING, READY, RECORDING, STOPPING, OFF = "booting", "ready", "recording", "stopping", "off"
MODES = (BOOTING, READY, RECORDING, STOPPING, OFF)

# (from, to) -> causes that may drive it. A cause names what made it happen.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (BOOTING, READY): frozenset({"boot"}),
    (READY, RECORDING): frozenset({"button:record", "trigger", "command"}),
    (RECORDING, STOPPING): frozenset({"button:record-hold", "command", "shutdown", "capture-failed"}),
    (STOPPING, READY): frozenset({"session-closed"}),
    (BOOTING, OFF): frozenset({"shutdown", "capture-failed"}),
    (READY, OFF): frozenset({"shutdown", "capture-failed"}),
}

# What each mode means, for the docs and the status output.
MEANING = {
    BOOTING: "agent starting: store, keys and capture being opened",
    READY: "capture running into the pre-record ring; nothing is kept",
    RECORDING: "a session is being recorded, sealed and chained",
    STOPPING: "stop requested: frames still inside the encoders are cut at the stop time and sealed",
    OFF: "agent stopped",
}


def allowed(source: str, target: str, cause: str) -> bool:
    return cause in TRANSITIONS.get((source, target), ())
