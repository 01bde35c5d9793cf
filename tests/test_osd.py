"""The OSD watermark in recorded frames: rendered for the frame's own second, found in the
decoded pictures by correlation with the expected overlay (no OCR needed); the officer's
name in Chinese, the device id in its own case, characters the font lacks shown, an
unusable font a start-up error."""

import json
import logging
import time

import av
import numpy as np
import pytest

from conftest import record, recorder, write_config
from media import manifest_of, segments_of
from recorder.capture.osd import Watermark, osd_lines, overlay_correlation

FPS = 30
DEVICE_LINE, OFFICER_LINE = 1, 2  # osd_lines: time, device id, officer id


def decoded_lumas(segment):
    with av.open(str(segment)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray()[: frame.height]


def lines_of(manifest, officer=None, device_id=None, simulated=True):
    """The identity lines of a segment's OSD (the block is anchored bottom-left: the position
    and clock lines above them do not move them)."""
    return osd_lines(device_id or manifest["device_id"], officer or manifest["officer_id"], simulated)


def watermark_for(manifest, simulated: bool = True) -> Watermark:
    """The OSD a segment should show; the simulated body's says SIMULATED."""
    video = manifest["video"]
    return Watermark(video["width"], video["height"], lines_of(manifest, simulated=simulated))


def frame_wall_ns(manifest, index: int) -> int:
    """Simulated frames are exactly 1/fps apart from the segment's first frame."""
    return manifest["start"]["wall_us"] * 1000 + index * 1_000_000_000 // FPS


def test_every_recorded_frame_shows_the_osd_of_its_own_second(recorded_store):
    for segment in segments_of(recorded_store):
        manifest = manifest_of(segment)
        watermark = watermark_for(manifest)
        for index, luma in enumerate(decoded_lumas(segment)):
            wall = frame_wall_ns(manifest, index)
            score = overlay_correlation(luma, watermark, wall)
            assert score > 0.9, f"{segment.name} frame {index}: OSD correlation {score:.2f}"
            # The time digits are those of this frame's second, not a neighbour's.
            for other in (wall - 1_000_000_000, wall + 1_000_000_000):
                assert overlay_correlation(luma, watermark, other) < score


def test_osd_can_be_switched_off(tmp_path):
    store = record(tmp_path, start_at=1, duration=2, extra="[osd]\nenabled = false\n")
    segment = segments_of(store)[0]
    manifest = manifest_of(segment)
    watermark = watermark_for(manifest)
    for index, luma in enumerate(decoded_lumas(segment)):
        assert overlay_correlation(luma, watermark, frame_wall_ns(manifest, index)) < 0.5


def test_the_overlay_is_rendered_once_a_second():
    calls = []

    def lines(wall_ns):
        calls.append(wall_ns)
        return ["2026-11-29 08:00:00 +0800", "ID rec-0123456789abcdef", "# 12345"]

    watermark = Watermark(1280, 720, lines)
    luma = np.zeros((720, 1280), dtype=np.uint8)
    for frame in range(90):  # three seconds at 30 fps
        watermark.burn_luma(luma, 5_000_000_000 + frame * 1_000_000_000 // 30)
    assert len(calls) == 3


@pytest.mark.parametrize("width, height", [(320, 240), (1280, 720), (1920, 1080), (64, 48)])
def test_bgr_and_luma_burns_agree_and_stay_inside_the_frame(width, height):
    watermark = Watermark(width, height, osd_lines("rec-0123456789abcdef", "officer-7"))
    wall = 1_795_977_000_000_000_000
    luma = np.full((height, width), 128, dtype=np.uint8)
    bgr = np.full((height, width, 3), 128, dtype=np.uint8)
    watermark.burn_luma(luma, wall)
    watermark.burn_bgr(bgr, wall)
    ov = watermark.overlay(wall)
    h, w = ov.mask.shape
    assert 0 <= ov.top and ov.top + h <= height and 0 <= ov.left and ov.left + w <= width
    written = np.zeros((height, width), dtype=bool)
    written[ov.top : ov.top + h, ov.left : ov.left + w] = ov.mask
    assert written.any()
    assert (luma[~written] == 128).all() and (bgr[~written] == 128).all()  # nothing else touched
    # White anti-aliased text on its black edge, the same picture in both: a grey BGR value v
    # is luma 16 + 219 v / 255.
    assert luma[written].min() == 16 and 230 <= luma[written].max() <= 235
    assert (bgr[written] == bgr[written][:, :1]).all()
    assert np.abs(16 + bgr[written][:, 0].astype(int) * 219 / 255 - luma[written]).max() <= 0.5
    assert overlay_correlation(luma, watermark, wall) > 0.99


def test_the_text_is_24_hour_local_time_with_its_offset_and_the_ids_as_given(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        lines = osd_lines("rec-0a1B2c", "张伟")(1_795_953_600_000_000_000)  # 2026-11-29 12:00:00 UTC
    finally:
        monkeypatch.undo()
        time.tzset()
    assert lines == ["2026-11-29 20:00:00 +0800", "ID rec-0a1B2c", "# 张伟"]


CHINESE_CONFIG = """
[device]
officer_id = "张伟"
[video]
width = {width}
height = {height}
[segments]
seconds = 2
[prerecord]
seconds = 1
[gnss]
receiver = "none"
"""


@pytest.fixture(scope="module", params=[(1280, 720), (1920, 1080)], ids=["720p", "1080p"])
def chinese_officer_store(request, tmp_path_factory):
    """A recording by the real CLI on the simulated body, officer 张伟, at 720p and 1080p."""
    directory = tmp_path_factory.mktemp(f"zhang-wei-{request.param[1]}p")
    config = directory / "recorder.toml"
    config.write_text(CHINESE_CONFIG.format(width=request.param[0], height=request.param[1]), encoding="utf-8")
    recorder("run", "--simulate", "--fast", "--config", config, "--store", directory / "store",
             "--start-at", 1, "--duration", 3)
    return directory / "store"


def sampled_frames(store, every: int = 20):
    """(manifest, wall time, Y plane) of every `every`-th decoded frame of each segment."""
    for segment in segments_of(store):
        manifest = manifest_of(segment)
        for index, luma in enumerate(decoded_lumas(segment)):
            if index % every == 0:
                yield manifest, frame_wall_ns(manifest, index), luma


def test_an_officer_named_in_chinese_is_legible_in_the_decoded_frames(chinese_officer_store):
    """The officer line of each decoded frame against renderings of 张伟 and of other names:
    its own name scores ~1; a different name, one sharing a character, and the boxes a font
    without Chinese glyphs would draw all score clearly lower."""
    checked = 0
    for manifest, wall, luma in sampled_frames(chinese_officer_store):
        assert manifest["officer_id"] == "张伟"
        video = manifest["video"]

        def score(officer: str) -> float:
            watermark = Watermark(video["width"], video["height"], lines_of(manifest, officer=officer))
            return overlay_correlation(luma, watermark, wall, line=OFFICER_LINE)

        own = score("张伟")
        others = {name: score(name) for name in ("李娜", "王伟", "□□")}
        print(f"{video['height']}p: 张伟 {own:.3f}, " + ", ".join(f"{k} {v:.3f}" for k, v in others.items()))
        assert own > 0.95
        for name, other in others.items():
            assert other < 0.8 and other < own - 0.2, f"{name} scores {other:.3f} against 张伟 {own:.3f}"
        checked += 1
    assert checked >= 4


def test_the_device_id_keeps_its_case_in_the_decoded_frames(chinese_officer_store):
    for manifest, wall, luma in sampled_frames(chinese_officer_store, every=60):
        device_id, video = manifest["device_id"], manifest["video"]
        assert device_id.startswith("rec-") and device_id != device_id.upper()

        def score(shown_id: str) -> float:
            watermark = Watermark(video["width"], video["height"], lines_of(manifest, device_id=shown_id))
            return overlay_correlation(luma, watermark, wall, line=DEVICE_LINE)

        own, upper = score(device_id), score(device_id.upper())
        print(f"{video['height']}p: {device_id} {own:.3f}, upper-cased {upper:.3f}")
        assert own > 0.95 and upper < 0.6


@pytest.mark.parametrize("missing", ["\u0800", "\U0001F600", "\u200b"], ids=["samaritan", "emoji", "zero-width"])
def test_a_character_the_font_lacks_is_drawn_as_a_replacement_and_logged_once(missing, caplog):
    def watermark(text: str) -> Watermark:
        return Watermark(1280, 720, lambda wall_ns: [f"# {text}"])

    shown = watermark(f"张{missing}伟")
    assert not shown.font.has(missing) and shown.font.has("张") and shown.font.has("伟")
    with caplog.at_level(logging.WARNING, logger="recorder.capture.osd"):
        for second in range(3):  # three renders, one warning
            drawn = shown.overlay(second * 1_000_000_000)
    warnings = [r.getMessage() for r in caplog.records if f"U+{ord(missing):04X}" in r.getMessage()]
    assert len(warnings) == 1, caplog.records
    replacement = shown.font.replacement
    assert replacement == "\u25a1"  # □: WenQuanYi Zen Hei has no U+FFFD
    replaced = watermark(f"张{replacement}伟").overlay(0)
    assert np.array_equal(drawn.mask, replaced.mask) and np.array_equal(drawn.luma, replaced.luma)
    # Neither dropped nor blank: the replacement takes a character's place and has ink.
    dropped, blank = watermark("张伟").overlay(0), watermark("张 伟").overlay(0)
    assert drawn.mask.shape[1] > dropped.mask.shape[1]
    assert drawn.mask.sum() > blank.mask.sum()


@pytest.mark.parametrize("problem", ["missing", "not a font"])
def test_an_unusable_font_stops_the_agent_at_start_up_naming_the_setting(tmp_path, problem):
    font = tmp_path / "font.ttc"
    if problem == "not a font":
        font.write_bytes(b"no font in here" * 100)
    config = write_config(tmp_path, extra=f'[osd]\nfont = "{font}"\n')
    result = recorder("run", "--simulate", "--fast", "--config", config, "--store", tmp_path / "store",
                      "--duration", 2, check=False)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("recorder: error: osd.font = ") and str(font) in line
    if problem == "missing":
        assert "fonts-wqy-zenhei" in line
    assert segments_of(tmp_path / "store") == []  # stopped before recording anything


def test_a_simulated_recording_says_so_in_verify_status_and_the_picture(recorded_store):
    """Pictures from the simulated body can never pass for a camera's: the ledger, verify,
    status and every frame (模拟 SIMULATED, the OSD's last line) say what they are."""
    report = json.loads(recorder("verify", recorded_store, "--json").stdout)
    assert [s["simulated"] for s in report["sessions"]] == [True]
    assert "SIMULATED" in recorder("verify", recorded_store).stdout
    status = recorder("status", "--store", recorded_store, "--json")
    assert json.loads(status.stdout)["simulated_sessions"] == 1
    assert "SIMULATED" in status.stderr
    simulated_line = 3  # after time, device id, officer id
    segment = segments_of(recorded_store)[0]
    manifest = manifest_of(segment)
    video = manifest["video"]
    luma = next(decoded_lumas(segment))
    wall = frame_wall_ns(manifest, 0)

    def score(lines_for_second) -> float:
        watermark = Watermark(video["width"], video["height"], lines_for_second)
        return overlay_correlation(luma, watermark, wall, line=simulated_line)

    said = score(lines_of(manifest))
    other = score(lambda wall_ns: [*lines_of(manifest, simulated=False)(wall_ns), "现场 CAMERA0001"])
    print(f"SIMULATED line: {said:.3f}, another text there: {other:.3f}")
    assert said > 0.95 and other < 0.8


def test_the_position_and_the_clock_source_are_in_the_picture(tmp_path):
    """With the simulated sky through gpsd: before the first fix the OSD says 无定位 NO FIX;
    then each second shows the position of the track's sample (within a second of it) and
    the clock's source. Compared line by line with renderings of the expected text."""
    from conftest import require_tool
    from recorder.capture.osd import NO_FIX_LINE, clock_line, position_line

    require_tool("gpsd")
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('receiver = "none"', 'receiver = "gpsd"'))
    store = tmp_path / "store"
    recorder("run", "--simulate", "--fast", "--config", config, "--store", store,
             "--script", "start @1s; walk 31.2320,121.4760 10s @2s; stop @12s")
    seen_no_fix = seen_position = seen_gnss = 0
    manifests = [manifest_of(segment) for segment in segments_of(store)]
    all_points = [p for m in manifests for p in m["track"]["points"]]
    all_clocks = [c for m in manifests for c in m["clock"]]
    for segment in segments_of(store):
        manifest = manifest_of(segment)
        video = manifest["video"]
        for index, luma in enumerate(decoded_lumas(segment)):
            if index % 15:
                continue
            wall = frame_wall_ns(manifest, index)
            mono_us = manifest["start"]["mono_us"] + index * 1_000_000 // FPS
            # the overlay of a second is rendered at its first frame, from the keeper's last
            # tick: the sample of the second before, or of this one
            near = [p for p in all_points if mono_us - 3_000_000 <= p["mono_us"] <= mono_us + 1_000_000]
            candidates = {NO_FIX_LINE} | {position_line(_as_fix(p)) for p in near if p["fix"] != "none"}
            # the bound grows at 50 ppm between adoptions (at most 16 s: 0.8 ms)
            clocks = {clock_line(m["source"], m["error_us"] * 1000 + drift)
                      for m in all_clocks for drift in range(0, 1_000_001, 100_000)}

            def score(position: str, clock: str) -> float:
                watermark = Watermark(video["width"], video["height"], lambda w: [
                    position, clock, *osd_lines(manifest["device_id"], manifest["officer_id"], True)(w)])
                return overlay_correlation(luma, watermark, wall, line=0) * overlay_correlation(
                    luma, watermark, wall, line=1)

            best, (position, clock) = max((score(p, c), (p, c)) for p in candidates for c in clocks)
            assert best > 0.8, f"{segment.name} frame {index}: no expected OSD text matches ({best:.2f})"
            seen_no_fix += position == NO_FIX_LINE
            seen_position += position != NO_FIX_LINE
            seen_gnss += "GNSS" in clock
    assert seen_no_fix and seen_position >= 8 and seen_gnss


def _as_fix(point: dict) -> dict:
    return {"lat": point["lat_e7"] / 1e7, "lon": point["lon_e7"] / 1e7,
            "eph": None if point["eph_mm"] is None else point["eph_mm"] / 1000}
