"""What an independent MP4 reader sees in a sealed segment (issue: the track header said
640x480 for 1280x720 video). Two readers that share nothing with the recorder's own BMFF
code: a parser of tkhd/stsd/avcC/esds/trun written against ISO/IEC 14496-12/-14/-15
(tests/support/mp4check.py), and Debian's mediainfo."""

import json
import subprocess

import pytest

from conftest import require_tool
from media import manifest_of, segments_of
from recorder.clock import SimulatedClock
from recorder.config import config_from_dict
from recorder.sim.agent import SimulatedAgent
from recorder.sim.script import parse_timeline
from support.mp4check import read_mp4


def record(store, width, height, codec="aac", seconds=2):
    config = config_from_dict({
        "video": {"width": width, "height": height, "bitrate": 1_000_000, "preset": "ultrafast"},
        "audio": {"codec": codec},
        "prerecord": {"seconds": 1},
        "segments": {"seconds": 60},
    })
    SimulatedAgent(config, store, SimulatedClock()).play(parse_timeline(f"start @1s; stop @{1 + seconds}s"))
    return config


def check_segment(path, config):
    """Every header a player may honour states the configured picture and sound."""
    info = read_mp4(path)
    video = info.of("vide")
    size = (config.video.width, config.video.height)
    assert (video.sps_width, video.sps_height) == size, "the coded picture"
    assert (video.tkhd_width, video.tkhd_height) == size, "the track header: the presentation size"
    assert (video.entry_width, video.entry_height) == size, "the sample entry"
    assert video.sample_aspect in (None, (1, 1)), "square pixels"
    # The fragments' sample durations add up to the sealed duration (the mdhd of a
    # fragmented file is empty; the trun boxes carry the timing).
    manifest = manifest_of(path)
    frames = sum(video.fragment_samples)
    assert frames == manifest["video"]["frames"]
    assert sum(video.fragment_durations) * 1_000_000 // video.mdhd_timescale == pytest.approx(
        manifest["duration_us"], abs=1_000_000 // video.mdhd_timescale + 1)
    if manifest["audio"] is None:
        assert [t.handler for t in info.tracks.values()] == ["vide"]
        return info
    audio = info.of("soun")
    assert (audio.config_sample_rate, audio.config_channels) == (config.audio.sample_rate, config.audio.channels)
    assert (audio.sample_rate, audio.channels) == (config.audio.sample_rate, config.audio.channels)
    assert sum(audio.fragment_samples) == manifest["audio"]["packets"]
    return info


@pytest.mark.parametrize("width, height", [(1280, 720), (1920, 1080), (1296, 972)])
def test_track_headers_state_the_true_picture_size(tmp_path, width, height):
    config = record(tmp_path / "store", width, height)
    pre_record, recorded = segments_of(tmp_path / "store")  # the pre-record has no sound
    assert [t.handler for t in check_segment(pre_record, config).tracks.values()] == ["vide"]
    check_segment(recorded, config)


def test_opus_segments_too(tmp_path):
    config = record(tmp_path / "store", 320, 240, codec="opus")
    segment = segments_of(tmp_path / "store")[-1]
    info = check_segment(segment, config)
    assert info.of("soun").codec == "Opus"


def test_mediainfo_reads_the_same(tmp_path):
    mediainfo = require_tool("mediainfo")
    config = record(tmp_path / "store", 1280, 720)
    segment = segments_of(tmp_path / "store")[-1]
    tracks = json.loads(subprocess.run([mediainfo, "--Output=JSON", str(segment)], capture_output=True,
                                       text=True, check=True).stdout)["media"]["track"]
    video = next(t for t in tracks if t["@type"] == "Video")
    audio = next(t for t in tracks if t["@type"] == "Audio")
    assert (video["Width"], video["Height"]) == ("1280", "720")
    assert "Original_Width" not in video and "Sampled_Width" in video and video["Sampled_Width"] == "1280"
    assert float(video.get("PixelAspectRatio", "1")) == 1.0
    assert (audio["SamplingRate"], audio["Channels"]) == (str(config.audio.sample_rate), "1")
