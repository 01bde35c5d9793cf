"""The OpenCV source on a real video file (made with PyAV from synthetic camera frames, so
every recorded frame says which file frame it is): paced, contiguous, watermarked."""

from fractions import Fraction

import av

from media import frame_indices, manifest_of, segments_of
from recorder.capture.opencv_source import OpenCVSource
from recorder.capture.osd import overlay_correlation
from recorder.capture.select import make_watermark
from recorder.capture.synthetic import SyntheticCamera
from recorder.config import config_from_dict
from recorder.evidence.verifier import verify_store
from support.live_agent import record_live
from test_container import check_segment
from test_osd import decoded_lumas, watermark_for

W, H, FPS = 320, 240, 30


def video_file(path, frames: int):
    camera = SyntheticCamera(W, H)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(camera.frame(index), format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def opencv_config(path):
    return config_from_dict({
        "video": {"width": W, "height": H, "fps": FPS, "bitrate": 600_000},
        "audio": {"enabled": False},
        "segments": {"seconds": 30},
        "prerecord": {"seconds": 1},
        "capture": {"camera": "opencv", "camera_device": str(path)},
    })


def opencv_sources(config, device_id):
    source = OpenCVSource(config.video, config.capture.camera_device, make_watermark(config, device_id))
    return source, None


def recorded_indices(store):
    return [i for segment in segments_of(store) for i in frame_indices(segment)]


def test_video_file_frames_are_recorded_contiguously_with_the_osd(tmp_path):
    path = video_file(tmp_path / "scene.mp4", 4 * FPS)
    store = tmp_path / "store"
    config = opencv_config(path)
    run = record_live(config, store, opencv_sources, prerecord_s=0.5, record_s=2.0)
    assert run.error is None
    for segment in segments_of(store):
        check_segment(segment, config)  # the track header states the true size
    assert run.body.camera.counters["frame_gaps"] == 0
    assert verify_store(store).ok
    indices = recorded_indices(store)
    assert None not in indices
    assert indices == list(range(indices[0], indices[0] + len(indices))), "a file frame was lost or repeated"
    # Paced at the configured rate: ~2.5 s of the file by the stop, not the whole file at once.
    assert 2.0 * FPS <= indices[-1] < 3.5 * FPS
    for segment in segments_of(store):
        manifest = manifest_of(segment)
        watermark = watermark_for(manifest, simulated=False)  # a camera (here a file), not synthetic
        for offset, luma in enumerate(decoded_lumas(segment)):
            wall = manifest["start"]["wall_us"] * 1000 + offset * 1_000_000_000 // FPS
            assert overlay_correlation(luma, watermark, wall) > 0.9


def test_end_of_the_file_is_a_clear_error_and_what_was_recorded_verifies(tmp_path):
    path = video_file(tmp_path / "short.mp4", FPS)  # one second
    store = tmp_path / "store"
    run = record_live(opencv_config(path), store, opencv_sources, prerecord_s=0.2, record_s=3.0)
    assert run.error is not None and "opencv: video file ended after 30 frames" in str(run.error)
    assert verify_store(store).ok
    indices = recorded_indices(store)
    assert indices[-1] == FPS - 1 and indices == list(range(indices[0], FPS))


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a video")
    config = opencv_config(path)
    run = record_live(config, tmp_path / "store", opencv_sources)
    assert "opencv: cannot open video file" in str(run.error)
    assert run.sessions == [] and not segments_of(tmp_path / "store")
