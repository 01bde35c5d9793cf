"""The dock's local archive on real filesystems: what it stores is what it was promised,
stored once, read-only, and — where the immutable flag takes — beyond unlink, write and
rename, even for root; a refused object leaves nothing behind."""

import ast
import errno
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import recorder.archive.local as local_module
from conftest import require_root_unshare, require_tool
from recorder.archive import ArchiveConfigError, ArchiveError, open_archive, retain_until
from recorder.archive.retention import policy_from_settings

RECORDED = datetime(2026, 12, 3, 8, 30, 15, 250000, tzinfo=timezone.utc)


def staged(directory: Path, data: bytes, name: str = "staged.mp4") -> tuple[Path, str]:
    path = directory / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if not p.is_dir())


@pytest.fixture
def dock(tmp_path) -> Path:
    (tmp_path / "dock").mkdir()
    return tmp_path / "dock"


@pytest.fixture
def unlocked(dock, monkeypatch):
    """The archive on the host's disk, with the immutable flag never attempted: these tests
    look at everything else, and leave no file that only chattr -i could remove."""
    monkeypatch.setattr(local_module, "make_immutable", lambda fd: False)
    return open_archive({"kind": "local"}, dock)


def test_a_round_trip(unlocked, dock, tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # more than one copy chunk
    source, sha = staged(tmp_path, data)
    stored = unlocked.put(sha, source, "patrol", RECORDED)
    assert stored.sha256 == sha and stored.size == len(data)
    assert stored.location == f"file:objects/sha256/{sha[:2]}/{sha}"
    assert stored.retain_until is None and stored.locked is False
    assert unlocked.find(sha) == stored
    with unlocked.open(sha) as f:
        assert f.read() == data
    assert (dock / stored.location.removeprefix("file:")).read_bytes() == data
    assert json.loads(json.dumps(stored.record())) == {"sha256": sha, "size": len(data), "location": stored.location,
                                                       "retain_until": None, "locked": False}


def test_a_stored_object_is_read_only(unlocked, dock, tmp_path):
    source, sha = staged(tmp_path, b"segment")
    path = dock / unlocked.put(sha, source, "patrol", RECORDED).location.removeprefix("file:")
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_bytes_that_are_not_the_hash_are_refused_and_leave_nothing(unlocked, dock, tmp_path):
    source, sha = staged(tmp_path, b"what the camera recorded")
    source.write_bytes(b"what the camera recorded, changed after it was hashed")
    with pytest.raises(ArchiveError, match="not stored"):
        unlocked.put(sha, source, "evidence", RECORDED)
    assert unlocked.find(sha) is None
    assert list((dock / "objects").rglob("*")) == [dock / "objects" / "sha256"], "no file, no directory left"


def test_an_object_is_stored_once(unlocked, dock, tmp_path):
    source, sha = staged(tmp_path, b"x" * 5000)
    first = unlocked.put(sha, source, "patrol", RECORDED)
    path = dock / first.location.removeprefix("file:")
    inode = path.stat().st_ino
    again = unlocked.put(sha, source, "evidence", RECORDED + timedelta(days=1))
    assert again == first
    assert files_under(dock / "objects") == [path]
    assert path.stat().st_ino == inode and path.stat().st_nlink == 1


def test_a_second_copy_of_the_same_bytes_with_another_name_is_refused_on_its_own_bytes(unlocked, tmp_path):
    """Stored already or not, a put of the wrong bytes is refused the same way."""
    source, sha = staged(tmp_path, b"original")
    unlocked.put(sha, source, "patrol", RECORDED)
    other, _ = staged(tmp_path, b"tampered", "other.mp4")
    with pytest.raises(ArchiveError, match="not stored"):
        unlocked.put(sha, other, "patrol", RECORDED)


def test_a_source_the_caller_checked_is_linked_in_place_without_reading_it_and_a_copy_still_checks(
        unlocked, dock, monkeypatch):
    """checked=True (the dock's intake hashed the bytes as they came): a read-only source on
    the archive's disk gets its name by a link, unread; a source that must be copied is
    hashed as it is written, whatever the caller says."""
    source, sha = staged(dock, b"segment the dock received" * 100)
    source.chmod(0o444)
    reads = []
    real_read = os.read
    monkeypatch.setattr(local_module.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    stored = unlocked.put(sha, source, "patrol", RECORDED, checked=True)
    assert reads == [] and stored.size == source.stat().st_size
    assert (dock / stored.location.removeprefix("file:")).stat().st_ino == source.stat().st_ino
    writable, wrong = staged(dock, b"other bytes", "writable.mp4")
    with pytest.raises(ArchiveError, match="not stored"):
        unlocked.put(hashlib.sha256(b"what the caller claims").hexdigest(), writable, "patrol", RECORDED, checked=True)
    assert unlocked.put(wrong, writable, "patrol", RECORDED, checked=True).size == len(b"other bytes")


def test_names_and_classes_are_checked(unlocked, tmp_path):
    source, sha = staged(tmp_path, b"y")
    with pytest.raises(ArchiveError, match="unknown footage class 'holiday'"):
        unlocked.put(sha, source, "holiday", RECORDED)
    with pytest.raises(ArchiveError, match="no time zone"):
        unlocked.put(sha, source, "patrol", RECORDED.replace(tzinfo=None))
    with pytest.raises(ArchiveError, match="not a lowercase hex SHA-256"):
        unlocked.put(sha.upper(), source, "patrol", RECORDED)
    with pytest.raises(ArchiveError, match="not a lowercase hex SHA-256"):
        unlocked.find("../../etc/passwd")
    assert unlocked.find(sha) is None


def test_extend_keeps_a_local_object_for_good(unlocked, tmp_path):
    source, sha = staged(tmp_path, b"z")
    stored = unlocked.put(sha, source, "evidence", RECORDED)
    assert unlocked.extend(sha, RECORDED + timedelta(days=5000)) == stored
    with pytest.raises(ArchiveError, match="no object"):
        unlocked.extend("0" * 64, RECORDED)
    with pytest.raises(ArchiveError, match="no object"):
        unlocked.open("0" * 64)


def test_retention_per_class():
    policy = policy_from_settings(None)
    assert retain_until("patrol", RECORDED, policy) == datetime(2027, 6, 4, 8, 30, 16, tzinfo=timezone.utc)
    assert retain_until("evidence", RECORDED, policy) == datetime(2029, 12, 2, 8, 30, 16, tzinfo=timezone.utc)
    assert retain_until("ledger", RECORDED, policy) == retain_until("evidence", RECORDED, policy)
    longer = policy_from_settings({"evidence": 3650, "patrol": 365})
    assert retain_until("patrol", RECORDED, longer) - RECORDED > timedelta(days=364)
    assert retain_until("ledger", RECORDED, longer) == retain_until("evidence", RECORDED, longer)
    in_beijing = RECORDED.astimezone(timezone(timedelta(hours=8)))
    assert retain_until("patrol", in_beijing, policy) == retain_until("patrol", RECORDED, policy)


@pytest.mark.parametrize("days, message", [
    ({"patrol": 182}, "below six months"),
    ({"patrol": 0}, "positive whole number"),
    ({"evidence": 100}, "shorter than patrol"),
    ({"ledger": 200}, "shorter than the footage"),
    ({"holiday": 9}, "unknown class"),
    ({"patrol": 200.5}, "whole number"),
])
def test_retention_settings_are_refused_below_the_rules(dock, days, message):
    with pytest.raises(ArchiveConfigError, match=message):
        open_archive({"kind": "local", "retention_days": days}, dock)


def test_archive_settings_are_checked(dock, tmp_path):
    with pytest.raises(ArchiveConfigError, match="kind 'tape'"):
        open_archive({"kind": "tape"}, dock)
    with pytest.raises(ArchiveConfigError, match="unknown setting 'bucket'"):
        open_archive({"kind": "local", "bucket": "b"}, dock)
    with pytest.raises(ArchiveConfigError, match="'endpoint' is required"):
        open_archive({"kind": "s3", "bucket": "b", "access_key": "a", "secret_key": "s"}, dock)
    with pytest.raises(ArchiveError, match="does not exist"):
        open_archive({}, tmp_path / "no-such-dock")
    keys = dock / "s3.keys"
    keys.write_text("AKIA\nsecret\n")
    keys.chmod(0o644)
    with pytest.raises(ArchiveConfigError, match="readable by others"):
        open_archive({"kind": "s3", "endpoint": "http://127.0.0.1:9", "bucket": "b",
                      "access_key_file": "s3.keys"}, dock)


def test_the_name_is_given_only_after_the_bytes_are_on_disk():
    """The durability order, read from the code (a power cut is not simulated here): in
    put, the file's fsync comes before the link that names it, the directory's fsync after
    it, and only then the immutable flag (which also stops a link being made)."""
    tree = ast.parse(Path(local_module.__file__).read_text())
    # put copies into an unnamed file; _put_in_place names a read-only source on the same disk
    for function, first in (("put", "_copy_hashing"), ("_put_in_place", "_refuse_unless")):
        body = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function)
        calls = [ast.unparse(node.func) for node in sorted(
            (node for node in ast.walk(body) if isinstance(node, ast.Call)), key=lambda n: (n.lineno, n.col_offset))]
        order = [calls.index(name) for name in (first, "os.fsync", "self._name", "fsync_dir", "make_immutable")]
        assert order == sorted(order), calls
        assert "os.rename" not in calls and "os.replace" not in calls


IN_NAMESPACE = textwrap.dedent(
    """
    import errno, hashlib, json, os, subprocess, sys
    from datetime import datetime, timezone
    from pathlib import Path
    from recorder.archive import open_archive

    mount_point, fs = Path(sys.argv[1]), sys.argv[2]
    mount_point.mkdir()
    if fs == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], check=True)
    else:  # a loop-mounted ext4 image
        image = mount_point.with_suffix(".img")
        subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True)
    dock = mount_point / "dock"
    dock.mkdir()
    data = b"locked segment" * 1000
    sha = hashlib.sha256(data).hexdigest()
    (mount_point / "staged").write_bytes(data)
    archive = open_archive({"kind": "local"}, dock)
    stored = archive.put(sha, mount_point / "staged", "evidence", datetime.now(timezone.utc))
    path = dock / stored.location.removeprefix("file:")

    def attempt(action):
        try:
            action()
        except OSError as exc:
            return errno.errorcode[exc.errno]
        return "done"

    result = {
        "locked": stored.locked,
        "found_locked": archive.find(sha).locked,
        "unlink": attempt(lambda: os.unlink(path)),
        "open_for_write": attempt(lambda: os.close(os.open(path, os.O_WRONLY))),
        "chmod": attempt(lambda: os.chmod(path, 0o644)),
        "rename": attempt(lambda: os.rename(path, path.with_name("elsewhere"))),
        "link": attempt(lambda: os.link(path, path.with_name("another-name"))),
        "still_there": path.exists() and path.read_bytes() == data,
        "as_euid": os.geteuid(),
    }
    print(json.dumps(result))
    """
)


def run_locked(tmp_path, fs: str, drop_immutable_capability: bool = False) -> dict:
    unshare = require_root_unshare()
    if fs == "ext4":
        require_tool("mkfs.ext4")
    command = [unshare, "-m", sys.executable, "-c", IN_NAMESPACE, str(tmp_path / fs), fs]
    if drop_immutable_capability:
        command = [require_tool("setpriv"), "--bounding-set", "-linux_immutable", "--inh-caps", "-linux_immutable",
                   "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fs", ["tmpfs", "ext4"])
def test_a_locked_object_cannot_be_removed_written_or_renamed_even_by_root(tmp_path, fs):
    """In a private mount namespace (the filesystem goes with it: no flag to clear after)."""
    outcome = run_locked(tmp_path, fs)
    assert outcome["as_euid"] == 0
    assert outcome["locked"] is True and outcome["found_locked"] is True
    for action in ("unlink", "open_for_write", "chmod", "rename", "link"):
        assert outcome[action] == "EPERM", (action, outcome)
    assert outcome["still_there"]


def test_without_the_capability_the_object_is_stored_but_not_locked(tmp_path):
    """root without CAP_LINUX_IMMUTABLE: the flag does not take and `locked` says so; the
    file's mode still refuses writes to anyone else (root's DAC override aside)."""
    outcome = run_locked(tmp_path, "tmpfs", drop_immutable_capability=True)
    assert outcome["locked"] is False and outcome["found_locked"] is False
    assert outcome["unlink"] == "done", "nothing but the mode protected it"


def test_a_later_put_locks_an_object_stored_unlocked(dock, tmp_path, monkeypatch):
    """Stored while the dock lacked CAP_LINUX_IMMUTABLE, locked when it is put again with it.
    (On the host's disk: the test clears the flag afterwards; the package never does.)"""
    if os.geteuid() != 0:
        pytest.skip("setting the immutable flag needs root")
    archive = open_archive({}, dock)
    source, sha = staged(tmp_path, b"stored while the flag could not be set")
    real = local_module.make_immutable
    monkeypatch.setattr(local_module, "make_immutable", lambda fd: False)
    assert archive.put(sha, source, "patrol", RECORDED).locked is False
    monkeypatch.setattr(local_module, "make_immutable", real)
    path = dock / archive.relative(sha)
    try:
        again = archive.put(sha, source, "patrol", RECORDED)
        if not again.locked:
            pytest.skip(f"the filesystem of {dock} keeps no immutable flag")
        assert archive.find(sha).locked
        with pytest.raises(PermissionError):
            os.unlink(path)
    finally:
        clear_immutable(path)


def clear_immutable(path: Path) -> None:
    """Test clean-up only: what `chattr -i` does."""
    import array
    import fcntl

    from recorder.archive.immutable import FS_IMMUTABLE_FL, FS_IOC_SETFLAGS, inode_flags

    fd = os.open(path, os.O_RDONLY)
    try:
        flags = inode_flags(fd)
        if flags is not None and flags & FS_IMMUTABLE_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, array.array("i", [flags & ~FS_IMMUTABLE_FL]), True)
    finally:
        os.close(fd)
