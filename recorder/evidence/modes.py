"""The recorder's modes and every transition allowed between them (docs/STATE_MACHINE.md).

Pure data and part of the evidence format: the state machine (recorder/agent/state.py)
refuses anything not listed, and the verifier checks the ledger's `transition` entries
against the same table.
"""

BOOTING, READY, RECORDING, STOPPING, OFF = "booting", "ready", "recording", "stopping", "off"
INTERRUPTED, RESUMING = "interrupted", "resuming"
MODES = (BOOTING, READY, RECORDING, RESUMING, STOPPING, INTERRUPTED, OFF)

# Why recording stopped without the officer asking (regulation art. 8). The running agent
# decides the first three; the next start finds the last two (a dead run decides nothing).
BATTERY, STORAGE, FAULT = "battery", "storage", "fault"
POWER_LOSS, CRASH = "power_loss", "crash"
INTERRUPTIONS = frozenset({BATTERY, STORAGE, FAULT})
FOUND_AT_START = frozenset({POWER_LOSS, CRASH})
INTERRUPTION_CAUSES = INTERRUPTIONS | FOUND_AT_START

STOPS = frozenset({"button:record-hold", "command", "shutdown"})
# Causes a session_stop may give. A clean stop: one of STOPS, or the capture ended with no stop
# asked for (the agent closed); otherwise an interruption cause, and an `interruption` entry
# names the session. Version 1 agents also stopped with these two.
CLEAN_STOPS = STOPS | {"capture-ended"}
STOPS_V1 = frozenset({"capture-failed", "write-failed"})
STOPS_V2 = STOPS_V1 | {"seal-failed"}  # version 2 stopped a session with the fault that ended it

# (from, to) -> causes that may drive it. A cause names what made it happen.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (BOOTING, READY): frozenset({"boot"}),
    (READY, RECORDING): frozenset({"button:record", "trigger", "command"}),
    (RECORDING, STOPPING): STOPS,
    (RESUMING, STOPPING): STOPS,
    (STOPPING, READY): frozenset({"session-closed"}),
    (BOOTING, OFF): frozenset({"shutdown"}),
    (READY, OFF): frozenset({"shutdown"}),
    # interruptions: recording cut by a cause the officer did not choose
    **{(mode, INTERRUPTED): INTERRUPTIONS for mode in (BOOTING, READY, RECORDING, RESUMING, STOPPING)},
    (INTERRUPTED, OFF): frozenset({"shutdown", "restart"}),
    (INTERRUPTED, READY): frozenset({"storage-recovered"}),  # nothing was being recorded
    # resuming: a session that an interruption cut is recorded on as a new session, the
    # voice prompt played, the explanation window open
    (INTERRUPTED, RESUMING): frozenset({"resume"}),
    (BOOTING, RESUMING): frozenset({"resume"}),
    # the explanation window ends: the officer pressed MARK, or its time was up
    (RESUMING, RECORDING): frozenset({"button:mark", "window-ended"}),
}
# Rows only agents of earlier format versions wrote, kept so that their ledgers verify.
# Version 1: a lost capture source stopped the session and ended the run (capture-failed).
# Version 2: a failed write or seal put the recorder in `fault`, and the run ended from there.
# Version 3 interrupts with cause `fault` (or `storage`) instead, and recording resumes.
LEGACY_FAULT = "fault"
for _row, _cause in (((RECORDING, STOPPING), "capture-failed"), ((BOOTING, OFF), "capture-failed"),
                     ((READY, OFF), "capture-failed"), ((LEGACY_FAULT, OFF), "shutdown"),
                     *(((mode, LEGACY_FAULT), cause) for mode in (BOOTING, READY, RECORDING, STOPPING)
                       for cause in ("write-failed", "seal-failed"))):
    TRANSITIONS[_row] = TRANSITIONS.get(_row, frozenset()) | {_cause}

def allowed(source: str, target: str, cause: str) -> bool:
    return cause in TRANSITIONS.get((source, target), ())
