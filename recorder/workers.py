"""Worker threads that must finish their queue: closed at interpreter exit, never dropped.

The sealer and the pipeline run on non-daemon threads, so the interpreter never kills
them with queued work. Their owners close them on every path; as a safety net (a bug,
an unexpected exception), `close_at_exit` also closes them when the interpreter shuts
down, before it waits for non-daemon threads — the hook concurrent.futures uses — so a
forgotten close seals what is queued instead of hanging the process.
"""

import logging
import threading
import weakref

log = logging.getLogger(__name__)


def close_at_exit(worker) -> None:
    """Call worker.close() at interpreter shutdown if it is still alive and open."""
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # not CPython >= 3.9: the owner's close is all there is
        return
    ref = weakref.ref(worker)

    def close():
        alive = ref()
        if alive is not None and not alive.closed:
            try:
                alive.close()
            except Exception:
                log.exception("closing %s at exit failed", type(alive).__name__)

    register(close)
