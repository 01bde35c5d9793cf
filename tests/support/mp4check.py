"""An independent reader of the MP4 boxes a player looks at, written against ISO/IEC
14496-12 (ISO BMFF), ISO/IEC 14496-15 (avcC) and ISO/IEC 14496-3 (AudioSpecificConfig),
for tests: it shares nothing with the recorder's own BMFF code (recorder/evidence/bmff.py)
and does not use FFmpeg.

    info = read_mp4(path)
    info.tracks[1].tkhd_width, .sps_width, .mdhd_timescale, .fragment_samples, ...
"""

import struct
from dataclasses import dataclass, field

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts", b"dinf", b"udta"}
MAC_EPOCH_OFFSET = 2_082_844_800  # seconds from 1904-01-01 (MP4 time) to 1970-01-01


@dataclass
class Track:
    track_id: int = 0
    handler: str = ""
    tkhd_width: float = 0.0
    tkhd_height: float = 0.0
    mdhd_timescale: int = 0
    mdhd_duration: int = 0
    mdhd_creation: int = 0  # seconds since 1904
    codec: str = ""
    entry_width: int = 0  # the sample entry's width/height (VisualSampleEntry)
    entry_height: int = 0
    sps_width: int = 0  # the coded picture size the SPS describes, after cropping
    sps_height: int = 0
    sample_aspect: tuple[int, int] | None = None  # pasp, or the SPS VUI
    sample_rate: int = 0  # the sample entry's, and the decoder config's
    channels: int = 0
    config_sample_rate: int = 0
    config_channels: int = 0
    default_duration: int = 0  # trex
    fragment_samples: list[int] = field(default_factory=list)  # samples per fragment (trun)
    fragment_durations: list[int] = field(default_factory=list)  # media timescale ticks per fragment
    edit_media_time: int | None = None


@dataclass
class Mp4Info:
    mvhd_timescale: int = 0
    mvhd_creation: int = 0
    tracks: dict[int, Track] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def of(self, handler: str) -> Track:
        [track] = [t for t in self.tracks.values() if t.handler == handler]
        return track


def boxes(data: bytes, start: int, end: int):
    """(type, payload start, box end) of each box in data[start:end]."""
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            return
        yield kind, offset + header, offset + size
        offset += size


def read_mp4(path) -> Mp4Info:
    with open(path, "rb") as f:
        data = f.read()
    info = Mp4Info()
    _walk(data, 0, len(data), info, None, [])
    return info


def _walk(data, start, end, info, track, path):
    for kind, body, box_end in boxes(data, start, end):
        if kind == b"trak":
            track = Track()
        if kind in CONTAINERS:
            child_track = _traf_track(data, body, box_end, info) if kind == b"traf" else track
            _walk(data, body, box_end, info, child_track, path + [kind])
            if kind == b"trak":
                info.tracks[track.track_id] = track
            continue
        handler = PARSERS.get(kind)
        if handler is not None:
            handler(data, body, box_end, info, track)


def _full(data, offset) -> tuple[int, int]:
    version_flags = struct.unpack_from(">I", data, offset)[0]
    return version_flags >> 24, version_flags & 0xFFFFFF


def _mvhd(data, at, end, info, track):
    version, _ = _full(data, at)
    if version == 1:
        info.mvhd_creation, _, info.mvhd_timescale = struct.unpack_from(">QQI", data, at + 4)
    else:
        info.mvhd_creation, _, info.mvhd_timescale = struct.unpack_from(">III", data, at + 4)


def _tkhd(data, at, end, info, track):
    version, _ = _full(data, at)
    fixed = 4 + (32 if version == 1 else 20)  # times, track_ID, reserved, duration
    track.track_id = struct.unpack_from(">I", data, at + 4 + (16 if version == 1 else 8))[0]
    width_at = at + fixed + 8 + 2 + 2 + 2 + 2 + 36  # reserved, layer, group, volume, reserved, matrix
    width, height = struct.unpack_from(">II", data, width_at)
    track.tkhd_width, track.tkhd_height = width / 65536, height / 65536


def _mdhd(data, at, end, info, track):
    version, _ = _full(data, at)
    if version == 1:
        track.mdhd_creation, _, track.mdhd_timescale, track.mdhd_duration = struct.unpack_from(">QQIQ", data, at + 4)
    else:
        track.mdhd_creation, _, track.mdhd_timescale, track.mdhd_duration = struct.unpack_from(">IIII", data, at + 4)


def _hdlr(data, at, end, info, track):
    if track is not None:
        track.handler = data[at + 8 : at + 12].decode("ascii", "replace")


def _elst(data, at, end, info, track):
    version, _ = _full(data, at)
    count = struct.unpack_from(">I", data, at + 4)[0]
    offset = at + 8
    for _ in range(count):
        if version == 1:
            _, media_time = struct.unpack_from(">Qq", data, offset)
            offset += 20
        else:
            _, media_time = struct.unpack_from(">Ii", data, offset)
            offset += 12
        if media_time >= 0:
            track.edit_media_time = media_time


def _stsd(data, at, end, info, track):
    for kind, body, box_end in boxes(data, at + 8, end):  # version/flags, entry count
        track.codec = kind.decode("ascii", "replace")
        if kind in (b"avc1", b"avc3"):
            track.entry_width, track.entry_height = struct.unpack_from(">HH", data, body + 24)
            for child, child_body, child_end in boxes(data, body + 78, box_end):
                if child == b"avcC":
                    _avcc(data[child_body:child_end], track)
                elif child == b"pasp":
                    track.sample_aspect = struct.unpack_from(">II", data, child_body)
        elif kind in (b"mp4a", b"Opus"):
            track.channels, _ = struct.unpack_from(">HH", data, body + 16)
            track.sample_rate = struct.unpack_from(">I", data, body + 24)[0] >> 16
            for child, child_body, child_end in boxes(data, body + 28, box_end):
                if child == b"esds":
                    _esds(data[child_body + 4 : child_end], track)
                elif child == b"dOps":
                    track.config_channels = data[child_body + 1]
                    track.config_sample_rate = struct.unpack_from(">I", data, child_body + 4)[0]


def _trex(data, at, end, info, track):
    track_id, _, duration = struct.unpack_from(">III", data, at + 4)
    if track_id in info.tracks:
        info.tracks[track_id].default_duration = duration


def _traf_track(data, start, end, info) -> Track | None:
    for kind, body, _ in boxes(data, start, end):
        if kind == b"tfhd":
            track_id = struct.unpack_from(">I", data, body + 4)[0]
            track = info.tracks.get(track_id)
            if track is not None:
                track._tfhd_duration = None
                _, flags = _full(data, body)
                offset = body + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
                if flags & 0x8:
                    track._tfhd_duration = struct.unpack_from(">I", data, offset)[0]
            return track
    return None


def _trun(data, at, end, info, track):
    if track is None:
        return
    _, flags = _full(data, at)
    count = struct.unpack_from(">I", data, at + 4)[0]
    offset = at + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
    per_sample = sum(4 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    default = getattr(track, "_tfhd_duration", None) or track.default_duration
    total = 0
    for i in range(count):
        if flags & 0x100:
            total += struct.unpack_from(">I", data, offset + i * per_sample)[0]
        else:
            total += default
    track.fragment_samples.append(count)
    track.fragment_durations.append(total)


def _meta_keys(data, at, end, info, track):
    """iTunes-style metadata (udta/meta/ilst): ©nam, ©too, … -> text."""
    for kind, body, box_end in boxes(data, at + 4, end):  # meta is a FullBox
        if kind == b"ilst":
            for item, item_body, item_end in boxes(data, body, box_end):
                for child, child_body, child_end in boxes(data, item_body, item_end):
                    if child == b"data":
                        info.metadata[item.decode("latin-1")] = data[child_body + 8 : child_end].decode("utf-8", "replace")


PARSERS = {
    b"mvhd": _mvhd, b"tkhd": _tkhd, b"mdhd": _mdhd, b"hdlr": _hdlr, b"elst": _elst,
    b"stsd": _stsd, b"trex": _trex, b"trun": _trun, b"meta": _meta_keys,
}


# -- H.264 parameter sets (ISO/IEC 14496-15 avcC, ITU-T H.264 7.3.2.1.1) ---------------------

def _avcc(config: bytes, track: Track):
    sps_count = config[5] & 0x1F
    if sps_count:
        length = struct.unpack_from(">H", config, 6)[0]
        _sps(config[8 : 8 + length], track)


class _Bits:
    def __init__(self, rbsp: bytes):
        self.data, self.pos = rbsp, 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value % 2 else -(value // 2)


def _unescape(nal: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    out, zeros = bytearray(), 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _sps(nal: bytes, track: Track):
    b = _Bits(_unescape(nal[1:]))  # skip the NAL header
    profile = b.bits(8)
    b.bits(16)  # constraint flags, level
    b.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma_format = b.ue()
        if chroma_format == 3:
            b.bit()
        b.ue(), b.ue(), b.bit()  # bit depths, qpprime
        if b.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format != 3 else 12):
                if b.bit():
                    last, next_ = 8, 8
                    for _ in range(16 if i < 6 else 64):
                        if next_:
                            next_ = (last + b.se() + 256) % 256
                        last = next_ or last
    b.ue()  # log2_max_frame_num_minus4
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()
    elif poc_type == 1:
        b.bit(), b.se(), b.se()
        for _ in range(b.ue()):
            b.se()
    b.ue(), b.bit()  # max_num_ref_frames, gaps
    width_mbs, height_units = b.ue() + 1, b.ue() + 1
    frame_mbs_only = b.bit()
    if not frame_mbs_only:
        b.bit()
    b.bit()  # direct_8x8_inference
    crop = (0, 0, 0, 0)
    if b.bit():
        crop = (b.ue(), b.ue(), b.ue(), b.ue())
    sub_width, sub_height = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}[chroma_format]
    crop_x = 1 if chroma_format == 0 else sub_width
    crop_y = (2 - frame_mbs_only) * (1 if chroma_format == 0 else sub_height)
    track.sps_width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    track.sps_height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (crop[2] + crop[3])
    if b.bit() and b.bit():  # vui_parameters_present, aspect_ratio_info_present
        idc = b.bits(8)
        table = {1: (1, 1), 2: (12, 11), 3: (10, 11), 4: (16, 11), 5: (40, 33), 6: (24, 11), 7: (20, 11),
                 8: (32, 11), 9: (80, 33), 10: (18, 11), 11: (15, 11), 12: (64, 33), 13: (160, 99),
                 14: (4, 3), 15: (3, 2), 16: (2, 1)}
        sar = (b.bits(16), b.bits(16)) if idc == 255 else table.get(idc)
        if track.sample_aspect is None and sar:
            track.sample_aspect = sar


# -- AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1), inside esds (14496-1) -------------------

FREQUENCIES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]


def _esds(descriptors: bytes, track: Track):
    """Find DecoderSpecificInfo (tag 5) in the descriptor tree and read its sample rate and
    channel configuration."""
    offset = 0
    while offset < len(descriptors):
        tag = descriptors[offset]
        offset += 1
        length = 0
        for _ in range(4):
            byte = descriptors[offset]
            offset += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        if tag == 3:  # ES_Descriptor: ES_ID, flags, then nested descriptors
            flags = descriptors[offset + 2]
            offset += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                offset += 1 + descriptors[offset]
            continue
        if tag == 4:  # DecoderConfigDescriptor: 13 bytes, then nested
            offset += 13
            continue
        if tag == 5:
            b = _Bits(descriptors[offset : offset + length])
            object_type = b.bits(5)
            if object_type == 31:
                b.bits(6)
            index = b.bits(4)
            track.config_sample_rate = b.bits(24) if index == 15 else FREQUENCIES[index]
            track.config_channels = b.bits(4)
            return
        offset += length
