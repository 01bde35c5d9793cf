"""The write-back FUSE filesystem the power-cut test rests on (support/writeback_fs.py):
it must look like an ordinary filesystem while mounted, and after a cut hold exactly
what was fsync'd."""

import os
import random

import pytest

from conftest import require_writeback_fs
from support.writeback_fs import PAGE, mounted


@pytest.fixture
def fs(tmp_path):
    """(mount, backing directory, mountpoint); the mount is cut and unmounted afterwards."""
    require_writeback_fs()
    backing, mountpoint = tmp_path / "disk", tmp_path / "mnt"
    with mounted(backing, mountpoint) as mount:
        yield mount, backing, mountpoint


def write_file(path, data: bytes, flags=os.O_WRONLY | os.O_CREAT, sync=None):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
        if sync:
            sync(fd)
    finally:
        os.close(fd)


def test_unsynced_data_is_lost_and_synced_data_kept(fs):
    mount, disk, mnt = fs
    write_file(mnt / "unsynced", b"gone" * 1000)  # written and closed, never fsync'd
    write_file(mnt / "synced", b"kept" * 1000, sync=os.fsync)
    fd = os.open(mnt / "synced", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"after the sync")  # appended after the fsync: lost
    os.close(fd)
    # While mounted, programs see everything they wrote...
    assert (mnt / "unsynced").read_bytes() == b"gone" * 1000
    assert (mnt / "synced").read_bytes() == b"kept" * 1000 + b"after the sync"
    assert os.stat(mnt / "synced").st_size == 4000 + 14
    # ...the disk only what was synced,
    assert (disk / "unsynced").read_bytes() == b""
    assert (disk / "synced").read_bytes() == b"kept" * 1000
    mount.cut()
    # and the cut changes nothing on the disk: the rest was only in the daemon's memory.
    assert (disk / "unsynced").read_bytes() == b""
    assert (disk / "synced").read_bytes() == b"kept" * 1000


def test_fdatasync_through_a_read_only_descriptor_persists(fs):
    """The fragment syncer's way: written by one descriptor, synced through another."""
    mount, disk, mnt = fs
    write_file(mnt / "fragments", b"moof+mdat" * 2000)
    fd = os.open(mnt / "fragments", os.O_RDONLY)
    os.fdatasync(fd)
    os.close(fd)
    mount.cut()
    assert (disk / "fragments").read_bytes() == b"moof+mdat" * 2000


def test_appends_then_fsync_persist_exactly(fs):
    """The ledger's way: open O_APPEND, write one line, fsync, close; repeated, and a line
    appended without its fsync is lost whole."""
    mount, disk, mnt = fs
    lines = [f'{{"index":{i},"pad":"{"x" * (i * 700)}"}}\n'.encode() for i in range(8)]
    for line in lines:
        write_file(mnt / "ledger.jsonl", line, os.O_WRONLY | os.O_APPEND | os.O_CREAT, sync=os.fsync)
    write_file(mnt / "ledger.jsonl", b'{"index":8}\n', os.O_WRONLY | os.O_APPEND)  # no fsync
    assert (mnt / "ledger.jsonl").read_bytes() == b"".join(lines) + b'{"index":8}\n'
    mount.cut()
    assert (disk / "ledger.jsonl").read_bytes() == b"".join(lines)


def test_a_file_renamed_after_fsync_keeps_its_data(fs):
    """The sealer's way: sync the .partial, chmod, rename, fsync the directory."""
    mount, disk, mnt = fs
    (mnt / "media").mkdir()
    write_file(mnt / "media" / "00001.mp4.partial", b"segment" * 3000, sync=os.fsync)
    os.chmod(mnt / "media" / "00001.mp4.partial", 0o444)
    os.rename(mnt / "media" / "00001.mp4.partial", mnt / "media" / "00001.mp4")
    dfd = os.open(mnt / "media", os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
    mount.cut()
    assert sorted(os.listdir(disk / "media")) == ["00001.mp4"]
    assert (disk / "media" / "00001.mp4").read_bytes() == b"segment" * 3000
    assert os.stat(disk / "media" / "00001.mp4").st_mode & 0o777 == 0o444


def test_syncing_one_file_leaves_the_others_unsynced(fs):
    mount, disk, mnt = fs
    write_file(mnt / "a", b"a" * 5000)
    write_file(mnt / "b", b"b" * 5000, sync=os.fsync)
    mount.cut()
    assert (disk / "a").read_bytes() == b""
    assert (disk / "b").read_bytes() == b"b" * 5000


def test_truncation_is_metadata_and_the_new_data_is_not(fs):
    """Rewriting a file in place (open with O_TRUNC, write, no fsync): the truncation is
    durable at once, the new data is not, as on ext4 (the zero-length file after a crash)."""
    mount, disk, mnt = fs
    write_file(mnt / "config", b"old" * 3000, sync=os.fsync)
    write_file(mnt / "config", b"new", os.O_WRONLY | os.O_TRUNC)
    assert (mnt / "config").read_bytes() == b"new"
    mount.cut()
    assert (disk / "config").read_bytes() == b""


def test_random_writes_read_back_and_persist_as_of_the_last_sync(fs):
    """Writes at random offsets across page boundaries, overwrites and extensions, with
    fsyncs now and then: the mount always reads what a plain file would hold, and the cut
    leaves the file exactly as it was at its last fsync."""
    mount, disk, mnt = fs
    rng = random.Random(7)
    model, synced = bytearray(), b""
    fd = os.open(mnt / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for step in range(300):
            offset = rng.randrange(0, len(model) + 2 * PAGE)
            data = rng.randbytes(rng.randrange(1, 3 * PAGE))
            assert os.pwrite(fd, data, offset) == len(data)
            if offset > len(model):
                model.extend(bytes(offset - len(model)))  # a hole reads as zeros
            model[offset:offset + len(data)] = data
            if step % 37 == 0:
                os.fsync(fd)
                synced = bytes(model)
            if step % 10 == 0:
                assert os.fstat(fd).st_size == len(model)
                start = rng.randrange(0, len(model))
                assert os.pread(fd, 3 * PAGE, start) == bytes(model[start:start + 3 * PAGE])
        assert (mnt / "f").read_bytes() == bytes(model)
        assert (disk / "f").read_bytes() == synced
    finally:
        os.close(fd)
    mount.cut()
    assert (disk / "f").read_bytes() == synced


def test_the_mount_is_gone_after_the_context(tmp_path):
    require_writeback_fs()
    from support.writeback_fs import is_mounted

    with mounted(tmp_path / "disk", tmp_path / "mnt") as mount:
        assert is_mounted(tmp_path / "mnt")
        write_file(tmp_path / "mnt" / "x", b"x", sync=os.fsync)
    assert mount.process.poll() is not None
    assert not is_mounted(tmp_path / "mnt")
    assert (tmp_path / "disk" / "x").read_bytes() == b"x"
