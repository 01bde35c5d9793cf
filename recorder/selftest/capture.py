"""The camera and the microphone, through the body the agent records from, and the speaker.

The body is opened as the agent opens it (the bench's open_body: capture/select.py on the
device, the simulated body on --simulate) with one output that keeps what the encoders
deliver. The camera is judged on what would be recorded: the encoded frames, decoded again
(so a sensor, an ISP or an encoder that turns out black shows as black), their timestamps on
the monotonic clock; the microphone on what its tap (capture/listeners.py) hears.
"""

import itertools
import math
import threading

import av
import numpy as np

from ..errors import RecorderError
from ..pipeline.packets import Output
from .results import FAIL, PASS, SKIP, WARN, Result, Text

FIRST_FRAME_TIMEOUT_S = 3.0  # a camera that starts slower than this will miss a press
WINDOW_S = 1.0  # frames and samples measured over this long
STEP_NS = 20_000_000  # the body advances in steps this long (the agent's loop: at most 20 ms)
BLACK_LUMA = 24  # mean luma (0..255; video black is 16) at or below this: black
FLAT_LUMA_STD = 2.0  # luma standard deviation below this: no picture, one flat level
FPS_FAIL_SHARE = 0.5  # fewer than half the configured frames: the camera cannot keep up
FPS_WARN_SHARE = 0.1  # off the configured rate by more than a tenth: look at it
SILENT_DBFS = -90.0  # below this the microphone hears nothing (a working MEMS capsule's own noise is above)
QUIET_DBFS = -70.0  # below this it is suspiciously quiet
TONE_HZ, TONE_S, TONE_LEVEL = 1000, 0.3, 0.25  # the speaker's test tone (-12 dBFS)


class Collector(Output):
    """Keeps the video packets (timestamp, data) and the stream they came from."""

    def __init__(self):
        super().__init__()
        self.video_stream = None
        self.video: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()

    def _add_stream(self, encoder_stream, codec_name, **kwargs):
        if "width" in kwargs:  # the video stream announces its size; audio its rate and layout
            self.video_stream = encoder_stream

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        if not audio:
            with self._lock:
                self.video.append((timestamp, bytes(frame)))

    def video_packets(self) -> list[tuple[int, bytes]]:
        with self._lock:
            return list(self.video)


class Ear:
    """A listener on the microphone's tap: every sample it captured, mono float32."""

    def __init__(self):
        self.blocks: list[np.ndarray] = []
        self.rate = 0

    def __call__(self, samples, first_sample_ns, rate):
        self.blocks.append(np.array(samples, dtype=np.float32))
        self.rate = rate

    def samples(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros(0, dtype=np.float32)


def check_capture(config, clock, open_body, device_id: str) -> list[Result]:
    """Camera, microphone and speaker: one body, opened and closed here."""
    collector, ear = Collector(), Ear()
    opened_ns = clock.monotonic_ns()
    try:
        body = open_body(config, clock, [collector], device_id)
    except RecorderError as exc:  # no camera, no microphone, an unusable font: as the agent would stop
        return [_not_opened("camera", exc), _not_opened("microphone", exc) if config.audio.enabled
                else _no_audio(), check_speaker(config, clock, None)]
    try:
        hearing = body.add_listener(ear)
        _run(body, clock, collector)
        speaker = check_speaker(config, clock, body)
    finally:
        stopping = _close(body)  # the encoders deliver what they still hold
    camera_failure, microphone_failure = _failures(body, stopping)
    camera = judge_camera(collector.video_packets(), collector.video_stream, config.video.fps, camera_failure,
                          opened_ns)
    if not config.audio.enabled:
        microphone = _no_audio()
    elif not hearing:
        microphone = Result("microphone", FAIL, Text("麦克风没有可监听的输出", "the microphone has no tap to listen on"),
                            Text("检查麦克风配置 [capture]", "check [capture] microphone"))
    else:
        microphone = judge_microphone(ear.samples(), ear.rate or config.audio.sample_rate, microphone_failure)
    return [camera, microphone, speaker]


def _close(body) -> RecorderError | None:
    """Close the body; a source that fails to stop is a failure like any other."""
    try:
        body.close()
    except RecorderError as exc:
        return exc
    return None


def _failures(body, stopping=None) -> tuple:
    """(the camera's CaptureError, the microphone's): each live source keeps its own; a
    failure no source claims is the camera's."""
    camera = getattr(getattr(body, "camera", None), "failure", None)
    microphone = getattr(getattr(body, "microphone", None), "failure", None)
    if camera is None and microphone is None:
        camera = body.failure or stopping
    return camera, microphone


def _run(body, clock, collector: Collector):
    """Advance the body until WINDOW_S of frames came after the first, or the time is up."""
    start = clock.monotonic_ns()
    deadline = start + round((FIRST_FRAME_TIMEOUT_S + WINDOW_S) * 1e9)
    window_ns = round(WINDOW_S * 1e9)
    now = start
    while now < deadline and body.failure is None:
        body.advance_to(now + STEP_NS)
        packets = collector.video_packets()
        if packets and packets[-1][0] * 1000 - packets[0][0] * 1000 >= window_ns:
            break
        if not packets and now - start > FIRST_FRAME_TIMEOUT_S * 1e9:
            break
        now = clock.monotonic_ns()


def _not_opened(check: str, exc: Exception) -> Result:
    return Result(check, FAIL, Text(f"无法打开：{exc}", f"cannot be opened: {exc}"),
                  Text("检查连接和 [capture] 设置", "check the connection and the [capture] settings"),
                  {"error": str(exc)})


def _no_audio() -> Result:
    return Result("microphone", SKIP, Text("未启用（audio.enabled = false）", "not enabled (audio.enabled = false)"))


def decode_luma(packets: list[tuple[int, bytes]], stream) -> list[np.ndarray]:
    """The Y planes of the encoded frames, decoded with FFmpeg's H.264 decoder."""
    decoder = av.CodecContext.create("h264", "r")
    extradata = getattr(getattr(stream, "codec_context", None), "extradata", None)
    if extradata:  # SPS/PPS out of band (global header); picamera2's come in the keyframes
        decoder.extradata = extradata
    planes = []
    for _, data in packets:
        try:
            frames = decoder.decode(av.Packet(data))
        except av.error.FFmpegError:
            continue  # a frame that does not decode counts as not delivered
        planes += [frame.to_ndarray(format="gray") for frame in frames]
    try:
        planes += [frame.to_ndarray(format="gray") for frame in decoder.decode(None)]
    except av.error.FFmpegError:
        pass
    return planes


def judge_camera(packets, stream, fps: int, failure=None, opened_ns: int | None = None) -> Result:
    if not packets:
        why = f"：{failure}" if failure else ""
        why_en = f": {failure}" if failure else ""
        return Result("camera", FAIL,
                      Text(f"{FIRST_FRAME_TIMEOUT_S:g} 秒内没有画面{why}", f"no frame within {FIRST_FRAME_TIMEOUT_S:g} s{why_en}"),
                      Text("检查摄像头排线和模块", "check the camera module and its ribbon cable"), {"frames": 0})
    stamps = [stamp for stamp, _ in packets]
    advancing = all(b > a for a, b in itertools.pairwise(stamps))
    span_s = (stamps[-1] - stamps[0]) / 1e6
    rate = (len(stamps) - 1) / span_s if span_s > 0 else 0.0
    planes = decode_luma(packets, stream)
    first_s = None if opened_ns is None else round((stamps[0] * 1000 - opened_ns) / 1e9, 3)
    measured = {"frames": len(packets), "decoded": len(planes), "fps": round(rate, 2), "fps_configured": fps,
                "timestamps_advance": advancing, "first_frame_s": first_s}
    if not planes:
        return Result("camera", FAIL, Text(f"{len(packets)} 帧无法解码", f"{len(packets)} frames, none decodes"),
                      Text("编码器故障：重启设备，仍失败则送修", "encoder fault: restart; if it persists, send for repair"),
                      measured)
    centre = [plane[plane.shape[0] // 4: 3 * plane.shape[0] // 4, plane.shape[1] // 4: 3 * plane.shape[1] // 4]
              for plane in planes]  # the OSD sits bottom-left: the scene is judged in the middle
    mean = float(np.mean([c.mean() for c in centre]))
    std = float(np.mean([c.std() for c in centre]))
    measured.update(mean_luma=round(mean, 1), luma_std=round(std, 2))
    first = Text("", "") if first_s is None else Text(f"首帧 {first_s:.2f} 秒，", f"first after {first_s:.2f} s, ")
    seen = Text(f"{len(packets)} 帧，{first.zh}{rate:.1f} fps（设定 {fps}），亮度 {mean:.0f}，对比 {std:.1f}",
                f"{len(packets)} frames, {first.en}{rate:.1f} fps (set {fps}), luma {mean:.0f}, contrast {std:.1f}")
    if failure is not None:
        return Result("camera", FAIL, Text(f"{seen.zh}；故障：{failure}", f"{seen.en}; failed: {failure}"),
                      Text("检查摄像头排线和模块", "check the camera module and its ribbon cable"), measured)
    if not advancing:
        return Result("camera", FAIL, Text(f"{seen.zh}；时间戳不递增", f"{seen.en}; timestamps do not advance"),
                      Text("驱动或时钟故障：送修", "driver or clock fault: send for repair"), measured)
    if mean <= BLACK_LUMA:
        return Result("camera", FAIL, Text(f"{seen.zh}；画面全黑", f"{seen.en}; the picture is black"),
                      Text("取下镜头盖、对准有光的场景；仍黑则更换摄像头",
                           "remove the lens cap and point it at a lit scene; if still black, replace the camera"),
                      measured)
    if std < FLAT_LUMA_STD:
        return Result("camera", FAIL, Text(f"{seen.zh}；画面无内容（单一亮度）", f"{seen.en}; the picture is one flat level"),
                      Text("对准有细节的场景再试；仍如此则更换摄像头",
                           "point it at a scene with detail and run again; if it persists, replace the camera"),
                      measured)
    if len(stamps) > 1 and rate < fps * FPS_FAIL_SHARE:
        return Result("camera", FAIL, seen, Text("帧率不足：检查光线和摄像头", "too few frames: check the light and the camera"),
                      measured)
    if abs(rate - fps) > fps * FPS_WARN_SHARE:
        return Result("camera", WARN, seen, Text("帧率偏离设定：光线太暗会拉长曝光", "the rate is off: low light lengthens exposure"),
                      measured)
    return Result("camera", PASS, seen, measured=measured)


def level_dbfs(samples: np.ndarray) -> float:
    """RMS of the signal about its mean, in dB below a full-scale square wave (-inf: nothing)."""
    rms = float(np.std(samples, dtype=np.float64)) if len(samples) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def judge_microphone(samples: np.ndarray, rate: int, failure=None) -> Result:
    level = level_dbfs(samples)
    seconds = len(samples) / rate if rate else 0.0
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    measured = {"seconds": round(seconds, 3), "rms_dbfs": None if level == -math.inf else round(level, 1),
                "peak": round(peak, 4), "rate": rate}
    shown = "-∞" if level == -math.inf else f"{level:.1f}"
    seen = Text(f"{seconds:.2f} 秒，电平 {shown} dBFS", f"{seconds:.2f} s, level {shown} dBFS")
    if failure is not None:
        return Result("microphone", FAIL, Text(f"{seen.zh}；故障：{failure}", f"{seen.en}; failed: {failure}"),
                      Text("检查麦克风连接", "check the microphone's connection"), measured)
    if seconds < WINDOW_S / 2:
        return Result("microphone", FAIL, Text(f"{seen.zh}；采样太少", f"{seen.en}; too few samples"),
                      Text("检查麦克风连接和驱动", "check the microphone's connection and driver"), measured)
    if level < SILENT_DBFS:
        return Result("microphone", FAIL, Text(f"{seen.zh}；无声（数字零或低于底噪）", f"{seen.en}; silent (digital zero or below the floor)"),
                      Text("检查麦克风连接（I2S 线、USB）；仍无声则更换麦克风",
                           "check the microphone's wiring (I2S lines, USB); if still silent, replace it"), measured)
    if level < QUIET_DBFS:
        return Result("microphone", WARN, Text(f"{seen.zh}；非常安静", f"{seen.en}; very quiet"),
                      Text("靠近麦克风说话后重试", "speak close to the microphone and run again"), measured)
    return Result("microphone", PASS, seen, measured=measured)


def tone(rate: int = 48_000) -> np.ndarray:
    t = np.arange(round(TONE_S * rate)) / rate
    ramp = np.minimum(1.0, np.minimum(t, TONE_S - t) / 0.01)  # 10 ms fades: no click
    return (TONE_LEVEL * ramp * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def check_speaker(config, clock, body) -> Result:
    """The prompt speaker opens and takes a short tone: the body's own (the simulated body's
    speaker) or the one voice.output names, as the agent chooses (agent/assembly.py)."""
    from ..voice.output import NoSpeaker, open_player
    from ..voice.prompts import Prompt

    own = getattr(body, "speaker", None)
    try:
        player = own() if own is not None else open_player(config.voice, clock)
    except RecorderError as exc:
        return Result("speaker", FAIL, Text(f"无法打开：{exc}", f"cannot be opened: {exc}"),
                      Text("检查 voice.output 和音频设备", "check voice.output and the sound device"), {"error": str(exc)})
    try:
        if isinstance(player, NoSpeaker):
            return Result("speaker", SKIP, Text('未装扬声器（voice.output = ""）：只有灯光、蜂鸣和振动提示',
                                                'no speaker (voice.output = ""): cues only'))
        started = player.play(Prompt("selftest-tone", config.voice.language, "", tone(), 48_000))
        clock.sleep_until(clock.monotonic_ns() + round(TONE_S * 1e9))
        callbacks = getattr(player, "callbacks", None)  # PortAudio's: the device took samples
        measured = {"played": started is not None, "device": player.description}
        if started is None or callbacks == 0:
            return Result("speaker", FAIL, Text(f"{player.description}：没有播放", f"{player.description}: nothing played"),
                          Text("检查音频设备和连线", "check the sound device and its wiring"), measured)
        return Result("speaker", PASS, Text(f"{player.description}：已播放 {TONE_S:g} 秒 {TONE_HZ} Hz 提示音",
                                            f"{player.description}: played a {TONE_S:g} s {TONE_HZ} Hz tone"),
                      Text("软件只能确认声音已送出：请确认听到了", "software knows only that it was sent: confirm you heard it"),
                      measured)
    finally:
        player.close()
