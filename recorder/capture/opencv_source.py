"""A USB/V4L2 camera or a video file through OpenCV, encoded with PyAV.

A camera paces itself: each frame is stamped on the monotonic clock when OpenCV
hands it over. A video file has no pace of its own, so frame i is released at
origin + i / video.fps (the file plays as if a camera filmed it at the configured
rate) and stamped with that time. The end of the file, or a camera that stops
delivering, is a CaptureError: a source never ends silently.

Frames arrive as BGR, are resized to the configured size if the device gives
another one (logged once), converted to I420 (= yuv420p), and the OSD is burned
into the Y plane, the same overlay as on every other source.
"""

import logging
import os
import threading

import numpy as np

from ..config import VideoConfig
from .encoders import VideoEncoder
from .osd import Watermark
from .sources import CaptureSource

log = logging.getLogger(__name__)


def _is_file(device: str) -> bool:
    return os.path.isfile(device)


class OpenCVSource(CaptureSource):
    name = "opencv"

    def __init__(self, video: VideoConfig, device: str = "", watermark: Watermark | None = None):
        super().__init__()
        self.video, self.watermark = video, watermark
        self.device = device or "0"
        self.is_file = _is_file(self.device)
        self.frames = 0
        self.frame_gaps = 0  # camera: intervals over 1.5 frame periods (frames the driver dropped)
        self._last_stamp_ns: int | None = None
        self.resized = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._capture = None

    @property
    def description(self) -> str:
        return f"opencv ({'file ' if self.is_file else ''}{self.device})"

    def _open(self):
        import cv2

        if self.is_file:
            capture = cv2.VideoCapture(self.device)
        else:
            target = int(self.device) if self.device.isdigit() else self.device
            capture = cv2.VideoCapture(target, cv2.CAP_V4L2)
            v = self.video
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, v.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, v.height)
            capture.set(cv2.CAP_PROP_FPS, v.fps)
        if not capture.isOpened():
            capture.release()
            raise self.fail(f"cannot open {'video file' if self.is_file else 'camera'} {self.device!r}")
        return capture

    def start(self, outputs, clock) -> None:
        self._capture = self._open()
        self.clock = clock
        self.encoder = VideoEncoder(self.video, outputs)
        self.origin_ns = clock.monotonic_ns()
        self._thread = threading.Thread(target=self._run, name="opencv-capture", daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                due_ns = None
                if self.is_file:  # release frame i at its time, not as fast as the file decodes
                    due_ns = self.origin_ns + self.frames * 1_000_000_000 // self.video.fps
                    delay = (due_ns - self.clock.monotonic_ns()) / 1e9
                    if delay > 0 and self._stop.wait(delay):
                        return
                ok, image = self._capture.read()
                stamp_ns = self.clock.monotonic_ns() if due_ns is None else due_ns
                if not ok:
                    what = "video file ended" if self.is_file else "camera stopped delivering frames"
                    self.fail(f"{what} after {self.frames} frames ({self.device})")
                    return
                self._note_gap(stamp_ns)
                self._encode(image, stamp_ns)
                self.frames += 1
        except Exception as exc:
            self.fail(f"capture failed after {self.frames} frames: {exc}", exc)

    def _note_gap(self, stamp_ns: int):
        """A camera whose frames we read too late drops them in the driver, unseen by us:
        count and log the gaps in the timestamps, so a loss is never hidden."""
        last, self._last_stamp_ns = self._last_stamp_ns, stamp_ns
        if last is not None and stamp_ns - last > 1.5e9 / self.video.fps:
            self.frame_gaps += 1
            log.warning("opencv: %.0f ms between frames from %s (frames dropped before capture)",
                        (stamp_ns - last) / 1e6, self.device)

    def _encode(self, image: np.ndarray, stamp_ns: int):
        import cv2

        v = self.video
        if image.shape[:2] != (v.height, v.width):
            if not self.resized:
                log.warning("opencv: %s gives %dx%d frames, resized to %dx%d",
                            self.device, image.shape[1], image.shape[0], v.width, v.height)
                self.resized = True
            image = cv2.resize(image, (v.width, v.height), interpolation=cv2.INTER_AREA)
        yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)  # (H * 3 / 2, W): the yuv420p layout
        if self.watermark is not None:
            self.watermark.burn_luma(yuv[: v.height], self.clock.wall_ns_at(stamp_ns))
        self.encoder.encode(yuv, stamp_ns // 1000)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        if getattr(self, "encoder", None) is not None:
            self.encoder.flush()

    def describe(self) -> dict:
        return {"kind": self.name, "device": self.device, "file": self.is_file}

    @property
    def counters(self) -> dict:
        return {"frames_captured": self.frames, "frame_gaps": self.frame_gaps}
