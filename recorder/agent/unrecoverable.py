"""Giving up: the `unrecoverable` ledger entry and the "cannot continue" cue.

When restarts after faults keep failing (the supervisor counts them: recorder/supervisor.py
for `recorder run --simulate` and `--supervise`, systemd's start limit on the device, whose
OnFailure= unit runs `recorder unrecoverable`), the device cannot record, and the unit head
must be told at once (regulation art. 8). The entry says so in the evidence and `recorder
report` shows it (a store that cannot be written still gets the cue), and the officer feels and sees it: two 2 s pulses with amber,
then amber steady for as long as the process holds the pins.
"""

import signal
import threading

from .. import __version__
from ..evidence import entries
from ..evidence.layout import StoreLayout
from ..io.indicators import Indicators
from ..io.patterns import CUES
from ..seal.identity import open_identity, require_identity
from ..seal.ledger import Ledger
from ..store.disk import Store

def record_unrecoverable(store_root, clock, cause: str, detail: str, attempts: int, identity_dir,
                         create_identity: bool = False) -> str:
    """Append the entry (setting a torn last line aside first, as every start does);
    returns its INDEX:SHA256. Signed by the identity in `identity_dir` (made there only when
    `create_identity`: the simulated body)."""
    if not create_identity:
        require_identity(identity_dir, StoreLayout(store_root))
    store = Store(store_root).prepare()
    identity = open_identity(identity_dir, store, create_identity)
    ledger = Ledger(store.ledger_path, identity)
    for entry_type, body in ledger.opening_entries(__version__):
        ledger.append(entry_type, body, clock.stamp())
    ledger.append("unrecoverable", entries.unrecoverable(cause, detail, attempts), clock.stamp())
    return ledger.head_ref


def play_unrecoverable(config, clock, pin_factory, hold: bool = False):
    """The cue, then amber steady: until the process is stopped (hold), or to the cue's end."""
    indicators = Indicators.from_config(config.cues, clock, pin_factory, stealth=False)
    stop = threading.Event()
    previous = {}
    if hold and threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        indicators.show("unrecoverable")
        indicators.cue("unrecoverable")
        end = clock.monotonic_ns() + CUES["unrecoverable"].duration_ns
        while not stop.is_set() and (hold or clock.monotonic_ns() < end):
            due = indicators.next_deadline_ns()
            clock.sleep_until(min(d for d in (due, end, clock.monotonic_ns() + 200_000_000) if d is not None)
                              if not hold else min(due or end, clock.monotonic_ns() + 200_000_000))
            indicators.tick()
        return indicators
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        indicators.close()
