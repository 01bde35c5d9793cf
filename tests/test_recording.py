"""A real recording on the simulated body, decoded and checked frame by frame, sample by sample.

The recording (conftest.recorded_store): launch, pre-record fills for 5 s, press at 5 s,
record 10 s, stop at 15 s; 3 s pre-record, 4 s segments, 30 fps, GOP 1 s.
"""

import subprocess

import numpy as np
import pytest

from conftest import require_tool
from media import decoded_audio, frame_indices, locate, manifest_of, segments_of, stream_durations

FPS = 30
PRESS_FRAME, STOP_FRAME = 5 * FPS, 15 * FPS  # frames are stamped at index / 30 s after launch
PRERECORD_S, GOP_S = 3, 1
SAMPLES_PER_FRAME = 48_000 // FPS


def test_at_least_three_sealed_segments(recorded_store):
    segments = segments_of(recorded_store)
    assert len(segments) >= 3
    assert not list(recorded_store.glob("media/*/*.partial"))


def test_frames_contiguous_from_first_prerecord_frame_to_stop(recorded_store):
    indices = [i for seg in segments_of(recorded_store) for i in frame_indices(seg)]
    assert None not in indices, "a frame's code did not read back"
    assert indices == list(range(indices[0], indices[0] + len(indices))), "lost or repeated frame"
    assert indices[-1] == STOP_FRAME - 1, "the last frame before the stop must be recorded"
    span_s = (PRESS_FRAME - indices[0]) / FPS
    assert PRERECORD_S <= span_s < PRERECORD_S + GOP_S


def test_manifest_prerecord_span_matches_decoded_frames(recorded_store):
    first = segments_of(recorded_store)[0]
    span_frames = PRESS_FRAME - frame_indices(first)[0]
    assert manifest_of(first)["prerecord"]["span_us"] == pytest.approx(span_frames * 1e6 / FPS, abs=1)


@pytest.mark.parametrize("which", ["recorded_store", "private_store"])
def test_each_segment_starts_on_keyframe_and_manifest_counts_frames(which, request):
    store = request.getfixturevalue(which)
    for seg in segments_of(store):
        indices = frame_indices(seg)
        assert indices[0] % (GOP_S * FPS) == 0, "segment must start on a GOP boundary"
        assert manifest_of(seg)["video"]["frames"] == len(indices)


def test_audio_and_video_durations_agree_within_one_frame(recorded_store):
    for seg in segments_of(recorded_store):
        durations = stream_durations(seg)
        assert abs(durations["audio"] - durations["video"]) <= 1 / FPS, (seg.name, durations)


def test_audio_is_the_microphone_signal_at_the_right_sample_position(recorded_store):
    """Locate stretches of decoded audio in the synthetic microphone's signal: each must sit
    exactly where the video frames say that moment is (one clock for both)."""
    for seg in segments_of(recorded_store):
        first_frame = frame_indices(seg)[0]
        decoded, audio_start = decoded_audio(seg)
        assert 0 <= audio_start < 1024, "audio starts with the segment's first frame"
        for offset in (2048, len(decoded) // 2, len(decoded) - 8192):
            expected = first_frame * SAMPLES_PER_FRAME + audio_start + offset
            found, score = locate(decoded[offset:], expected)
            assert score > 0.5, f"{seg.name}@{offset}: audio does not match the microphone"
            assert abs(found - expected) <= 2, f"{seg.name}@{offset}: off by {found - expected}"


def test_audio_continuous_across_segment_boundaries(recorded_store):
    segments = segments_of(recorded_store)
    for before, after in zip(segments, segments[1:]):
        samples, start = decoded_audio(before)
        end_of_before = frame_indices(before)[0] * SAMPLES_PER_FRAME + start + len(samples)
        start_of_after = frame_indices(after)[0] * SAMPLES_PER_FRAME + decoded_audio(after)[1]
        # Each packet goes to exactly one segment: the next one picks up where this ended.
        assert end_of_before == start_of_after


def test_without_prerecord_audio_sound_starts_at_the_press(private_store):
    """The pre-record is kept as video-only segments (its own fragments, so a power cut
    cannot take it all); the sound starts at the press, in the segment after."""
    segments = segments_of(private_store)
    with_sound = [s for s in segments if manifest_of(s)["audio"] is not None]
    pre_record = segments[: segments.index(with_sound[0])]
    assert pre_record, "the pre-record is a segment of its own"
    for segment in pre_record:
        assert len(decoded_audio(segment)[0]) == 0
        assert frame_indices(segment)[-1] < PRESS_FRAME
    first = with_sound[0]
    first_frame = frame_indices(first)[0]
    assert first_frame <= PRESS_FRAME < first_frame + GOP_S * FPS, "it starts with the GOP of the press"
    _, audio_start = decoded_audio(first)
    recorded_from = first_frame * SAMPLES_PER_FRAME + audio_start
    press_sample = PRESS_FRAME * SAMPLES_PER_FRAME
    assert 0 <= recorded_from - press_sample < 1024, "sound must start at the press, not before"
    assert manifest_of(segments[0])["prerecord"]["audio"] is False


def test_every_segment_plays_in_stock_ffmpeg(recorded_store):
    ffprobe, ffmpeg = require_tool("ffprobe"), require_tool("ffmpeg")
    for seg in segments_of(recorded_store):
        probe = subprocess.run(
            [ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
             "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(seg)],
            capture_output=True, text=True, check=True,
        )
        assert probe.stderr == ""
        assert int(probe.stdout.strip()) == manifest_of(seg)["video"]["frames"]
        decode = subprocess.run(
            [ffmpeg, "-v", "error", "-xerror", "-i", str(seg), "-f", "null", "-"],
            capture_output=True, text=True,
        )
        assert decode.returncode == 0 and decode.stderr == "", decode.stderr


def test_segments_are_time_contiguous_in_manifests(recorded_store):
    manifests = [manifest_of(seg) for seg in segments_of(recorded_store)]
    for before, after in zip(manifests, manifests[1:]):
        assert before["end"]["mono_us"] == after["start"]["mono_us"]
    assert [m["seq"] for m in manifests] == list(range(1, len(manifests) + 1))
    assert np.all([m["file"]["size"] > 0 for m in manifests])
