"""Durable fragments: each completed fragment reaches stable storage before the next
one completes, without stalling the thread that writes.

The MP4 muxer keeps a fragment's samples in memory and writes the fragment out
(moof + mdat, flushed to the file) once the next GOP's keyframe has passed libav's
interleaving, so the file grows a whole fragment at a time. After every packet the
writer calls `after_write()`: when the file has grown, a fragment was written, and its
bytes are handed to `fdatasync` on a helper thread while the writer goes on muxing the
next GOP into memory; at the following fragment the writer first waits for that sync
to finish. A power cut therefore loses at most the fragment being built (plus what the
encoder holds), never a whole segment, and the only wait is the rare case of a disk
slower than one GOP. (Watching the file's size rather than the keyframes matters: the
keyframe that ends a fragment reaches the file only after the next audio packet.)

`close()` syncs the whole file (data and size) and returns once it is on disk.
"""

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor


class FragmentSyncer:
    def __init__(self, path):
        self.path = path
        self._fd: int | None = None  # opened once the muxer has created the file
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fragment-sync")
        self._pending: Future | None = None
        self._size = 0  # the file's size when a sync was last asked for
        self.syncs = 0
        self.sync_ns_max = 0  # longest fdatasync seen (the cost, measured on the real disk)
        self.wait_ns_max = 0  # longest time the writer waited for the previous sync

    def _descriptor(self) -> int:
        if self._fd is None:
            # fsync works on a read-only descriptor: it flushes the file, not the descriptor.
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def after_write(self) -> None:
        """A packet was muxed: when the file grew, a fragment is in it — sync it."""
        size = os.fstat(self._descriptor()).st_size
        if size > self._size:
            self._size = size
            self.fragment_written()

    def fragment_written(self) -> None:
        """A fragment is in the file: wait for the previous one's sync, then sync this one."""
        self._wait()
        self._pending = self._executor.submit(self._sync, os.fdatasync)

    def _sync(self, sync) -> None:
        start = time.monotonic_ns()
        sync(self._fd)
        self.sync_ns_max = max(self.sync_ns_max, time.monotonic_ns() - start)
        self.syncs += 1

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            start = time.monotonic_ns()
            try:
                pending.result()  # raises the sync's OSError: the fragment is not safe
            finally:
                self.wait_ns_max = max(self.wait_ns_max, time.monotonic_ns() - start)

    def close(self, sync: bool = True) -> None:
        """Wait for the pending sync, then fsync the file (sync=False: give up, e.g. after
        a write error; what reached the disk stays). Idempotent."""
        if self._executor is None:
            return
        try:
            self._wait()
            if sync:
                self._descriptor()
                self._sync(os.fsync)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None
            if self._fd is not None:
                os.close(self._fd)
