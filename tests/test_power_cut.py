"""Crashes and power cuts mid-segment.

A writer killed with SIGKILL leaves a `.partial` whose complete fragments decode. A power
cut (on a filesystem that loses whatever was not fsync'd, support/writeback_fs.py) loses
at most the open fragment plus what the encoder held; without the fragment syncs it loses
the whole open segment (docs/TESTING-POWER-CUT.md).
"""

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import require_tool, require_writeback_fs, write_config
from media import frame_indices
from recorder.config import load_config
from recorder.evidence.bmff import layout_ranges, scan_boxes
from recorder.evidence.keys import pem_is_key
from recorder.evidence.layout import StoreLayout
from recorder.evidence.ledger import LedgerText
from recorder.evidence.verifier import verify_store
from recorder.seal.identity import DeviceIdentity, new_generation


def complete_fragments(data: bytes) -> list[tuple[int, int]]:
    ranges = layout_ranges(scan_boxes(data), len(data))
    return [(o, n) for o, n in ranges["fragments"] if o + n <= len(data)]


def test_sigkill_mid_segment_leaves_decodable_fragments(tmp_path):
    ffmpeg = require_tool("ffmpeg")
    store = tmp_path / "store"
    config = write_config(tmp_path, extra="")
    config.write_text(config.read_text().replace("seconds = 4", "seconds = 60"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--simulate", "--once", "--config", str(config),
         "--store", str(store), "--start-at", "0", "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        partial = None
        while time.monotonic() < deadline:
            found = list(store.glob("media/*/*.mp4.partial"))
            # wait for 3 complete fragments plus some of the 4th
            if found and len(complete_fragments(found[0].read_bytes())) >= 3:
                partial = found[0]
                break
            time.sleep(0.1)
        assert partial is not None, "recording never produced fragments"
        time.sleep(0.5)  # kill in the middle of the next fragment
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    data = partial.read_bytes()
    fragments = complete_fragments(data)
    assert len(fragments) >= 3
    end = fragments[-1][0] + fragments[-1][1]
    intact = tmp_path / "intact.mp4"
    intact.write_bytes(data[:end])
    # Stock ffmpeg decodes every complete fragment without an error...
    decode = subprocess.run([ffmpeg, "-v", "error", "-xerror", "-i", str(intact), "-f", "null", "-"],
                            capture_output=True, text=True)
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr
    # ...and the frames in them are the GOPs recorded, one fragment per GOP, contiguous.
    indices = frame_indices(intact)
    assert len(indices) == 30 * len(fragments)
    assert indices == list(range(indices[0], indices[0] + len(indices)))
    # The partial itself stays as the crash left it: nothing was sealed, nothing deleted.
    assert not list(store.glob("media/*/*.mp4"))


# ---------------------------------------------------------------------------- a real power cut
#
# SIGKILL cannot lose what the page cache holds. On the write-back FUSE filesystem
# (support/writeback_fs.py) only what was fsync'd reaches the backing directory, and
# killing its daemon is the power cut. The recorder runs in real time on it; at seeded
# random moments the filesystem and then the recorder are killed, and the backing
# directory is inspected as the device would find its card after the power came back.

SEED = 20261203
CUTS = 6
CUT_WINDOW_S = (2.0, 7.0)  # after the camera's first frame: 4 s segments, so mid-segment 1 or 2
# What a cut may take beyond one GOP and the encoder's delay: the agent's loop step
# (20 ms), the pipeline thread's queue and the fdatasync in flight. 0.2 s, because
# "captured" is counted from the clock (every frame due by the cut), so a recorder that
# runs late on a busy 2-core machine counts its lateness as loss.
LATENCY_FRAMES = 6
# A cut leaves these, and only these, for the verifier to find (the sealer's docstring
# lists the crash states; a cut in the middle of sealing adds the segment being sealed).
EXPECTED_AFTER_A_CUT = {"torn-line", "partial-file", "session-unterminated"}


@dataclass
class Cut:
    at_s: float  # the cut, in seconds after the camera's first frame
    due: int  # frames the camera had delivered by the cut (every one with a time before it)
    written: int | None  # frames in complete fragments of the file as the recorder saw it
    surviving: int  # frames that decode from the backing directory after the cut
    open_segment: int  # seq of the segment that was being written
    open_segment_frames: int  # of which frames survived

    @property
    def lost(self) -> int:
        return self.due - self.surviving


def encoder_delay_frames(config_path: Path) -> int:
    """Frames libx264 holds before the first packet comes out, with this config on this
    machine (lookahead + frame threads): what a cut takes on top of the open GOP."""
    from recorder.capture.encoders import VideoEncoder

    class Count:
        packets = 0

        def _add_stream(self, *args, **kwargs):
            pass

        def outputframe(self, *args):
            self.packets += 1

    video = load_config(config_path).video
    count = Count()
    encoder = VideoEncoder(video, [count])
    image = np.zeros((video.height * 3 // 2, video.width), np.uint8)
    frames = 2 * video.fps * video.gop_seconds
    for index in range(frames):
        encoder.encode(image, index * 1_000_000 // video.fps)
    return frames - count.packets


def loss_bound(config_path: Path) -> tuple[int, int]:
    """(GOP, the most frames a cut may take): the open GOP, the encoder's delay, latency."""
    video = load_config(config_path).video
    gop = video.fps * video.gop_seconds
    return gop, gop + encoder_delay_frames(config_path) + LATENCY_FRAMES


def camera_origin_ns(ledger: Path, proc: subprocess.Popen, timeout_s: float = 30) -> int:
    """The monotonic time of the camera's first frame: the `booting -> ready` transition
    is entered at the body's origin (agent/assembly.py), fsync'd like every entry."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the recorder exited before it was cut"
        try:
            text = LedgerText.parse(ledger.read_bytes())
        except FileNotFoundError:
            text = LedgerText([], b"")
        for _, _, entry in text.entries():
            if entry and entry["type"] == "transition" and entry["body"]["from"] == "booting":
                return entry["at"]["mono_us"] * 1000
        time.sleep(0.02)
    raise AssertionError(f"the recorder did not boot within {timeout_s} s")


def frames_due(origin_ns: int, at_ns: int, fps: int) -> int:
    """How many frames the simulated camera had delivered by at_ns (frame i is due at
    origin + i * 1e9 // fps, sim/body.py)."""
    return ((at_ns - origin_ns + 1) * fps - 1) // 1_000_000_000 + 1


def fragment_frames(data: bytes, scratch: Path, ffmpeg: str) -> list:
    """Frame indices of the complete fragments of a fragmented MP4 (a cut file's tail may
    be a torn fragment); each must decode without an error."""
    fragments = complete_fragments(data)
    if not fragments:
        return []
    end = fragments[-1][0] + fragments[-1][1]
    scratch.write_bytes(data[:end])
    decode = subprocess.run([ffmpeg, "-v", "error", "-xerror", "-i", str(scratch), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60)
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr
    return frame_indices(scratch)


def record_and_cut(tmp_path: Path, name: str, cut_at_s: float, command: list, ffmpeg: str,
                   agency: tuple[Path, str] | None = None) -> Cut:
    """agency: (age key file, recipient): segments are encrypted to it, and each file is
    read through the agency's key (`age -d` for sealed files, ours for a cut one)."""
    from support.writeback_fs import mounted

    root = tmp_path / name
    root.mkdir()
    disk, mnt = root / "disk", root / "mnt"
    config = write_config(root, extra=f'[encryption]\nrecipients = ["{agency[1]}"]\n' if agency else "")
    suffix = ".mp4.age" if agency else ".mp4"
    opened = (lambda data: decrypted(data, agency[0])) if agency else (lambda data: data)
    fps = load_config(config).video.fps
    # The device is provisioned before it records: its key pair is on the card already, beside
    # the store (recorder/seal/identity.py).
    DeviceIdentity.create(new_generation(disk / "identity"))
    log_path = root / "recorder.log"
    with mounted(disk, mnt) as fs, open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*command, "-v", "run", "--simulate", "--once", "--config", str(config), "--store", str(mnt / "store"),
             "--start-at", "0", "--duration", "60"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        )
        try:
            origin_ns = camera_origin_ns(StoreLayout(mnt / "store").ledger_path, proc)
            time.sleep(max(0.0, (origin_ns + cut_at_s * 1e9 - time.monotonic_ns()) / 1e9))
            assert proc.poll() is None, f"the recorder exited before the cut: {log_path.read_text()}"
            # The file as the recorder sees it, from the filesystem's memory, just before the cut.
            partials = sorted(mnt.glob(f"store/media/*/*{suffix}.partial"))
            view = opened(partials[-1].read_bytes()) if partials else b""
            fs.cut()  # the power cut: from here on the recorder can reach no disk
        finally:
            proc.kill()
            proc.wait(timeout=10)
        cut_ns = fs.cut_at_ns

    store = disk / "store"
    written = fragment_frames(view, root / "view.mp4", ffmpeg)
    # Every file of the session, in segment order: sealed (or renamed) files whole, the
    # open `.partial` up to its last complete fragment.
    sessions = sorted(p for p in (store / "media").iterdir() if p.is_dir())
    assert len(sessions) == 1, sessions
    frames, open_segment, open_frames = [], 0, 0
    for seq in itertools.count(1):
        sealed, partial = sessions[0] / f"{seq:05d}{suffix}", sessions[0] / f"{seq:05d}{suffix}.partial"
        if sealed.exists():
            if agency:
                plain = root / f"sealed-{seq}.mp4"
                done = subprocess.run([require_tool("age"), "-d", "-i", str(agency[0]), "-o", str(plain),
                                       str(sealed)], capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
                sealed = plain
            frames += frame_indices(sealed)
        elif partial.exists():
            got = fragment_frames(opened(partial.read_bytes()), root / f"disk-{seq}.mp4", ffmpeg)
            frames += got
            open_segment, open_frames = seq, len(got)
        else:
            break
    # Gap-free from the press (frame 0) to the last surviving frame.
    assert frames == list(range(len(frames))), f"{name}: frames on disk are not contiguous"

    # The verifier finds exactly the states a cut leaves: the open segment, the session
    # without its stop, at most a torn last ledger line, and a segment cut while sealed.
    report = verify_store(store)
    in_ledger = sum(1 for _, _, e in LedgerText.parse(StoreLayout(store).ledger_path.read_bytes()).entries()
                    if e and e["type"] == "segment")
    being_sealed = in_ledger + 1  # its manifest, or manifest and renamed file, may be out already
    mid_seal = {f"media/{sessions[0].name}/{being_sealed:05d}{name}"
                for name in (suffix, ".manifest.json", f"{suffix}.index")}
    unexpected = [p for p in report.problems
                  if p.severity == "problem" and p.code not in EXPECTED_AFTER_A_CUT
                  and not (p.code == "unaccounted-file" and p.location in mid_seal)]
    assert unexpected == [], f"{name}: {unexpected}"

    return Cut(
        at_s=(cut_ns - origin_ns) / 1e9,
        due=frames_due(origin_ns, cut_ns, fps),
        written=(written[-1] + 1) if written else None,
        surviving=len(frames),
        open_segment=open_segment,
        open_segment_frames=open_frames,
    )


def decrypted(data: bytes, key: Path) -> bytes:
    """The whole chunks of an age file (all of it when it is complete), with the agency's key."""
    from recorder.encryption import Identity, decrypt_bytes

    return decrypt_bytes(data, Identity.parse_file(key.read_text()), allow_torn=True)[0]


def describe(label: str, cut: Cut, bound: int, fps: int = 30) -> str:
    written = "-" if cut.written is None else str(cut.written)
    return (f"{label}: cut at {cut.at_s:5.2f} s  captured {cut.due:4d}  written {written:>4}  "
            f"on disk {cut.surviving:4d}  lost {cut.lost:3d} frames = {cut.lost / fps:.2f} s  "
            f"(bound {bound}; open segment {cut.open_segment}: {cut.open_segment_frames} frames kept)")


def test_power_cut_loses_at_most_the_open_fragment(tmp_path, capsys):
    """At each cut: what survives decodes, gap-free; everything sealed verifies; and no more
    is lost than the open GOP plus what the encoder and the pipeline held."""
    require_writeback_fs()
    ffmpeg = require_tool("ffmpeg")
    gop, bound = loss_bound(write_config(tmp_path))
    delay = bound - gop - LATENCY_FRAMES
    rng = random.Random(SEED)
    started = time.monotonic()
    results = []
    for run in range(CUTS):
        cut = record_and_cut(tmp_path, f"cut{run}", rng.uniform(*CUT_WINDOW_S),
                             [sys.executable, "-m", "recorder"], ffmpeg)
        results.append(cut)
        # The fragment whose fdatasync was in flight may be lost, never more of what was written.
        if cut.written is not None:
            assert cut.surviving >= cut.written - gop, describe(f"cut {run}", cut, bound)
    with capsys.disabled():
        print(f"\npower cuts (GOP {gop} frames, encoder delay {delay} frames, "
              f"{time.monotonic() - started:.1f} s):")
        for run, cut in enumerate(results):
            print("  " + describe(f"cut {run}", cut, bound))
    for run, cut in enumerate(results):
        assert cut.lost <= bound, describe(f"cut {run}", cut, bound)


ENCRYPTED_CUTS = 4


def test_a_power_cut_with_encryption_loses_no_more_and_the_next_start_seals_it(tmp_path, capsys):
    """Encrypted to the agency (docs/ENCRYPTION.md): the same bound — each fragment closed in
    whole chunks before its sync, so the encryptor holds nothing that a cut takes beyond the
    open GOP. Then the device starts again on the card as the cut left it and seals the cut
    segment from its fragment index without reading it; the store verifies with and without
    the agency's key, and the recovered file decrypts (Debian's age) to the frames counted."""
    require_writeback_fs()
    ffmpeg = require_tool("ffmpeg")
    from test_encryption_at_rest import make_agency_key

    agency = make_agency_key(tmp_path)
    gop, bound = loss_bound(write_config(tmp_path))
    rng = random.Random(SEED + 5)
    results = []
    for run in range(ENCRYPTED_CUTS):
        cut = record_and_cut(tmp_path, f"age{run}", rng.uniform(*CUT_WINDOW_S), [sys.executable, "-m", "recorder"],
                             ffmpeg, agency)
        results.append(cut)
        if cut.written is not None:
            assert cut.surviving >= cut.written - gop, describe(f"encrypted cut {run}", cut, bound)
    with capsys.disabled():
        print(f"\nencrypted power cuts (GOP {gop} frames):")
        for run, cut in enumerate(results):
            print("  " + describe(f"cut {run}", cut, bound))
    for run, cut in enumerate(results):
        assert cut.lost <= bound, describe(f"encrypted cut {run}", cut, bound)

    # The next start on the last card: recovery seals the cut file, never decrypting it.
    from recorder.encryption import Identity

    root = tmp_path / f"age{ENCRYPTED_CUTS - 1}"
    store = root / "disk" / "store"
    session = next(p for p in (store / "media").iterdir() if p.is_dir())  # the one the cut left
    env = {**os.environ, "RECORDER_BOOT_ID": "after-the-power-cut"}
    subprocess.run([sys.executable, "-m", "recorder", "run", "--simulate", "--once", "--config",
                    str(root / "recorder.toml"), "--store", str(store), "--identity", str(root / "disk" / "identity"),
                    "--start-at", "0", "--duration", "1"], check=True, capture_output=True, env=env)
    identities = Identity.parse_file(agency[0].read_text())
    for report in (verify_store(store), verify_store(store, identities=identities)):
        assert [p for p in report.problems if p.severity == "problem"] == [], report.summary_text()
    sealed = sorted(session.glob("*.mp4.age"))
    plain = root / "recovered.mp4"
    done = subprocess.run([require_tool("age"), "-d", "-i", str(agency[0]), "-o", str(plain), str(sealed[-1])],
                          capture_output=True, text=True)
    manifest = json.loads((session / sealed[-1].name.replace(".mp4.age", ".manifest.json")).read_bytes())
    assert done.returncode == (0 if manifest["encryption"]["final_chunk"] else 1), done.stderr
    assert len(frame_indices(plain)) == manifest["video"]["frames"]
    assert sum(1 for _ in session.glob("*.torn")) <= 2  # the torn tail, and an index naming more


def test_without_fragment_syncs_a_cut_loses_the_open_segment(tmp_path, capsys):
    """The negative control: with FragmentSyncer.fragment_written a no-op (the segment is
    fsync'd only when it closes), the same cut loses everything since the segment began,
    far beyond the bound the test above holds the recorder to."""
    require_writeback_fs()
    ffmpeg = require_tool("ffmpeg")
    gop, bound = loss_bound(write_config(tmp_path))
    script = Path(__file__).parent / "support" / "recorder_no_fragment_sync.py"
    cut = record_and_cut(tmp_path, "nosync", 7.6, [sys.executable, str(script)], ffmpeg)
    with capsys.disabled():
        print("\n  " + describe("no fragment sync", cut, bound))
    assert cut.open_segment == 2 and cut.open_segment_frames == 0  # segment 2: 3.6 s, all gone
    assert cut.surviving == 120  # segment 1 (4 s) was fsync'd when it closed
    assert cut.lost > bound + gop


def test_a_power_cut_after_key_creation_keeps_the_public_key(tmp_path):
    """device.pub is written durably with the key (it once was not: a cut right after left it
    empty, and verify without --key could not run)."""
    require_writeback_fs()
    from support.writeback_fs import mounted

    with mounted(tmp_path / "disk", tmp_path / "mnt") as fs:
        identity = DeviceIdentity.create(tmp_path / "mnt" / "device")
        fs.cut()
    assert (tmp_path / "disk" / "device" / "device.key").stat().st_size > 0  # fsync'd: kept
    pem = (tmp_path / "disk" / "device" / "device.pub").read_bytes()
    assert pem_is_key(pem, identity.public_key)
