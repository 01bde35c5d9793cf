"""Runs inside the test chroot: the agent recording through the picamera2 source
on libcamera's virtual camera, through the same Agent as `recorder run`
(tests/support/live_agent.py).

  drive.py frames DIR COUNT WIDTH HEIGHT [--flash I ...]
      JPEG frames 0.jpg .. for the virtual camera, each with its index as a
      framecode at the top; --flash images are white (the A/V sync flash).
  drive.py record --config C --store S --report R.json [--prerecord S] [--record S]
      [--lose-after S] [--microphone] [--click-at-frame K ...]
      pre-record, record, stop, seal; the report says what the camera and the
      pacer did and the CaptureError when the camera was lost.
  drive.py baseline --config C --output F.mp4 --report R.json --seconds S
      the same camera, OSD and encoder into picamera2's own PyavOutput (benchmarks).
  drive.py overlays OUT.npz WIDTH HEIGHT DEVICE_ID OFFICER_ID WALL_NS ...
      the OSD overlays this chroot's Pillow/FreeType renders for those wall times: the
      host's tests correlate decoded frames with them (another build's glyphs differ).

Exit status 0 when the recording ended as planned, 2 with the error message on
stderr when a CaptureError ended it (as the CLI does), 1 on anything else.
"""

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from recorder.capture import framecode
from recorder.capture.osd import Watermark, osd_lines
from recorder.capture.picamera2_source import Picamera2Source
from recorder.capture.select import make_watermark
from recorder.clock import SystemClock
from recorder.config import load_config

import virtual
from live_agent import record_live


def make_frames(directory: Path, count: int, width: int, height: int, flash: set[int]):
    import cv2

    directory.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        luma = np.full((height, width), 255 if index in flash else 96, dtype=np.uint8)
        luma[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = 160  # some structure
        framecode.draw(luma, index)
        cv2.imwrite(str(directory / f"{index}.jpg"), luma, [cv2.IMWRITE_JPEG_QUALITY, 95])


class ArrivalWatch:
    """Between the sources and the router: how far one stream's packets arrive behind
    the other's (the router's interleaver waits at most 1 s for a lagging stream)."""

    def __init__(self, router):
        self.router = router
        self.newest = {False: None, True: None}
        self.max_behind_us = {False: 0, True: 0}  # video / audio behind the other stream
        self.min_step_us = {False: None, True: None}  # closest consecutive timestamps

    def _add_stream(self, *args, **kwargs):
        self.router._add_stream(*args, **kwargs)

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        other = self.newest[not audio]
        if other is not None and other - timestamp > self.max_behind_us[audio]:
            self.max_behind_us[audio] = other - timestamp
        last = self.newest[audio]
        if last is not None and (self.min_step_us[audio] is None or timestamp - last < self.min_step_us[audio]):
            self.min_step_us[audio] = timestamp - last
        if last is None or timestamp > last:
            self.newest[audio] = timestamp
        self.router.outputframe(frame, keyframe, timestamp, packet, audio)


class Timeline:
    """Queue times of the virtual camera's frames (= their sensor timestamps)."""

    def __init__(self):
        self.ticks: list[int] = []

    def __call__(self, index, tick_ns):
        self.ticks.append(tick_ns)


def record(args) -> int:
    """The agent as `recorder run` assembles it (state machine, run loop, monitors, buttons
    on mock pins) on a live body of the picamera2 source (and the microphone); the
    recording is started and stopped by command, the camera lost on cue."""
    config = load_config(Path(args.config))
    timeline = Timeline()
    player = None
    if args.click_at_frame is not None:
        import clicker

        player = clicker.ClickPlayer(args.click_at_frame, config.video.fps)
        timeline_hook = player.chain(timeline)
    else:
        timeline_hook = timeline
    factory = virtual.camera_factory(config.video.fps, on_queue=timeline_hook)
    sources = {}

    def make_sources(config, device_id):
        sources["camera"] = Picamera2Source(config.video, make_watermark(config, device_id), open_camera=factory)
        if args.microphone:
            from recorder.capture.microphone import SoundDeviceMicrophone

            sources["microphone"] = SoundDeviceMicrophone(config.audio)  # ALSA default -> PulseAudio
        return sources["camera"], sources.get("microphone")

    watch = {}

    def wrap_outputs(outputs):
        watch["arrival"] = ArrivalWatch(outputs[0])
        return [watch["arrival"]]

    at = {args.lose_after: lambda run: factory.cameras[0].lose()} if args.lose_after is not None else None
    if player is not None:
        player.start()
    try:
        run = record_live(config, args.store, make_sources, prerecord_s=args.prerecord, record_s=args.record,
                          at=at, wrap_outputs=wrap_outputs)
    finally:
        if player is not None:
            player.stop()
    error = None if run.error is None else str(run.error)
    camera, microphone, arrival = sources.get("camera"), sources.get("microphone"), watch.get("arrival")
    paced = factory.cameras[0] if factory.cameras else None
    report = {
        "error": error,
        "device_id": run.agent.recorder.identity.device_id,
        "camera": camera.counters if camera else None,
        "encoder": camera.encoder_kind if camera else None,
        "microphone": microphone.counters if microphone else None,
        "frames_queued": paced.frames_queued if paced else 0,
        "late_ticks": paced.late_ticks if paced else 0,
        "ticks_ns": timeline.ticks,
        "click": player.report() if player else None,
        "behind_us": {"video": arrival.max_behind_us[False], "audio": arrival.max_behind_us[True]} if arrival else None,
        "min_step_us": {"video": arrival.min_step_us[False], "audio": arrival.min_step_us[True]} if arrival else None,
        "late_packets": run.agent.recorder.router.late_packets,
        "sessions": run.sessions,
    }
    Path(args.report).write_text(json.dumps(report))
    if error:
        print(f"recorder: {error}", file=sys.stderr)
    return getattr(run.error, "exit_code", 2) if error else 0  # as `recorder run --once` exits


def baseline(args) -> int:
    """The same camera, OSD and encoder without the recorder: picamera2's own
    LibavH264Encoder into picamera2's PyavOutput (one plain MP4 file); with --audio,
    the encoder records the microphone too (picamera2's own audio path: PulseAudio's
    default source through PyAV, AAC), as a picamera2 user records video with sound."""
    from picamera2.encoders import LibavH264Encoder
    from picamera2.outputs import PyavOutput

    config = load_config(Path(args.config))
    v, clock = config.video, SystemClock()
    factory = virtual.camera_factory(v.fps)
    camera = factory(0)
    camera.configure(camera.create_video_configuration(
        main={"size": (v.width, v.height), "format": "YUV420"}, controls={"FrameRate": v.fps}))
    watermark = Watermark(v.width, v.height, osd_lines("rec-baseline", config.device.officer_id))

    def burn(request):
        from libcamera import controls
        from picamera2 import MappedArray

        with MappedArray(request, "main") as mapped:
            ts = request.request.metadata[controls.SensorTimestamp]
            watermark.burn_luma(mapped.array[: v.height, : v.width], clock.wall_ns_at(ts))

    camera.pre_callback = burn
    encoder = LibavH264Encoder(bitrate=v.bitrate, iperiod=v.fps * v.gop_seconds, framerate=v.fps)
    encoder.preset = v.preset
    if args.audio:
        encoder.audio = True
        encoder.audio_output = {"codec_name": "aac", "rate": config.audio.sample_rate}
    output = PyavOutput(args.output)
    camera.start_recording(encoder, output)
    time.sleep(args.seconds)
    camera.stop_recording()
    camera.close()
    Path(args.report).write_text(json.dumps({"frames_encoded": encoder.frames_encoded,
                                             "frames_queued": factory.cameras[0].frames_queued}))
    return 0


def overlays(args) -> int:
    watermark = Watermark(args.width, args.height, osd_lines(args.device_id, args.officer_id))
    arrays = {}
    for i, wall_ns in enumerate(args.wall_ns):
        ov = watermark.render(watermark.lines_for_second(wall_ns))
        arrays.update({f"{i}_top": ov.top, f"{i}_left": ov.left, f"{i}_mask": ov.mask, f"{i}_luma": ov.luma,
                       f"{i}_rows": np.array(ov.rows)})
    np.savez(args.output, **arrays)
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    frames = sub.add_parser("frames")
    frames.add_argument("directory", type=Path)
    frames.add_argument("count", type=int)
    frames.add_argument("width", type=int)
    frames.add_argument("height", type=int)
    frames.add_argument("--flash", type=int, action="append", default=[])
    rec = sub.add_parser("record")
    rec.add_argument("--config", required=True)
    rec.add_argument("--store", required=True)
    rec.add_argument("--report", required=True)
    rec.add_argument("--prerecord", type=float, default=2.0)
    rec.add_argument("--record", type=float, default=6.0)
    rec.add_argument("--lose-after", type=float)
    rec.add_argument("--microphone", action="store_true")
    rec.add_argument("--click-at-frame", type=int, action="append")
    base = sub.add_parser("baseline")
    base.add_argument("--config", required=True)
    base.add_argument("--output", required=True)
    base.add_argument("--report", required=True)
    base.add_argument("--seconds", type=float, default=60)
    base.add_argument("--audio", action="store_true", help="record the microphone too (PulseAudio)")
    over = sub.add_parser("overlays")
    over.add_argument("output")
    over.add_argument("width", type=int)
    over.add_argument("height", type=int)
    over.add_argument("device_id")
    over.add_argument("officer_id")
    over.add_argument("wall_ns", type=int, nargs="+")
    args = parser.parse_args()
    if args.command == "overlays":
        return overlays(args)
    if args.command == "baseline":
        return baseline(args)
    if args.command == "frames":
        make_frames(args.directory, args.count, args.width, args.height, set(args.flash))
        return 0
    return record(args)


if __name__ == "__main__":
    sys.exit(main())
