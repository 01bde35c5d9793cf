"""Reading an A/V sync recording back: when the picture flashes, when the click sounds,
both on the agent's monotonic clock (segment start + position in the file)."""

import av
import numpy as np

from media import decoded_audio, manifest_of, segments_of


def flash_onsets_us(store) -> list[int]:
    """Monotonic µs of each frame where the picture turns white."""
    onsets, bright_before = [], False
    for segment in segments_of(store):
        start_us = manifest_of(segment)["start"]["mono_us"]
        with av.open(str(segment)) as container:
            for frame in container.decode(video=0):
                bright = frame.to_ndarray()[: frame.height].mean() > 200
                if bright and not bright_before:
                    onsets.append(start_us + round(float(frame.pts * frame.time_base) * 1e6))
                bright_before = bright
    return onsets


def click_onsets_us(store, rate=48_000) -> list[int]:
    """Monotonic µs where the audio envelope first reaches half the click's level."""
    onsets, last = [], None
    for segment in segments_of(store):
        start_us = manifest_of(segment)["start"]["mono_us"]
        samples, first = decoded_audio(segment)
        loud = np.flatnonzero(np.abs(samples) > 0.4)
        for i in loud:
            us = start_us + round((first + int(i)) * 1e6 / rate)
            if last is None or us - last > 500_000:
                onsets.append(us)
            last = us
    return onsets


def paired_skews_ms(store, within_us: int = 500_000) -> list[float]:
    """click - flash (ms) for every flash with a click within `within_us`."""
    clicks = click_onsets_us(store)
    skews = []
    for flash in flash_onsets_us(store):
        nearest = min(clicks, key=lambda c: abs(c - flash), default=None)
        if nearest is not None and abs(nearest - flash) < within_us:
            skews.append((nearest - flash) / 1000)
    return skews


def rig_errors_ms(report: dict) -> list[float]:
    """When each click was placed (PortAudio's playback time) against the actual capture
    time of its flash frame: the rig's own error, before the recorder is involved."""
    ticks = report["ticks_ns"]
    return [(p["dac_ns"] - ticks[p["frame"]]) / 1e6 for p in report["click"]["placed"]]
