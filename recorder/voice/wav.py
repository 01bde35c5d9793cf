"""WAV files as float32 mono samples (the standard library's `wave`: integer PCM only)."""

import wave
from pathlib import Path

import numpy as np

_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


def read_wav(source) -> tuple[np.ndarray, int]:
    """(samples float32 mono in [-1, 1), sample rate) of an integer-PCM WAV file (a path or
    a binary file object); several channels are averaged. ValueError for anything else."""
    try:
        with wave.open(str(source) if isinstance(source, Path) else source, "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from None
    if width == 3:  # 24-bit: widen to 32
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        data = np.pad(raw, ((0, 0), (1, 0))).tobytes()
        width = 4
    if width not in _DTYPES:
        raise ValueError(f"unsupported WAV sample width {width * 8} bits")
    pcm = np.frombuffer(data, dtype=_DTYPES[width]).astype(np.float32)
    if width == 1:
        pcm -= 128.0
    pcm /= float(2 ** (8 * width - 1))
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    return pcm.astype(np.float32), rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit mono PCM (clipped to [-1, 1])."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    return path
