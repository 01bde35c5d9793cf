"""recorder.encryption against Debian's age (the reference tool a clerk has): our files open
with `age -d`, theirs with ours; torn files give exactly their whole chunks and say the end
is missing; anything altered is refused, never decrypted to wrong bytes (docs/ENCRYPTION.md)."""

import hashlib
import io
import os
import random
import subprocess

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require_tool
from recorder.encryption import (CHUNK, SEALED_CHUNK, AgeError, HeaderError, Identity, KeyFormatError,
                                 NoIdentityMatch, PayloadError, Recipient, StreamEncryptor, TornFileError,
                                 decrypt_bytes, encrypt_bytes, free_box)
from recorder.encryption import bech32
from recorder.evidence.bmff import layout_ranges, scan_boxes
from recorder.pipeline.writer import MP4_OPTIONS

SIZES = [0, 1, 65535, 65536, 65537, 2 * CHUNK, 3 * 1024 * 1024 + 12345]


@pytest.fixture(scope="module")
def identity() -> Identity:
    return Identity.generate()


@pytest.fixture(scope="module")
def key_file(identity, tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "agency.key"
    path.write_text(identity.key_file_text())
    return path


def age_decrypt(key_file, ciphertext: bytes, tmp_path) -> subprocess.CompletedProcess:
    source = tmp_path / "in.age"
    source.write_bytes(ciphertext)
    return subprocess.run([require_tool("age"), "-d", "-i", str(key_file), str(source)], capture_output=True)


def encrypted(data: bytes, recipient: Recipient, writes: list[int] | None = None) -> tuple[bytes, StreamEncryptor]:
    sink = io.BytesIO()
    encryptor = StreamEncryptor(sink, recipient)
    offset = 0
    for size in writes or [len(data)]:
        encryptor.write(data[offset : offset + size])
        offset += size
    encryptor.write(data[offset:])
    encryptor.close()
    return sink.getvalue(), encryptor


# -- keys ----------------------------------------------------------------------------------
def test_the_spec_example_identity_gives_the_spec_example_recipient():
    identity = Identity.parse("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
    assert str(identity.recipient) == "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def test_age_keygen_identities_and_recipients_parse(tmp_path):
    keygen = require_tool("age-keygen")
    subprocess.run([keygen, "-o", str(tmp_path / "k")], check=True, capture_output=True)
    public = subprocess.run([keygen, "-y", str(tmp_path / "k")], check=True, capture_output=True, text=True)
    [identity] = Identity.parse_file((tmp_path / "k").read_text())
    assert str(identity.recipient) == public.stdout.strip()
    assert Recipient.parse(public.stdout.strip()) == identity.recipient
    assert Identity.parse(identity.secret_text()).recipient == identity.recipient


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True), st.binary(max_size=80))
def test_bech32_round_trips(hrp, data):
    text = bech32.encode(hrp, data)
    assert bech32.decode(text) == (hrp, data)
    assert bech32.decode(text.upper()) == (hrp, data)  # one case, either case


def test_bech32_refuses_bad_checksums_mixed_case_and_strange_characters(identity):
    text = str(identity.recipient)
    for i in range(4, len(text)):  # every data and checksum character, replaced
        replaced = text[:i] + ("q" if text[i] != "q" else "p") + text[i + 1 :]
        with pytest.raises(bech32.Bech32Error, match="checksum|padding"):
            bech32.decode(replaced)
    for bad in (text[:10] + text[10:].upper(), text[:-1] + "b", text.replace("1", "", 1), text + " ", "age1"):
        with pytest.raises(bech32.Bech32Error):
            bech32.decode(bad)


def test_keys_refuse_the_wrong_kind_and_the_wrong_case(identity):
    with pytest.raises(KeyFormatError):
        Recipient.parse(str(identity.recipient).upper())
    with pytest.raises(KeyFormatError):
        Identity.parse(identity.secret_text().lower())
    with pytest.raises(KeyFormatError, match="prefix"):
        Recipient.parse(identity.secret_text().lower())
    with pytest.raises(KeyFormatError, match="prefix"):
        Identity.parse(str(identity.recipient).upper())
    with pytest.raises(KeyFormatError, match="32 bytes"):
        Recipient.parse(bech32.encode("age", bytes(31)))


def test_no_key_material_in_reprs(identity):
    secret = identity.secret_text()
    encryptor = StreamEncryptor(io.BytesIO(), identity.recipient)
    encryptor.write(b"x" * 100)
    for shown in (repr(identity), str(identity), repr(encryptor), str(vars(encryptor))):
        assert secret not in shown and secret.lower() not in shown
    # the file key is not kept: nothing of 16 or 32 raw bytes lives on the encryptor
    assert not [v for v in vars(encryptor).values() if isinstance(v, bytes | bytearray) and len(v) in (16, 32)]


# -- ours -> age -d --------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
def test_age_decrypts_what_we_encrypt(identity, key_file, tmp_path, size):
    data = random.Random(size).randbytes(size)
    ciphertext, _ = encrypted(data, identity.recipient)
    result = age_decrypt(key_file, ciphertext, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


def test_age_decrypts_what_we_encrypt_in_uneven_writes(identity, key_file, tmp_path):
    rng = random.Random(7)
    data = rng.randbytes(1_000_000)
    writes = [rng.choice([1, 7, 4096, 65535, 65536, 65537, 200_000]) for _ in range(40)]
    ciphertext, _ = encrypted(data, identity.recipient, writes)
    result = age_decrypt(key_file, ciphertext, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


# -- age -r -> ours --------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
def test_we_decrypt_what_age_encrypts(identity, tmp_path, size):
    data = random.Random(size + 1).randbytes(size)
    other = Identity.generate()  # a second recipient: we must find our stanza among others
    ciphertext = subprocess.run([require_tool("age"), "-r", str(other.recipient), "-r", str(identity.recipient)],
                                input=data, capture_output=True, check=True).stdout
    plaintext, result = decrypt_bytes(ciphertext, identity)
    assert plaintext == data
    assert result.complete and result.plaintext_size == size and result.authenticated_size == len(ciphertext)
    assert decrypt_bytes(ciphertext, [Identity.generate(), other])[0] == data


def test_a_file_for_two_recipients_opens_with_either_identity_here_and_in_age(tmp_path):
    agency, escrow = Identity.generate(), Identity.generate()
    data = os.urandom(100_000)
    ciphertext = encrypt_bytes(data, [agency.recipient, escrow.recipient])
    for identity in (agency, escrow):
        assert decrypt_bytes(ciphertext, identity)[0] == data
        key = tmp_path / "key"
        key.write_text(identity.key_file_text())
        assert age_decrypt(key, ciphertext, tmp_path).stdout == data
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(ciphertext, Identity.generate())


def test_we_decrypt_with_an_age_keygen_identity_file(tmp_path):
    keygen, age = require_tool("age-keygen"), require_tool("age")
    subprocess.run([keygen, "-o", str(tmp_path / "k")], check=True, capture_output=True)
    data = os.urandom(200_000)
    ciphertext = subprocess.run([age, "-e", "-i", str(tmp_path / "k")], input=data, capture_output=True,
                                check=True).stdout  # encrypt to the identity's own recipient
    assert decrypt_bytes(ciphertext, Identity.parse_file((tmp_path / "k").read_text()))[0] == data


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3 * CHUNK), max_size=6))
def test_any_sequence_of_writes_round_trips(writes):
    identity = Identity.generate()
    data = random.Random(sum(writes)).randbytes(sum(writes) + 5)
    ciphertext, encryptor = encrypted(data, identity.recipient, writes)
    assert encryptor.ciphertext_sha256() == hashlib.sha256(ciphertext).hexdigest()
    assert encryptor.plaintext_sha256() == hashlib.sha256(data).hexdigest()
    expected_chunks = max(1, -(-len(data) // CHUNK))
    assert len(ciphertext) == encryptor.header_size + len(data) + 16 * expected_chunks
    assert decrypt_bytes(ciphertext, identity)[0] == data


# -- streaming: what reaches the sink, when ------------------------------------------------
def test_whole_chunks_leave_as_soon_as_they_are_known_not_to_be_the_last(identity):
    sink = io.BytesIO()
    encryptor = StreamEncryptor(sink, identity.recipient)
    header = len(sink.getvalue())
    assert header == encryptor.header_size
    assert encryptor.ciphertext_sha256() == hashlib.sha256(sink.getvalue()).hexdigest()
    encryptor.write(bytes(CHUNK))  # a full chunk may still be the final one: held
    assert (len(sink.getvalue()), encryptor.pending_size) == (header, CHUNK)
    encryptor.write(b"\x01")  # now it is not
    assert (len(sink.getvalue()), encryptor.pending_size, encryptor.chunks) == (header + SEALED_CHUNK, 1, 1)
    encryptor.write(bytes(3 * CHUNK))
    assert encryptor.pending_size == 1 and encryptor.chunks == 4
    assert encryptor.ciphertext_sha256() == hashlib.sha256(sink.getvalue()).hexdigest()
    encryptor.close()
    assert len(sink.getvalue()) == header + 4 * SEALED_CHUNK + 1 + 16
    with pytest.raises(ValueError):
        encryptor.write(b"late")


def test_a_sink_that_takes_part_of_each_write_still_gets_every_byte(identity):
    class Trickle(io.BytesIO):  # as a raw file may do
        def write(self, data):
            return super().write(bytes(data[:1000]))

    data = os.urandom(3 * CHUNK)
    sink = Trickle()
    encryptor = StreamEncryptor(sink, identity.recipient)
    encryptor.write(data)
    encryptor.close()
    assert decrypt_bytes(sink.getvalue(), identity)[0] == data
    assert encryptor.ciphertext_sha256() == hashlib.sha256(sink.getvalue()).hexdigest()


def test_align_puts_every_fragment_in_whole_chunks(identity, key_file, tmp_path):
    """Fragments of any size, a `free` box after each: after every align, all plaintext so
    far is in chunks on the sink, and a file cut there decrypts to exactly those fragments."""
    rng = random.Random(3)
    sink = io.BytesIO()
    encryptor = StreamEncryptor(sink, identity.recipient)
    plaintext, cuts = bytearray(), []
    for size in [1, 65528, 65529, 65536, 100_000, 3, 200_000, 0, 70_000]:
        fragment = rng.randbytes(size)
        encryptor.write(fragment)
        plaintext += fragment
        padding = encryptor.align()
        plaintext += free_box(padding) if padding else b""
        assert encryptor.pending_size == 0
        assert (encryptor.ciphertext_size - encryptor.header_size) % SEALED_CHUNK == 0
        assert encryptor.plaintext_size == len(plaintext) == encryptor.chunks * CHUNK
        cuts.append((len(sink.getvalue()), bytes(plaintext)))
    encryptor.close()  # right after an align: the final chunk is the smallest free box
    plaintext += free_box(8)
    ciphertext = sink.getvalue()
    assert age_decrypt(key_file, ciphertext, tmp_path).stdout == plaintext
    for cut, expected in cuts:
        got, result = decrypt_bytes(ciphertext[:cut], identity, allow_torn=True)
        assert got == expected and result.torn.where == "chunk boundary"
    assert plaintext.endswith(free_box(8))


# -- torn files ------------------------------------------------------------------------------
def expected_from_cut(cut: int, header_size: int, data: bytes) -> tuple[str | None, bytes]:
    """What an honest decryptor gives for the first `cut` bytes of our file of `data`."""
    if cut < header_size - 16:
        return "header", b""
    if cut < header_size:
        return "nonce", b""
    chunks, rest = divmod(cut - header_size, SEALED_CHUNK)
    total = -(-len(data) // CHUNK)
    if chunks == total or (chunks == total - 1 and rest == len(data) - chunks * CHUNK + 16):
        return None, data  # uncut
    return ("mid-chunk" if rest else "chunk boundary"), data[: chunks * CHUNK]


def test_a_torn_file_gives_exactly_its_whole_chunks_and_says_the_end_is_missing(identity):
    data = random.Random(11).randbytes(3 * CHUNK + 5000)
    ciphertext, encryptor = encrypted(data, identity.recipient)
    header = encryptor.header_size
    cuts = set(range(0, header + 40))  # every byte of the header and nonce, the first chunk's start
    for boundary in range(header, len(ciphertext) + 1, SEALED_CHUNK):
        cuts |= set(range(boundary - 3, min(boundary + 4, len(ciphertext) + 1)))
    cuts |= set(range(0, len(ciphertext), 997)) | {len(ciphertext) - 1, len(ciphertext)}
    for cut in sorted(cuts):
        where, expected = expected_from_cut(cut, header, data)
        plaintext, result = decrypt_bytes(ciphertext[:cut], identity, allow_torn=True)
        assert plaintext == expected, cut
        assert result.plaintext_size == len(expected)
        if where is None:
            assert result.complete
            continue
        assert not result.complete and result.torn.where == where, (cut, result)
        with pytest.raises(TornFileError, match="ends") as refused:
            decrypt_bytes(ciphertext[:cut], identity)
        assert refused.value.result == result


def test_what_age_does_with_a_torn_file(identity, key_file, tmp_path):
    """Measured (docs/ENCRYPTION.md): `age -d` writes every whole chunk it could authenticate,
    then fails (exit 1), at a chunk boundary with "unexpected EOF" and mid-chunk with the
    message it gives for an altered chunk. Its output is never more than ours."""
    data = random.Random(12).randbytes(3 * CHUNK + 5000)
    ciphertext, encryptor = encrypted(data, identity.recipient)
    header = encryptor.header_size
    for cut, message in [(header + SEALED_CHUNK, "unexpected EOF"), (header + 2 * SEALED_CHUNK, "unexpected EOF"),
                         (header + 2 * SEALED_CHUNK + 100, "failed to decrypt and authenticate payload chunk"),
                         (header - 3, "failed to read nonce")]:
        result = age_decrypt(key_file, ciphertext[:cut], tmp_path)
        assert result.returncode == 1 and message in result.stderr.decode()
        assert result.stdout == decrypt_bytes(ciphertext[:cut], identity, allow_torn=True)[0]


# -- tampering -------------------------------------------------------------------------------
def flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 1 << bit]) + data[offset + 1 :]


def test_a_flipped_bit_in_the_header_or_its_mac_is_refused(identity):
    data = os.urandom(2 * CHUNK + 10)
    ciphertext, encryptor = encrypted(data, identity.recipient)
    for offset in range(encryptor.header_size - 16):  # version line, stanza, MAC line
        for bit in (0, 5):
            altered = flip(ciphertext, offset, bit)
            with pytest.raises(AgeError):
                decrypt_bytes(altered, identity)
            try:
                plaintext, result = decrypt_bytes(altered, identity, allow_torn=True)
            except AgeError:
                continue
            assert plaintext == b"" and result.torn.where == "header"  # a newline lost: never data


def test_a_flipped_bit_in_any_chunk_is_refused(identity):
    data = os.urandom(3 * CHUNK + 10)
    ciphertext, encryptor = encrypted(data, identity.recipient)
    header = encryptor.header_size
    for chunk in range(3):
        for where in (0, 1000, SEALED_CHUNK - 1):  # ciphertext, and the tag
            with pytest.raises(PayloadError, match=f"chunk {chunk} does not authenticate"):
                decrypt_bytes(flip(ciphertext, header + chunk * SEALED_CHUNK + where), identity)
    altered = flip(ciphertext, len(ciphertext) - 5)  # the final chunk: its bytes never come out
    with pytest.raises(TornFileError, match="altered final chunk"):
        decrypt_bytes(altered, identity)
    assert decrypt_bytes(altered, identity, allow_torn=True)[0] == data[: 3 * CHUNK]
    with pytest.raises(PayloadError):  # the nonce: every chunk's key changes
        decrypt_bytes(flip(ciphertext, header - 1), identity)


def test_reordered_dropped_or_appended_chunks_are_refused(identity):
    data = os.urandom(3 * CHUNK + 10)
    ciphertext, encryptor = encrypted(data, identity.recipient)
    header = encryptor.header_size
    chunks = [ciphertext[header + i * SEALED_CHUNK : header + (i + 1) * SEALED_CHUNK] for i in range(4)]
    start = ciphertext[:header]
    for order in ([1, 0, 2, 3], [0, 2, 1, 3], [0, 2, 3], [3, 0, 1, 2]):
        with pytest.raises(PayloadError, match="does not authenticate"):
            decrypt_bytes(start + b"".join(chunks[i] for i in order), identity)
    # bytes after a short final chunk make it a piece that authenticates as nothing: refused,
    # and even when torn files are allowed, only the whole chunks before it come out
    appended = start + b"".join(chunks) + chunks[3]
    with pytest.raises(TornFileError, match="altered final chunk"):
        decrypt_bytes(appended, identity)
    assert decrypt_bytes(appended, identity, allow_torn=True)[0] == data[: 3 * CHUNK]
    full, _ = encrypted(bytes(4 * CHUNK), identity.recipient)  # its final chunk is a full one
    with pytest.raises(PayloadError, match="chunk 3 is marked final but data follows"):
        decrypt_bytes(full + b"x", identity)


def test_a_chunk_marked_last_early_is_refused(identity):
    sink = io.BytesIO()
    encryptor = StreamEncryptor(sink, identity.recipient)
    encryptor.write(bytes(CHUNK))
    encryptor.close()  # chunk 0, full, marked final
    encryptor.closed = False  # ... and the stream goes on: what an attacker would splice
    encryptor.write(bytes(100))
    encryptor.close()
    with pytest.raises(PayloadError, match="chunk 0 is marked final but data follows"):
        decrypt_bytes(sink.getvalue(), identity)


def test_a_file_for_someone_else_or_with_a_malformed_stanza_is_refused(identity):
    ciphertext = encrypt_bytes(b"evidence", Identity.generate().recipient)
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(ciphertext, identity)
    ours = encrypt_bytes(b"evidence", identity.recipient)
    lines = ours.split(b"\n")
    for altered in (ours.replace(b"-> X25519 ", b"-> X25519 extra ", 1),  # three arguments
                    b"\n".join([lines[0], lines[1] + b"=", *lines[2:]]),  # padded base64
                    b"\n".join([lines[0], lines[1], lines[2] + b"AAAA", *lines[3:]]),  # a 35-byte body
                    ours.replace(b"age-encryption.org/v1", b"age-encryption.org/v2", 1)):
        with pytest.raises(HeaderError):
            decrypt_bytes(altered, identity)
    low_order = b"\n".join([lines[0], b"-> X25519 " + b"A" * 43, *lines[2:]])  # the share is the identity point
    with pytest.raises(HeaderError, match="all zeros"):
        decrypt_bytes(low_order, identity)
    with pytest.raises(HeaderError, match="scrypt"):
        decrypt_bytes(b"\n".join([lines[0], b"-> scrypt " + b"A" * 22 + b" 10", b"A" * 43, *lines[1:]]), identity)
    other = b"\n".join([lines[0], b"-> example.com/other arg", b"", *lines[1:]])  # unknown stanzas are skipped ...
    with pytest.raises(HeaderError, match="MAC"):  # ... but the MAC covers them
        decrypt_bytes(other, identity)


# -- the recording path's design (docs/ENCRYPTION.md, stage 2), on a real fragmented MP4 -----
def frames_decoded(path) -> int:
    """Video frames ffprobe decodes, or -1 when it reports any error."""
    result = subprocess.run([require_tool("ffprobe"), "-v", "error", "-count_frames", "-select_streams",
                             "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                            capture_output=True, text=True)
    return int(result.stdout.strip()) if result.returncode == 0 and not result.stderr else -1


class EncryptingOutput(io.RawIOBase):
    """A file-like output for PyAV that feeds the encryptor (the stage-2 writer's sink)."""

    def __init__(self, encryptor: StreamEncryptor):
        self.encryptor, self.received = encryptor, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.received += data
        return self.encryptor.write(data)


def test_fragments_closed_with_free_boxes_play_and_a_cut_keeps_every_whole_fragment(identity, key_file, tmp_path):
    """The writer's way: PyAV muxes with the writer's options (plus skip_trailer: no `mfra`,
    whose offsets would not count the filler) into a file-like output that feeds the
    encryptor. Each fragment reaches it whole within one mux call; the writer then closes the
    chunk with a `free` box, so a power cut right after that fragment's sync keeps it whole.
    The decrypted file has the same fragments (our layout rules give each its filler), plays
    every frame, and a cut after any fragment decrypts to a file that plays exactly the
    fragments before it."""
    source = tmp_path / "source.mp4"
    subprocess.run([require_tool("ffmpeg"), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
                    "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "3", "-c:v", "libx264", "-preset", "veryfast",
                    "-g", "15", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(source)], check=True)
    sink = io.BytesIO()
    encryptor = StreamEncryptor(sink, identity.recipient)
    output = EncryptingOutput(encryptor)
    options = {**MP4_OPTIONS, "movflags": MP4_OPTIONS["movflags"] + "+skip_trailer"}
    cuts = []
    with av.open(str(source)) as demuxer, av.open(output, "w", format="mp4", options=options) as muxer:
        streams = {s.index: muxer.add_stream_from_template(s) for s in demuxer.streams}
        for packet in demuxer.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            before = len(output.received)
            muxer.mux(packet)
            if len(output.received) > before:  # a fragment was written: whole, ending with its mdat
                last = scan_boxes(bytes(output.received))[-1]
                assert last.kind == b"mdat" and last.offset + last.size == len(output.received)
                padding = encryptor.align()
                output.received += free_box(padding) if padding else b""
                cuts.append(len(sink.getvalue()))
    encryptor.close()
    assert len(cuts) == 5  # 6 fragments: the last one is written by the muxer's close
    result = age_decrypt(key_file, sink.getvalue(), tmp_path)
    plain = tmp_path / "decrypted.mp4"
    plain.write_bytes(result.stdout)
    assert len(layout_ranges(scan_boxes(result.stdout), len(result.stdout))["fragments"]) == 6
    assert frames_decoded(plain) == frames_decoded(source) == 90
    for number, cut in enumerate(cuts, 1):  # the power cut right after fragment `number` reached the disk
        recovered, outcome = decrypt_bytes(sink.getvalue()[:cut], identity, allow_torn=True)
        assert outcome.torn.where == "chunk boundary"
        plain.write_bytes(recovered)
        assert len(layout_ranges(scan_boxes(recovered), len(recovered))["fragments"]) == number
        assert frames_decoded(plain) == 15 * number
