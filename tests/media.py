"""Reading recordings back: decode frames and samples, and find where they came from."""

import json
from pathlib import Path

import av
import numpy as np

from recorder.capture import framecode
from recorder.capture.synthetic import reference_samples


def segments_of(store: Path) -> list[Path]:
    return sorted(store.glob("media/*/*.mp4"))


def manifest_of(segment: Path) -> dict:
    return json.loads(segment.with_name(segment.name.replace(".mp4", ".manifest.json")).read_text())


def ledger_entries(store: Path) -> list[dict]:
    """Every entry of the store's ledger, in order (as written on disk, signatures included)."""
    text = (store / "ledger" / "ledger.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def frame_indices(path: Path) -> list:
    with av.open(str(path)) as container:
        return [
            framecode.read(frame.to_ndarray()[: frame.height])
            for frame in container.decode(video=0)
        ]


def audio_samples(path: Path) -> np.ndarray:
    return decoded_audio(path)[0]


def decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    """(first channel's samples, position of the first one in samples from the file's start)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(0, dtype=np.float32), 0
        frames = list(container.decode(audio=0))
    if not frames:
        return np.zeros(0, dtype=np.float32), 0
    start = round(float(frames[0].pts * frames[0].time_base) * frames[0].sample_rate)
    return np.concatenate([frame.to_ndarray()[0] for frame in frames]), start


def stream_durations(path: Path) -> dict:
    """Decoded duration (s) of each stream: frames x frame time, samples / rate."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        result = {"video": frames / float(video.average_rate)}
    samples = audio_samples(path)
    result["audio"] = len(samples) / 48_000
    return result


def locate(decoded: np.ndarray, guess: int, search: int = 48_000, window: int = 4096) -> tuple[int, float]:
    """Sample position (in the synthetic microphone's signal) of decoded[:window],
    searched within guess ± search, by normalised cross-correlation."""
    piece = decoded[:window].astype(np.float64)
    start = max(0, guess - search)
    ref = reference_samples(start, 2 * search + window).astype(np.float64)
    corr = np.correlate(ref, piece, mode="valid")
    energy = np.sqrt(np.convolve(ref**2, np.ones(window), mode="valid") * np.sum(piece**2))
    score = corr / np.maximum(energy, 1e-12)
    best = int(np.argmax(score))
    return start + best, float(score[best])
