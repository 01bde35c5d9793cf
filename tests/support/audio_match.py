"""Finding a known sound in recorded audio, on the monotonic clock."""

import av
import numpy as np


def find(recorded: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """(position in recorded, normalised correlation) of the best match of reference (FFT)."""
    recorded, reference = recorded.astype(np.float64), reference.astype(np.float64)
    n = len(recorded) + len(reference)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(reference, size)), size)
    corr = corr[: len(recorded) - len(reference) + 1]
    power = np.concatenate([[0.0], np.cumsum(recorded**2)])
    window_energy = power[len(reference):] - power[: len(power) - len(reference)]
    energy = np.sqrt(np.maximum(window_energy, 0) * np.sum(reference**2))
    score = corr / np.maximum(energy, 1e-12)
    best = int(np.argmax(score))
    return best, float(score[best])


def decode_collected(out) -> tuple[np.ndarray, int]:
    """(first channel's samples, monotonic ns of the first one) from a CollectingOutput's audio
    packets and their own timestamps (the AAC priming frame included, stamped before sample 0)."""
    [(stream, _, _)] = [s for s in out.streams if s[0].type == "audio"]
    decoder = av.CodecContext.create(stream.codec_context.name, "r")
    decoder.extradata = stream.codec_context.extradata
    pieces, first_us = [], None
    for timestamp, _, audio, data in out.packets:
        if not audio:
            continue
        for frame in decoder.decode(av.Packet(data)):
            if first_us is None:
                first_us = timestamp
            pieces.append(frame.to_ndarray()[0])
    return np.concatenate(pieces), first_us * 1000


ONSET_S = 0.5  # how much of a sound's beginning locate_onset correlates


def locate_onset(recorded: np.ndarray, first_ns: int, rate: int, reference: np.ndarray, near_ns: int,
                 before_s: float = 0.2, after_s: float = 1.5) -> tuple[int, float]:
    """(monotonic ns, correlation) of the first ONSET_S of reference in recorded (first sample at
    first_ns), searched from before_s before near_ns to after_s after it. Only the beginning:
    a live microphone's clock mapping may stretch a long sound by up to 1000 ppm (several
    samples over seconds, enough to blur a whole-sound correlation), and sounds that begin
    alike (the prompts) or repeat are told apart by where they were played."""
    begin = max(0, int((near_ns - first_ns) * rate / 1e9 - before_s * rate))
    onset = reference[: int(ONSET_S * rate)]
    piece = recorded[begin : begin + len(onset) + int((before_s + after_s) * rate)]
    position, score = find(piece, onset)
    return first_ns + (begin + position) * 1_000_000_000 // rate, score
