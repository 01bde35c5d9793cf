"""The Raspberry Pi camera through picamera2: H.264 packets straight into the pipeline.

picamera2 runs the camera, calls the OSD in its `pre_callback` (in place on the
frame buffer's Y plane, no copy), and encodes each frame with

  * `H264Encoder` — the VideoCore hardware encoder (/dev/video11, Pi 4 and earlier),
  * `LibavH264Encoder` — libx264 otherwise (Pi 5 has no hardware encoder; the
    libcamera virtual camera used in tests neither),

with a fixed GOP of `video.gop_seconds`. Its packets go to a picamera2 `Output`
that forwards them unchanged to the recorder's outputs (the router), after
adding the sensor timestamp of the first frame: picamera2 stamps packets in µs
relative to its first frame, while the pipeline wants the agent's monotonic
clock. libcamera's SensorTimestamp is CLOCK_MONOTONIC, the clock SystemClock
reads, so the recorded timestamps are the sensor's own.

A camera that stops delivering frames (cable pulled, driver error) is reported
as a CaptureError in `failure` by a watchdog; picamera2 itself drops failed
frames silently.
"""

import logging
import os
import threading

from ..clock import Clock
from ..config import VideoConfig
from ..errors import CaptureError
from .osd import Watermark
from .sources import CaptureSource

log = logging.getLogger("recorder")

HARDWARE_ENCODER_DEVICE = "/dev/video11"  # bcm2835-codec: VC4 boards only
FIRST_FRAME_TIMEOUT_S = 5.0
NAL_SPS, NAL_PPS = 7, 8


def parameter_sets(annexb: bytes) -> bytes:
    """The SPS and PPS NAL units (with start codes) of an Annex-B access unit: the
    hardware encoder repeats them in every keyframe; the MP4 muxer wants them as extradata."""
    units = []
    start = annexb.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        end = annexb.find(b"\x00\x00\x01", begin)
        unit = annexb[begin : len(annexb) if end < 0 else end].rstrip(b"\x00")
        if unit and unit[0] & 0x1F in (NAL_SPS, NAL_PPS):
            units.append(b"\x00\x00\x00\x01" + unit)
        start = end
    return b"".join(units)


def _stream_template(codec_name: str, fps: int, width: int, height: int):
    """A PyAV stream carrying the codec parameters the outputs copy into their files."""
    import av

    container = av.open("/dev/null", "w", format="null")
    stream = container.add_stream(codec_name, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = fps
    return container, stream  # keep the container: the stream must not outlive it


class Picamera2Source(CaptureSource):
    name = "picamera2"

    def __init__(self, video: VideoConfig, watermark: Watermark | None = None,
                 camera_num: int = 0, open_camera=None, stall_frames: int = 15):
        """open_camera(camera_num) -> Picamera2 defaults to picamera2.Picamera2
        (test harnesses pass their own); stall_frames: frame periods without a
        frame after which the camera counts as lost."""
        super().__init__()
        self.video, self.watermark = video, watermark
        self.camera_num, self._open_camera = camera_num, open_camera
        self.stall_ns = max(1_000_000_000, stall_frames * 1_000_000_000 // video.fps)
        self.camera = self.encoder = None
        self.encoder_kind = None
        self.model = None  # the sensor, as libcamera names it (e.g. imx708)
        self._clock: Clock | None = None
        self._packets = 0
        self._last_frame_ns: int | None = None
        self._started_ns = 0
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None

    # -- CaptureSource -------------------------------------------------------------------
    def start(self, outputs, clock: Clock) -> None:
        try:
            import picamera2
            from picamera2.encoders import H264Encoder, LibavH264Encoder
            from picamera2.outputs import Output as Picamera2Output
            from libcamera import controls
        except ImportError as exc:
            raise self.fail(f"picamera2 is not installed ({exc})", exc) from None
        self._clock = clock
        self._mapped_array, self._sensor_timestamp = picamera2.MappedArray, controls.SensorTimestamp
        try:
            self.camera = (self._open_camera or picamera2.Picamera2)(self.camera_num)
        except (RuntimeError, IndexError) as exc:
            raise self.fail(f"no camera {self.camera_num}: {exc}", exc) from None
        self.model = str(getattr(self.camera, "camera_properties", {}).get("Model", "unknown"))
        v = self.video
        try:
            config = self.camera.create_video_configuration(
                main={"size": (v.width, v.height), "format": "YUV420"},
                controls={"FrameRate": v.fps},
            )
            self.camera.configure(config)
            main = self.camera.camera_configuration()["main"]
            if tuple(main["size"]) != (v.width, v.height):
                raise CaptureError(
                    f"{self.name}: the camera cannot deliver {v.width}x{v.height} "
                    f"(it offers {main['size'][0]}x{main['size'][1]}); set video.width/height"
                )
            if self.watermark is not None:
                self.camera.pre_callback = self._burn_osd
            self.encoder = self._make_encoder(H264Encoder, LibavH264Encoder)
            output = _monotonic_output_class(Picamera2Output)(self, outputs)
            self._started_ns = clock.monotonic_ns()
            self.camera.start_recording(self.encoder, output)
        except CaptureError as exc:
            self.failure = exc
            self._close_camera()
            raise
        except Exception as exc:
            error = self.fail(f"cannot start the camera: {exc}", exc)
            self._close_camera()
            raise error from None
        log.info("camera: picamera2 %dx%d@%d, encoder %s", v.width, v.height, v.fps, self.encoder_kind)
        self._watchdog = threading.Thread(target=self._watch, name="picamera2-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        """Stop the camera, then flush the encoder: every frame the camera delivered is
        encoded and handed to the outputs before this returns."""
        self._stopping.set()
        if self.camera is None:
            return
        try:
            self.camera.stop()
        except Exception as exc:  # a vanished camera may refuse to stop; flushing still matters
            log.warning("picamera2: stopping the camera failed: %s", exc)
        try:
            self.camera.stop_encoder()
        except Exception as exc:
            self.fail(f"flushing the encoder failed: {exc}", exc)
        self._close_camera()
        if self._watchdog is not None:
            self._watchdog.join()

    def describe(self) -> dict:
        return {"kind": self.name, "model": self.model, "encoder": self.encoder_kind}

    @property
    def counters(self) -> dict:
        return {
            "frames_captured": getattr(self.encoder, "frames_encoded", 0),  # handed over by the camera
            "packets_delivered": self._packets,  # encoded video packets passed to the outputs
        }

    # -- inside picamera2's event loop -----------------------------------------------------
    def _make_encoder(self, H264Encoder, LibavH264Encoder):
        v = self.video
        gop = v.fps * v.gop_seconds
        # repeat=True on both: SPS/PPS in every keyframe, from which the output builds the
        # extradata the MP4 muxer needs (picamera2's repeat=False path uses a PyAV flag
        # name that current PyAV no longer has).
        if os.path.exists(HARDWARE_ENCODER_DEVICE):
            self.encoder_kind = "H264Encoder (hardware)"
            return H264Encoder(bitrate=v.bitrate, repeat=True, iperiod=gop, framerate=v.fps)
        self.encoder_kind = f"LibavH264Encoder (libx264 {v.preset})"
        return _fixed_gop_libav_class(LibavH264Encoder)(
            bitrate=v.bitrate, repeat=True, iperiod=gop, framerate=v.fps, preset=v.preset
        )

    def _burn_osd(self, request):
        try:
            sensor_ns = request.request.metadata[self._sensor_timestamp]
            with self._mapped_array(request, "main") as mapped:
                # NV12/YUV420 buffers map as (height * 3/2, stride): the Y plane is the top rows.
                self.watermark.burn_luma(mapped.array[: self.video.height, : self.video.width],
                                         self._clock.wall_ns_at(sensor_ns))
        except Exception as exc:  # an exception here would end picamera2's event loop silently
            self.fail(f"burning the OSD failed: {exc}", exc)

    def _packet_delivered(self):
        self._packets += 1
        self._last_frame_ns = self._clock.monotonic_ns()

    # -- failure detection -----------------------------------------------------------------
    def _watch(self):
        """picamera2 drops failed or missing frames without telling anyone: a camera
        whose encoder delivers nothing for stall_ns is a lost camera."""
        period = min(0.1, self.stall_ns / 4e9)
        while not self._stopping.wait(period):
            now = self._clock.monotonic_ns()
            last = self._last_frame_ns
            if last is None:
                if now - self._started_ns > FIRST_FRAME_TIMEOUT_S * 1e9:
                    self.fail(f"the camera delivered no frame within {FIRST_FRAME_TIMEOUT_S:.0f} s of starting")
                    return
            elif now - last > self.stall_ns:
                self.fail(
                    f"the camera stopped delivering frames ({(now - last) / 1e9:.1f} s without a frame "
                    f"after {self._packets} frames)"
                )
                return

    def _close_camera(self):
        camera, self.camera = self.camera, None
        if camera is not None:
            try:
                camera.close()
            except Exception as exc:
                log.warning("picamera2: closing the camera failed: %s", exc)


def _fixed_gop_libav_class(LibavH264Encoder):
    class FixedGopLibavH264Encoder(LibavH264Encoder):
        """Keyframes exactly every `iperiod` frames (no scene-cut keyframes): one MP4
        fragment per GOP, as with the hardware encoder and the simulated body."""

        def __init__(self, preset, **kwargs):
            super().__init__(**kwargs)
            self.preset = preset

        def _start(self):
            super()._start()
            self._stream.codec_context.options.update(
                {"keyint_min": str(self.iperiod), "sc_threshold": "0"}
            )

    return FixedGopLibavH264Encoder


def _monotonic_output_class(Picamera2Output):
    class MonotonicOutput(Picamera2Output):
        """picamera2 Output -> recorder outputs: first-frame-relative µs become the
        sensor's monotonic µs; the payload and PyAV packet pass through untouched."""

        def __init__(self, source: Picamera2Source, outputs):
            super().__init__()
            self.source, self.outputs = source, list(outputs)
            self._template = None
            # A lost camera still has frames inside the encoder: they are delivered at stop().
            self._broken = False

        def _add_stream(self, encoder_stream, codec_name, **kwargs):
            # The outputs copy codec parameters and extradata from the stream they are
            # given; H264Encoder has no PyAV stream and libx264 with repeated headers no
            # extradata, so both get a template whose extradata comes from the first keyframe.
            v = self.source.video
            self._container, self._template = _stream_template(codec_name, v.fps, v.width, v.height)
            for out in self.outputs:
                out._add_stream(self._template, codec_name, **{"rate": v.fps, **kwargs})

        def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
            source = self.source
            if self._broken:
                return  # the outputs failed: the source has stopped delivering
            try:
                if keyframe and not self._template.codec_context.extradata:
                    self._template.codec_context.extradata = parameter_sets(bytes(frame))
                origin_us = source.encoder.firsttimestamp  # sensor µs of the first frame
                data = frame if isinstance(frame, bytes) else bytes(frame)
                for out in self.outputs:
                    out.outputframe(data, keyframe, origin_us + timestamp, packet, audio)
                source._packet_delivered()
            except Exception as exc:  # never let an error die silently in picamera2's thread
                self._broken = True
                source.fail(f"delivering a packet failed: {exc}", exc)

    return MonotonicOutput
