"""Durable fragments: each completed fragment reaches stable storage before the next
one completes, without stalling the thread that writes.

The MP4 muxer writes a fragment out (moof + mdat, flushed to the file) when the next
GOP's keyframe reaches it. That is not the moment the writer hands the keyframe over:
libavformat's interleaving queue holds a packet until the other stream has one queued
too, so with audio the fragment lands one packet or more later. The writer therefore
does not guess: after every packet it calls `packet_muxed()`, and when the file has
grown a fragment is in it (`fragment_written()`): the fragment's bytes are handed to
`fdatasync` on a helper thread while the writer goes on muxing the next GOP into the
page cache; at the following fragment the writer first waits for that sync to finish.
A power cut therefore loses at most the fragment being built (plus what the encoder
holds), never a whole segment, and the only wait is the rare case of a disk slower
than one GOP (tests/test_power_cut.py cuts the power on a filesystem that keeps only
what was synced, docs/TESTING-POWER-CUT.md).

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
        self._size = 0  # the file's size when its last fragment was seen
        self.syncs = 0
        self.sync_ns_max = 0  # longest fdatasync seen (the cost, measured on the real disk)
        self.wait_ns_max = 0  # longest time the writer waited for the previous sync

    def _descriptor(self) -> int:
        if self._fd is None:
            # fsync works on a read-only descriptor: it flushes the file, not the descriptor.
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def packet_muxed(self) -> None:
        """After each packet handed to the muxer: if the file grew, the muxer wrote a
        fragment out (a whole one: it is written within one mux call), so sync it."""
        size = os.fstat(self._descriptor()).st_size
        if size > self._size:
            self._size = size
            self.fragment_written()

    def fragment_written(self) -> None:
        """A fragment is in the file: wait for the previous one's sync, then sync this one."""
        self._wait()
        self._descriptor()
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
