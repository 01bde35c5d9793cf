"""A private PulseAudio server with a null sink whose monitor is the default source:
the real sound stack (PortAudio -> ALSA pulse plugin -> PulseAudio) without a sound card.

Whatever is played into the sink (`play`) is what a microphone records. The sink is
kept busy by a writer of silence: an idle null sink renders in ~2 s blocks and the
first seconds of a capture would be lost (see the shared notes on real parts).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SINK = "recsink"
RATE = 48_000
SETTLE_S = 2.5  # with a low-latency writer the sink then renders in short blocks (first block ~0.2 s)


class PulseServer:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="pulse-"))
        self.socket = self.dir / "native"
        self.env = {
            **os.environ,
            "PULSE_RUNTIME_PATH": str(self.dir),
            "XDG_RUNTIME_DIR": str(self.dir),
            "PULSE_SERVER": f"unix:{self.socket}",
            "HOME": str(self.dir),
        }
        self.server: subprocess.Popen | None = None
        self.busy: subprocess.Popen | None = None

    def start(self) -> "PulseServer":
        self.server = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
             "--disallow-exit", "--log-target=stderr", "--log-level=error",
             "-L", f"module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
             "-L", f"module-null-sink sink_name={SINK} rate={RATE} channels=1"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while self.pactl("info", check=False).returncode != 0:
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("PulseAudio did not start")
            time.sleep(0.05)
        self.pactl("set-default-source", f"{SINK}.monitor")
        self.pactl("set-default-sink", SINK)
        self.busy = subprocess.Popen(
            ["pacat", "--playback", f"--device={SINK}", "--raw", "--format=s16le",
             f"--rate={RATE}", "--channels=1", "--latency-msec=20", "/dev/zero"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(SETTLE_S)
        return self

    def pactl(self, *args, check=True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True,
                              check=check, timeout=10)

    def play(self, wav: Path) -> subprocess.Popen:
        """Start playing a WAV file into the sink (returns at once)."""
        return subprocess.Popen(["paplay", f"--device={SINK}", str(wav)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def remove_sink(self) -> None:
        """The sink (and with it the default source, its monitor) disappears."""
        self.pactl("unload-module", "module-null-sink")

    def kill(self) -> None:
        """The sound server vanishes, as a USB microphone pulled out mid-recording."""
        for proc in (self.busy, self.server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()

    def stop(self) -> None:
        for proc in (self.busy, self.server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def use_pulse_in_this_process(server: PulseServer, monkeypatch) -> None:
    """Point this process's PortAudio at the private server. PortAudio lists devices
    when it initialises, so both back-ends must (re)initialise after the server is up."""
    for key in ("PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR", "PULSE_SERVER"):
        monkeypatch.setenv(key, server.env[key])
    import sounddevice

    sounddevice._terminate()
    sounddevice._initialize()


def speech_wav(directory: Path, text: str = "recording evidence one two three four five",
               voice: str = "en") -> Path:
    """espeak-ng speech as a WAV file (22.05 kHz mono)."""
    path = directory / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path
