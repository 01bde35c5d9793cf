"""Recovery's file work on real fragmented MP4s: a torn tail set aside byte for byte before the
`.partial` is cut, recovery cut short and run again, a file with no whole fragment set aside
whole, and the ballast on a real (tmpfs) filesystem. Nothing is ever lost: the bytes found
are always the bytes kept plus the bytes set aside."""

import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import require_root_unshare
from recorder.evidence.bmff import complete_length
from recorder.store.recovery import trim_partial
from shifts import run_device

TORN = 1500  # bytes of a fragment the cut tore


@pytest.fixture(scope="module")
def sealed_segment(tmp_path_factory):
    store = tmp_path_factory.mktemp("rec") / "store"
    run_device(store, "press record @1s; hold record 3.5s @8s")
    return sorted(store.glob("media/*/00001.mp4"))[0]


def torn_partial(sealed_segment, tmp_path):
    """A `.partial` as a cut leaves it: whole fragments, then the start of the next one."""
    data = sealed_segment.read_bytes()
    with open(sealed_segment, "rb") as f:
        whole = data[:complete_length(f)]  # up to the last fragment (a sealed file adds its mfra index)
    # the torn fragment: the first TORN bytes of the file's last fragment, after the whole ones
    last_moof = whole.rfind(b"moof") - 4
    partial = tmp_path / "00002.mp4.partial"
    partial.write_bytes(whole + whole[last_moof:last_moof + TORN])
    return partial, whole, whole[last_moof:last_moof + TORN]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_torn_tail_is_set_aside_before_the_partial_is_cut(sealed_segment, tmp_path):
    partial, whole, tail = torn_partial(sealed_segment, tmp_path)
    trimmed = trim_partial(partial)
    assert partial.read_bytes() == whole, "the whole fragments, untouched"
    assert trimmed.torn.read_bytes() == tail and trimmed.torn.name == "00002.mp4.torn"
    assert (trimmed.kept, trimmed.torn_size, trimmed.original_size) == (len(whole), TORN, len(whole) + TORN)
    assert trimmed.torn_sha256 == digest(tail)
    assert os.stat(trimmed.torn).st_mode & 0o777 == 0o444, "kept read-only, as found"


def test_recovery_cut_after_the_truncation_runs_again_to_the_same_result(sealed_segment, tmp_path):
    partial, whole, tail = torn_partial(sealed_segment, tmp_path)
    first = trim_partial(partial)
    again = trim_partial(partial)
    assert again == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00002.mp4.partial", "00002.mp4.torn"]


def test_recovery_cut_before_the_truncation_does_not_write_the_tail_twice(sealed_segment, tmp_path):
    partial, whole, tail = torn_partial(sealed_segment, tmp_path)
    (tmp_path / "00002.mp4.torn").write_bytes(tail)  # written, then the power went again
    trimmed = trim_partial(partial)
    assert partial.read_bytes() == whole and trimmed.torn.read_bytes() == tail
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00002.mp4.partial", "00002.mp4.torn"]


def test_a_different_tail_found_beside_an_earlier_one_gets_a_name_of_its_own(sealed_segment, tmp_path):
    partial, whole, tail = torn_partial(sealed_segment, tmp_path)
    (tmp_path / "00002.mp4.torn").write_bytes(b"something else, kept as it is")
    trimmed = trim_partial(partial)
    assert trimmed.torn.name == "00002.mp4.2.torn" and trimmed.torn.read_bytes() == tail
    assert (tmp_path / "00002.mp4.torn").read_bytes() == b"something else, kept as it is"


def test_a_partial_without_one_whole_fragment_is_set_aside_whole(sealed_segment, tmp_path):
    data = sealed_segment.read_bytes()
    partial = tmp_path / "00001.mp4.partial"
    partial.write_bytes(data[:200])  # the cut came inside the header
    trimmed = trim_partial(partial)
    assert trimmed.kept == 0 and not partial.exists()
    assert trimmed.torn.read_bytes() == data[:200]


BALLAST = textwrap.dedent("""
    import os, subprocess, sys
    from pathlib import Path
    from recorder.store.ballast import Ballast
    root = Path(sys.argv[1]); root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(root)], check=True)
    free = lambda: os.statvfs(root).f_bavail * os.statvfs(root).f_frsize
    ballast = Ballast(root)
    def fill(name):  # another writer takes what is left
        with open(root / name, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"x" * 4096)
            except OSError:
                pass
    results = [ballast.restore(), ballast.held, free()]
    fill("other")
    results += [free(), ballast.release(), ballast.held, free()]
    fill("sealing")  # what sealing wrote into the room
    results += [ballast.restore(), ballast.held]  # no room for it again yet
    os.truncate(root / "other", 0)  # the dock offloaded: room again
    results += [ballast.restore(), ballast.held]
    print(results)
""")


def test_the_ballast_gives_its_room_back_on_a_full_disk_and_is_held_again_later(tmp_path):
    unshare = require_root_unshare()
    out = subprocess.run([unshare, "-m", sys.executable, "-c", BALLAST, str(tmp_path / "fs")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (restored, held, free_after, full, released, held_after, free_released, again, held_again, later,
     held_later) = eval(out.stdout)
    mib = 1024 * 1024
    assert restored and held == 4 * mib and free_after <= 8 * mib + 65536, "real blocks, not a sparse file"
    assert full < 4096
    assert released == 4 * mib and held_after == 0 and free_released >= 4 * mib
    assert again is False and held_again < 4 * mib, "no room: it says so"
    assert later is True and held_later == 4 * mib
