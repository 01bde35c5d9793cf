"""Choosing the capture sources from `[capture]`, and saying which and why.

`auto` takes the real hardware that is there (picamera2 camera, then a V4L2 camera
through OpenCV; a PortAudio input through sounddevice, then pyaudio). It never falls
back to a synthetic source: a device with no camera or no microphone stops with a
CaptureError that says what was looked for, because a test pattern or generated noise
must never pass as evidence. Synthetic sources are used only when a setting names them
(`capture.camera = synthetic`) — and the evidence then says SIMULATED — or on the
simulated body (`recorder run --simulate`, recorder/sim/). A source named explicitly
must be usable, or the agent stops with a CaptureError naming the setting.
"""

import glob
import logging
import os
from pathlib import Path

from ..clock import Clock
from ..config import Config
from ..errors import CaptureError
from .live import LiveBody
from .osd import OsdStatus, Watermark, osd_lines

log = logging.getLogger(__name__)

# V4L2 nodes on a Raspberry Pi that are codecs or ISPs, not cameras.
NOT_CAMERAS = ("bcm2835-codec", "bcm2835-isp", "rpi-hevc", "pispbe", "rp1-cfe", "unicam")


def _picamera2_cameras() -> tuple[list, str]:
    try:
        from picamera2 import Picamera2
    except Exception as exc:  # ImportError, or libcamera failing to load
        return [], f"picamera2 not installed ({type(exc).__name__})"
    try:
        cameras = Picamera2.global_camera_info()
    except Exception as exc:
        return [], f"picamera2 cannot list cameras ({exc})"
    return cameras, "" if cameras else "picamera2 finds no camera"


def _v4l2_cameras() -> list[str]:
    found = []
    for node in sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p)):
        sysfs = Path("/sys/class/video4linux") / os.path.basename(node)
        name = (sysfs / "name").read_text().strip() if (sysfs / "name").exists() else ""
        index = (sysfs / "index").read_text().strip() if (sysfs / "index").exists() else "0"
        if index == "0" and not any(tag in name for tag in NOT_CAMERAS):  # index 1: metadata node
            found.append(node)
    return found


def _opencv_missing() -> str:
    try:
        import cv2  # noqa: F401
    except Exception as exc:
        return f"OpenCV not installed ({type(exc).__name__})"
    return ""


def choose_camera(config: Config) -> tuple[str, str, str]:
    """(source name, device, why)."""
    capture = config.capture
    if capture.camera == "synthetic":
        return "synthetic", "", "capture.camera = synthetic"
    if capture.camera == "picamera2":
        cameras, problem = _picamera2_cameras()
        if not cameras:
            raise CaptureError(f"capture.camera = picamera2 but {problem}")
        return "picamera2", "", "capture.camera = picamera2"
    if capture.camera == "opencv":
        if problem := _opencv_missing():
            raise CaptureError(f"capture.camera = opencv but {problem}")
        device = capture.camera_device or "0"
        if not device.isdigit() and "://" not in device and not os.path.exists(device):
            raise CaptureError(f"capture.camera_device = {device!r} does not exist")
        return "opencv", device, "capture.camera = opencv"
    # auto
    cameras, picamera2_problem = _picamera2_cameras()
    if cameras:
        return "picamera2", "", f"picamera2 camera found ({cameras[0].get('Model', 'camera 0')})"
    reasons = [picamera2_problem]
    opencv_problem = _opencv_missing()
    if capture.camera_device:
        if opencv_problem:
            raise CaptureError(f"capture.camera_device is set but {opencv_problem}")
        return "opencv", capture.camera_device, f"{picamera2_problem}; capture.camera_device is set"
    v4l2 = _v4l2_cameras()
    if v4l2 and not opencv_problem:
        return "opencv", v4l2[0], f"{picamera2_problem}; V4L2 camera {v4l2[0]} found"
    reasons.append(opencv_problem if v4l2 else "no /dev/video* camera")
    raise CaptureError("capture.camera = auto found no camera (" + "; ".join(reasons) + "); the recorder "
                       "records no test pattern as evidence: set capture.camera = synthetic to do so on purpose, "
                       "or use recorder run --simulate")


def _input_problem(backend: str, device: str) -> str:
    """'' when the back-end imports and finds an input device, else what is wrong."""
    from .microphone import device_arg, pyaudio_input_index

    arg = device_arg(device)
    try:
        if backend == "sounddevice":
            import sounddevice

            sounddevice.query_devices(arg, kind="input")
            return ""
        import pyaudio

        pa = pyaudio.PyAudio()
        try:
            if arg is None:
                pa.get_default_input_device_info()
            elif isinstance(arg, int):
                if pa.get_device_info_by_index(arg).get("maxInputChannels", 0) < 1:
                    return f"pyaudio device {arg} has no input"
            else:
                try:
                    pyaudio_input_index(pa, arg)
                except ValueError:
                    return f"pyaudio finds no input device {arg!r}"
            return ""
        finally:
            pa.terminate()
    except ImportError as exc:
        return f"{backend} not installed ({exc.name or exc})"
    except Exception as exc:  # PortAudio errors: no library, no such device, no default input
        return f"{backend} finds no input device{f' {device!r}' if device else ''} ({str(exc).strip()})"


def choose_microphone(config: Config) -> tuple[str | None, str, str]:
    """(source name or None without audio, device, why)."""
    capture = config.capture
    if not config.audio.enabled:
        return None, "", "audio.enabled = false"
    if capture.microphone == "synthetic":
        return "synthetic", "", "capture.microphone = synthetic"
    if capture.microphone in ("sounddevice", "pyaudio"):
        if problem := _input_problem(capture.microphone, capture.microphone_device):
            raise CaptureError(f"capture.microphone = {capture.microphone} but {problem}")
        return capture.microphone, capture.microphone_device, f"capture.microphone = {capture.microphone}"
    reasons = []
    for backend in ("sounddevice", "pyaudio"):
        problem = _input_problem(backend, capture.microphone_device)
        if not problem:
            return backend, capture.microphone_device, "; ".join(reasons + [f"{backend} input found"])
        reasons.append(problem)
    if capture.microphone_device:  # a named microphone that is missing is a fault, not a test signal
        raise CaptureError(f"capture.microphone_device = {capture.microphone_device!r} but " + "; ".join(reasons))
    raise CaptureError("capture.microphone = auto found no microphone (" + "; ".join(reasons) + "); the recorder "
                       "records no generated sound as evidence: set capture.microphone = synthetic to do so on "
                       "purpose, audio.enabled = false to record without sound, or use recorder run --simulate")


def make_watermark(config: Config, device_id: str, simulated: bool = False) -> Watermark | None:
    """The OSD, its font loaded now: a missing or unusable `osd.font` stops the agent at
    start-up (ConfigError naming the setting and the package), never mid-recording.
    simulated: the pictures or the sound are synthetic, and the OSD says so."""
    if not config.osd.enabled:
        return None
    v = config.video
    status = OsdStatus()
    lines = osd_lines(device_id, config.device.officer_id, simulated, status)
    watermark = Watermark(v.width, v.height, lines, config.osd.font)
    watermark.status = status  # the agent sets the position and the clock source in it
    watermark.render(watermark.lines_for_second(0))  # now: characters the font lacks are logged at start-up
    return watermark


def make_camera(config: Config, name: str, device: str, watermark):
    if name == "picamera2":
        from .picamera2_source import Picamera2Source

        return Picamera2Source(config.video, watermark)
    if name == "opencv":
        from .opencv_source import OpenCVSource

        return OpenCVSource(config.video, device, watermark)
    from .synthetic_sources import SyntheticCameraSource

    return SyntheticCameraSource(config.video, watermark)


def make_microphone(config: Config, name: str | None, device: str):
    if name is None:
        return None
    if name == "synthetic":
        from .synthetic_sources import SyntheticMicrophoneSource

        return SyntheticMicrophoneSource(config.audio)
    from .microphone import MICROPHONES

    return MICROPHONES[name](config.audio, device)


def open_body(config: Config, clock: Clock, outputs, device_id: str) -> LiveBody:
    """The live body the agent drives: the sources [capture] selects, each saying why."""
    cam, cam_device, cam_why = choose_camera(config)
    mic, mic_device, mic_why = choose_microphone(config)
    watermark = make_watermark(config, device_id, simulated="synthetic" in (cam, mic))
    cam_text = f"{cam}{f' {cam_device}' if cam_device else ''} ({cam_why})"
    mic_text = f"{mic or 'none'}{f' {mic_device}' if mic_device else ''} ({mic_why})"
    description = f"camera: {cam_text}; microphone: {mic_text}"
    log.info(description)
    camera = make_camera(config, cam, cam_device, watermark)
    microphone = make_microphone(config, mic, mic_device)
    body = LiveBody(clock, camera, microphone, outputs, description, why={"camera": cam_why, "microphone": mic_why})
    body.osd_status = None if watermark is None else watermark.status
    return body
