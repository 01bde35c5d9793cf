"""Encryption at rest (docs/ENCRYPTION.md; docs/PERFORMANCE.md, "Encryption"): our age v1
encryptor against Debian's `age` encrypting the same bytes, both on the real disk.

- encrypt: `StreamEncryptor` fed one fragment (one GOP of packets) a write, as the muxer
  hands them over, into a file on /tmp — its running SHA-256 of ciphertext and plaintext
  included — against `age -r RECIPIENT -o OUT IN` on the same bytes (IN in the page cache);
  CPU of ours from time.process_time(), of age from getrusage(RUSAGE_CHILDREN);
- the same with the open chunk closed by a `free` box after every fragment (`align`), the
  recording path's design;
- the floor: hashlib SHA-256 of the same bytes, once (the least any sealing does);
- decrypt: `decrypt` file to file against `age -d -i KEY -o OUT IN`;
- what closing a chunk at every fragment costs in bytes: the filler per recorded hour
  against the media per recorded hour, from the fragment sizes of the sample.
Figures are CPU ms per MiB of plaintext: the median of `repeats` alternating runs.
"""

import hashlib
import os
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from recorder.encryption import Identity, StreamEncryptor, decrypt

SCRATCH = "/tmp"  # the real disk on this machine (not a tmpfs)
MIB = 1024 * 1024
DEFAULT_FRAGMENT = 512_000  # 4 Mbit/s video + 96 kbit/s audio, one 1 s GOP a fragment


def fragments_of(packets, mib: int) -> list[bytes]:
    """One fragment's payload per GOP (the packets from a video keyframe to the next), the
    first `mib` MiB of them."""
    fragments, current, total = [], bytearray(), 0
    for packet in packets:
        if packet.keyframe and not packet.audio and current:
            fragments.append(bytes(current))
            total += len(current)
            if total >= mib * MIB:
                return fragments
            current = bytearray()
        current += packet.data
    return fragments + ([bytes(current)] if current else [])


def synthetic_fragments(mib: int) -> list[bytes]:
    """Random bytes (the cipher does not care what) in fragments of the default bitrate,
    each ±25 % (so that where fragments end within a chunk varies as with real GOPs)."""
    rng = random.Random(1)
    block = os.urandom(2 * DEFAULT_FRAGMENT)
    fragments, total = [], 0
    while total < mib * MIB:
        size = rng.randint(DEFAULT_FRAGMENT * 3 // 4, DEFAULT_FRAGMENT * 5 // 4)
        start = rng.randrange(len(block) - size)
        fragments.append(block[start : start + size])
        total += size
    return fragments


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tool(args: list[str]) -> float:
    before = _children_cpu()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return _children_cpu() - before


def _ours_encrypt(fragments, recipient, out: Path, aligned: bool) -> tuple[float, int]:
    """(CPU s, filler bytes added)."""
    start, filler = time.process_time(), 0
    with open(out, "wb") as sink:
        encryptor = StreamEncryptor(sink, recipient)
        for fragment in fragments:
            encryptor.write(fragment)
            if aligned:
                filler += encryptor.align()
        encryptor.close()
    return time.process_time() - start, filler


def _ours_decrypt(source: Path, identity, out: Path) -> float:
    start = time.process_time()
    with open(source, "rb") as f, open(out, "wb") as sink:
        result = decrypt(f, identity, sink)
    if not result.complete:
        raise RuntimeError("the bench's own file did not decrypt whole")
    return time.process_time() - start


def measure(fragments, repeats: int = 3) -> dict:
    age = shutil.which("age")
    if age is None:
        raise RuntimeError("the encryption bench needs Debian's age (make test-deps installs it)")
    identity = Identity.generate()
    scratch = Path(tempfile.mkdtemp(prefix="bench-age-", dir=SCRATCH))
    try:
        plain, key = scratch / "plain", scratch / "agency.key"
        key.write_text(identity.key_file_text())
        with open(plain, "wb") as f:
            for fragment in fragments:
                f.write(fragment)
        size = plain.stat().st_size
        runs = {name: [] for name in ("ours", "ours_aligned", "age", "ours_decrypt", "age_decrypt")}
        filler = 0
        for _ in range(repeats + 1):  # the first round warms up, and is dropped below
            runs["ours"].append(_ours_encrypt(fragments, identity.recipient, scratch / "ours.age", False)[0])
            cpu, filler = _ours_encrypt(fragments, identity.recipient, scratch / "aligned.age", True)
            runs["ours_aligned"].append(cpu)
            runs["age"].append(_tool([age, "-r", str(identity.recipient), "-o", str(scratch / "age.age"), str(plain)]))
            runs["ours_decrypt"].append(_ours_decrypt(scratch / "age.age", identity, scratch / "ours.out"))
            runs["age_decrypt"].append(_tool([age, "-d", "-i", str(key), "-o", str(scratch / "age.out"),
                                              str(scratch / "ours.age")]))
        for out in ("ours.out", "age.out"):
            if (scratch / out).read_bytes() != plain.read_bytes():
                raise RuntimeError(f"{out} differs from the plaintext")
        start = time.process_time()
        digest = hashlib.sha256()
        for fragment in fragments:
            digest.update(fragment)
        sha256_cpu = time.process_time() - start
    finally:
        shutil.rmtree(scratch)
    per_mib = 1000 * MIB / size
    result = {name: statistics.median(times[1:]) * per_mib for name, times in runs.items()}
    return {**result, "sha256": sha256_cpu * per_mib, "mib": size / MIB, "filler": filler, "size": size,
            "fragments": len(fragments)}


def rows(mib: int, packets=None, gop_seconds: int = 1, repeats: int = 3) -> list:
    """The rows bench/run.py prints: (name, ours, baseline, unit, target), over `mib` MiB:
    the seal path's packets cut into GOPs when given, else random fragments of the default
    bitrate (one a GOP)."""
    if mib <= 0:
        return []
    fragments = fragments_of(packets, mib) if packets is not None else synthetic_fragments(mib)
    r = measure(fragments, repeats)
    hours = r["fragments"] * gop_seconds / 3600
    print(f"\nencryption: {r['mib']:.0f} MiB in {r['fragments']} fragments; CPU ms per MiB, median of {repeats}")
    print(f"   encrypt: ours {r['ours']:.2f}, with a chunk closed per fragment {r['ours_aligned']:.2f}, "
          f"age -r {r['age']:.2f}; SHA-256 alone {r['sha256']:.2f}")
    print(f"   decrypt: ours {r['ours_decrypt']:.2f}, age -d {r['age_decrypt']:.2f}")
    print(f"   filler closing a chunk per fragment: {r['filler'] / MIB:.1f} MiB for {r['mib']:.0f} MiB of media "
          f"({100 * r['filler'] / r['size']:.1f} %)")
    return [
        ("age: encrypt CPU ms per MiB, ours vs age -r", r["ours"], r["age"], "ms", None),
        ("  ours, chunk closed per fragment, vs age -r", r["ours_aligned"], r["age"], "ms", None),
        ("  ours vs SHA-256 of the same bytes (floor)", r["ours"], r["sha256"], "ms", None),
        ("age: decrypt CPU ms per MiB, ours vs age -d", r["ours_decrypt"], r["age_decrypt"], "ms", None),
        ("age: filler MiB per recorded hour vs media", r["filler"] / MIB / hours, r["size"] / MIB / hours, "MiB", None),
    ]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the encryption rows of make bench, alone")
    parser.add_argument("mib", type=int, nargs="?", default=256)
    parser.add_argument("--sample", action="store_true",
                        help="the seal path's encoded sample (default config, 32 s, repeated) instead of random bytes")
    args = parser.parse_args()
    packets, gop = None, 1
    if args.sample:
        from recorder.config import Config
        from sample import Sample

        config = Config()
        sample = Sample(config, 32)
        packets, gop = sample.repeated(40), config.video.gop_seconds
        packets = packets[next(i for i, p in enumerate(packets) if p.keyframe and not p.audio) :]
    for row in rows(args.mib, packets, gop):
        print(row)
