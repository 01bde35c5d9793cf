"""Durable fragments: each completed fragment reaches stable storage about as soon as it
is written, without stalling the thread that writes.

The MP4 muxer keeps a fragment's samples in memory and writes the fragment out
(moof + mdat, flushed to the file) once the next GOP's keyframe has passed libav's
interleaving, so the file grows a whole fragment at a time. After every packet the
writer calls `after_write()`, which from each keyframe on looks at the file's size:
when the file has grown, a fragment was written, and
`fdatasync` runs on a helper thread while the writer goes on muxing the next GOP into
memory. In steady state (one fragment a GOP, a sync of a few milliseconds) each
fragment is on disk long before the next one completes, so a power cut loses at most
the fragment being built (plus what the encoder holds). When fragments come faster
than the disk syncs — the pre-record ring written out at a press, 30 fragments in a
burst, or a disk slower than one GOP — the syncs coalesce: one more sync follows the
running one and covers everything written meanwhile. Waiting for each sync instead
would keep the rest of the ring in memory longer, which is where a power cut takes it.
(Watching the file's size rather than the keyframes matters: the keyframe that ends a
fragment reaches the file only after the next audio packet.)

`close()` syncs the whole file (data and size) and returns once it is on disk.
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor


class FragmentSyncer:
    def __init__(self, path):
        self.path = path
        self._fd: int | None = None  # opened once the muxer has created the file
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fragment-sync")
        self._lock = threading.Lock()
        self._running = False  # a sync job is queued or running
        self._dirty = False  # written since the running sync began: one more sync is due
        self._failure: OSError | None = None
        self._size = 0  # the file's size when a sync was last asked for
        self._watching = False  # a keyframe went in: the fragment before it is due in the file
        self.syncs = 0
        self.sync_ns_max = 0  # longest fdatasync seen (the cost, measured on the real disk)
        self.wait_ns_max = 0  # longest time close() waited for the syncs in flight

    def _descriptor(self) -> int:
        if self._fd is None:
            # fsync works on a read-only descriptor: it flushes the file, not the descriptor.
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def after_write(self, keyframe: bool) -> None:
        """A packet was muxed: when the file grew, a fragment is in it — sync it. The file
        grows only after a keyframe, so only then is its size looked at."""
        self._watching = self._watching or keyframe
        if not self._watching:
            return
        size = os.fstat(self._descriptor()).st_size
        if size > self._size:
            self._size, self._watching = size, False
            self.fragment_written()

    def fragment_written(self) -> None:
        """A fragment is in the file: sync it now, or right after the sync in flight."""
        self._raise_failure()
        with self._lock:
            if self._running:
                self._dirty = True
                return
            self._running = True
        self._executor.submit(self._sync_until_clean)

    def _sync_until_clean(self) -> None:
        while True:
            try:
                due = self._take_due()  # taken before the sync: it covers what they describe
                self._sync(os.fdatasync)
                self._synced(due)
            except OSError as exc:  # the writer raises it at its next fragment: a fault
                self._failure = self._failure or exc
            with self._lock:
                if not self._dirty:
                    self._running = False
                    return
                self._dirty = False

    def _sync(self, sync) -> None:
        start = time.monotonic_ns()
        sync(self._fd)
        self.sync_ns_max = max(self.sync_ns_max, time.monotonic_ns() - start)
        self.syncs += 1

    def _take_due(self):
        """What a subclass makes durable once the file's sync covers it (an index's lines)."""
        return None

    def _synced(self, due) -> None:
        """The file's sync covering `due` returned."""

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure  # a fragment could not be made durable

    def close(self, sync: bool = True) -> None:
        """Let the syncs in flight finish, then fsync the file (sync=False: give up, e.g.
        after a write error; what reached the disk stays). Idempotent."""
        if self._executor is None:
            return
        try:
            start = time.monotonic_ns()
            self._executor.shutdown(wait=True)
            self.wait_ns_max = time.monotonic_ns() - start
            if sync:
                self._raise_failure()
                self._descriptor()
                due = self._take_due()
                self._sync(os.fsync)
                self._synced(due)
        finally:
            self._executor = None
            if self._fd is not None:
                os.close(self._fd)
