"""Sealing what a recording cut short left on disk: after a crash or a power cut (at the next
start), or after a write failure (at once, in the same run).

A segment cut while being written is a `.partial` whose last fragment may be torn. It is
trimmed to its whole fragments, the torn bytes kept aside as `.torn` (store/recovery.py),
and sealed as *recovered*: its manifest's `recovered` object gives the cause, the size the
file was found at and the torn file's name, size and hash. What the writer would have said
of it is read back from its own boxes: the frames and audio packets of its fragments, and
where it starts on the monotonic clock (its comment tag, `start_mono_us`).

At start-up, for each session the ledger shows started but never stopped, in order:
  1. every segment the dead run wrote but did not seal is sealed, as above — unless its
     seal was cut after the manifest was written: then the seal is finished (the rename,
     the ledger entry) from that manifest, which describes the whole file; a manifest whose
     first write was cut (`.manifest.json.partial`) is set aside;
  2. a `session_stop` with the cause — `power_loss` when the device booted since,
     `crash` when only the agent died — sums the session up from what is sealed;
  3. the caller writes the `interruption` entry (agent/recording.py), from what this
     returns.
Times: the dead run's monotonic clock is gone with it; every recovered time stamp is
placed on the wall clock with the offset of the session's own `session_start` entry.
"""

import json
import logging
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..clock import CLOCK_SOURCES, TimeMapping, stamp_with
from ..evidence import entries
from ..evidence.bmff import comment, fragment_samples, media_tracks, scan_boxes, scan_file_boxes, track_info
from ..evidence.files import hash_regular
from ..evidence.history import History, SessionHistory
from ..evidence.layout import PARTIAL_SUFFIX, is_encrypted_name, manifest_path, partial_path
from ..evidence.modes import CRASH, POWER_LOSS
from ..store.disk import Store
from ..store.recovery import TORN_SUFFIX, Trimmed, set_aside, trim_partial
from .encrypted_recovery import encrypted_extent, trim_encrypted
from .sealer import ClosedSegment, Sealer

log = logging.getLogger(__name__)

START_TAG = re.compile(r"start_mono_us (\d+)")
AUDIO_FRAME = {"aac": 1024, "opus": 960}  # PCM samples per audio packet


@dataclass
class SessionFacts:
    """What sealing a segment of a session needs from the session's start entry."""

    session_id: str
    start_body: dict  # the session_start entry's body
    start_at: dict  # its time stamp
    gop_frames: int | None = None  # frames per GOP as configured (the entry does not say)

    @classmethod
    def of(cls, session: SessionHistory, gop_frames: int | None = None) -> "SessionFacts":
        return cls(session.session_id, session.start["body"], session.start["at"], gop_frames)

    def mapping(self) -> TimeMapping:
        """The wall clock as the session's start placed it (the dead run's later mappings
        died with it); a start written before format 4 states no source and no bound."""
        at = self.start_at
        source = at.get("clock") if at.get("clock") in CLOCK_SOURCES else "none"
        error_us = at.get("error_us") if source != "none" else None
        return TimeMapping(at["mono_us"] * 1000, (at["wall_us"] - at["mono_us"]) * 1000, source,
                           None if not isinstance(error_us, int) else error_us * 1000)

    def stamp(self, mono_us: int) -> dict:
        """A time stamp of the session's run, placed on the wall clock by its start."""
        return stamp_with(self.mapping(), mono_us * 1000)


@dataclass
class Recovered:
    """One segment sealed from what a cut left."""

    seq: int
    frames: int
    start_us: int
    end_us: int
    torn_bytes: int
    torn_frames: int | None  # frames in the torn fragment, when its moof survived

    def as_dict(self) -> dict:
        return {"seq": self.seq, "frames": self.frames, "torn_bytes": self.torn_bytes,
                "torn_frames": self.torn_frames}


@dataclass
class Interrupted:
    """A session a dead run left open, as this start found and closed it."""

    session: SessionHistory
    cause: str  # power_loss or crash
    end_us: int  # where its recording ends (its own run's monotonic clock)
    recovered: list[Recovered] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)  # store paths of files kept aside

    def facts(self) -> dict:
        """What the interruption entry says of it."""
        return interruption_facts(SessionFacts.of(self.session).stamp(self.end_us),
                                  [r.as_dict() for r in self.recovered], self.set_aside)

    @property
    def detail(self) -> str:
        what = ("the device lost power (it has booted again since)" if self.cause == POWER_LOSS
                else "the agent stopped without closing the recording (same boot)")
        return (f"{what}; {len(self.recovered)} segment(s) sealed from what it left"
                + (f", {len(self.set_aside)} file(s) set aside" if self.set_aside else ""))


def interruption_facts(last_recorded: dict, recovered: list[dict] | None = None,
                       set_aside: list[str] | None = None) -> dict:
    """The facts an interruption entry gives of the session it cut: where its recording ends,
    the segments sealed from what the cut left (Recovered.as_dict()), the files set aside, and
    the frames known lost (those of torn fragments whose moof survived)."""
    facts: dict = {"last_recorded": last_recorded}
    if recovered is not None:
        facts["recovered"] = recovered
        torn = [r["torn_frames"] for r in recovered if r.get("torn_frames") is not None]
        if torn:
            facts["frames_lost_at_least"] = sum(torn)
    if set_aside is not None:
        facts["set_aside"] = set_aside
    return facts


def recover_open_sessions(store: Store, sealer: Sealer, history: History, this_boot: str | None,
                          at: dict, gop_frames: int | None = None) -> list[Interrupted]:
    """Seal and close every session a dead run left open; entries go through the sealer, in
    order, the session_stops dated `at` (now). Returns what was found, oldest first."""
    found = []
    for session in history.open_sessions:
        run = history.runs[session.run] if 0 <= session.run < len(history.runs) else None
        dead_boot = run.boot_id if run is not None else None
        cause = POWER_LOSS if dead_boot and this_boot and dead_boot != this_boot else CRASH
        facts = SessionFacts.of(session, gop_frames)
        cut = Interrupted(session, cause, session.end_mono_us or session.start["at"]["mono_us"])
        _seal_what_is_left(store, sealer, session, facts, cut)
        frames = sum(s["frames"] for s in session.segments) + sum(r.frames for r in cut.recovered)
        count = len(session.segments) + len(cut.recovered)
        first = (session.segments[0]["start_mono_us"] if session.segments
                 else cut.recovered[0].start_us if cut.recovered else cut.end_us)
        sealer.record("session_stop",
                      entries.session_stop(session.session_id, cause, count, frames, cut.end_us - first,
                                           end=facts.stamp(cut.end_us), marks=session.marks),
                      at)
        found.append(cut)
    return found


def _seal_what_is_left(store: Store, sealer: Sealer, session: SessionHistory, facts: SessionFacts,
                       cut: Interrupted):
    directory = store.session_dir(session.session_id)
    if not directory.is_dir():
        return
    sealed = {s["seq"] for s in session.segments}
    for half_torn in sorted(directory.glob(f"*{TORN_SUFFIX}.partial")):  # recovery itself was cut
        cut.set_aside.append(store.relative(set_aside(half_torn)))
    for seq in sorted(_unsealed_seqs(directory, sealed)):
        final = segment_final(store, session.session_id, seq)
        half_manifest = partial_path(manifest_path(final))
        if half_manifest.exists():  # its first write was cut: never a manifest
            cut.set_aside.append(store.relative(set_aside(half_manifest)))
        finished = _finish_seal(store, sealer, facts, seq, session.last_seq + len(cut.recovered), cut.set_aside)
        if finished is None:
            finished = seal_cut_segment(store, sealer, facts, seq, session.last_seq + len(cut.recovered),
                                        cut.cause, cut.end_us, cut.set_aside)
        if finished is not None:
            cut.recovered.append(finished)
            cut.end_us = finished.end_us


def _finish_seal(store: Store, sealer: Sealer, facts: SessionFacts, seq: int, last_sealed_seq: int,
                 set_aside_list: list[str]) -> Recovered | None:
    """A segment whose seal a crash cut after its manifest was written: the manifest is the
    device's own and describes the whole file, so the seal is finished as it would have
    been (the file was closed and synced before it was hashed). None when there is no such
    manifest, or it does not describe the file (set aside: then the file is recovered)."""
    final = segment_final(store, facts.session_id, seq)
    manifest = manifest_path(final)
    if not manifest.exists():
        return None
    media = final if final.exists() else partial_path(final)
    try:
        sealed = json.loads(manifest.read_bytes())
        describes = (media.exists() and seq == last_sealed_seq + 1
                     and hash_regular(media) == (sealed["file"]["size"], sealed["file"]["sha256"]))
    except (OSError, ValueError, KeyError, TypeError):
        describes = False
    if not describes:
        set_aside_list.append(store.relative(set_aside(manifest)))
        return None
    sealer.finish(final)
    return Recovered(seq, sealed["video"]["frames"], sealed["start"]["mono_us"], sealed["end"]["mono_us"], 0, None)


def _unsealed_seqs(directory: Path, sealed: set[int]) -> set[int]:
    seqs = set()
    for path in directory.iterdir():
        number = path.name.split(".", 1)[0]
        if number.isdigit() and int(number) not in sealed and TORN_SUFFIX not in path.name:
            seqs.add(int(number))
    return seqs


def seal_cut_segment(store: Store, sealer: Sealer, facts: SessionFacts, seq: int, last_sealed_seq: int,
                     cause: str, previous_end_us: int | None, set_aside_list: list[str]) -> Recovered | None:
    """Trim a session's cut `.partial` and submit it to the sealer as recovered; returns what
    it holds, or None when nothing of it could be sealed (set aside whole, or not placeable).
    Store paths of the files set aside are added to set_aside_list."""
    final = segment_final(store, facts.session_id, seq)
    partial = partial_path(final)
    if not partial.exists():
        return None
    if seq != last_sealed_seq + 1:  # a gap would fail verification: keep it as found, whole
        log.error("%s: segment %d is missing before it; set aside whole", store.relative(partial), seq - 1)
        set_aside_list.append(store.relative(set_aside(partial)))
        return None
    if is_encrypted_name(final.name):
        return _seal_cut_encrypted(store, sealer, facts, seq, cause, partial, set_aside_list)
    trimmed = trim_partial(partial)
    if trimmed.torn is not None:
        set_aside_list.append(store.relative(trimmed.torn))
    if trimmed.kept == 0:
        return None
    moov, tracks, tagged_start_us = _read_placed(trimmed.path)  # before the sealer renames it away
    start_us = tagged_start_us if tagged_start_us is not None else previous_end_us
    closed = _closed_segment(store, facts, seq, trimmed, cause, tracks, start_us)
    if closed is None:
        set_aside_list.append(store.relative(set_aside(partial)))
        return None
    torn_frames = _torn_frames(trimmed, moov)
    sealer.seal(closed)
    return Recovered(seq, closed.video["frames"], closed.start_us, closed.end_us, trimmed.torn_size, torn_frames)


def _seal_cut_encrypted(store: Store, sealer: Sealer, facts: SessionFacts, seq: int, cause: str, partial: Path,
                        set_aside_list: list[str]) -> Recovered | None:
    """An encrypted segment: trimmed and described by its fragment index, never read
    (seal/encrypted_recovery.py)."""
    found = trim_encrypted(partial, set_aside_list, store.relative)
    if found is None:
        return None
    trimmed, prefix = found
    closed = _closed_segment(store, facts, seq, trimmed, cause, prefix.tracks(), prefix.header.get("start_mono_us"),
                             final=_final_of_partial(partial))
    if closed is None:
        set_aside_list.append(store.relative(set_aside(partial)))
        return None
    closed.encrypted = prefix.encrypted_facts(partial)
    sealer.seal(closed)
    return Recovered(seq, closed.video["frames"], closed.start_us, closed.end_us, trimmed.torn_size, None)


def _final_of_partial(partial: Path) -> Path:
    return partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))


def segment_final(store: Store, session_id: str, seq: int) -> Path:
    """A segment's sealed name: encrypted (`.mp4.age`) when that is what was written."""
    encrypted = store.segment_path(session_id, seq, encrypted=True)
    if encrypted.exists() or partial_path(encrypted).exists():
        return encrypted
    return store.segment_path(session_id, seq)


def _read_placed(path: Path) -> tuple[bytes | None, dict, int | None]:
    """(moov payload, media tracks, start in monotonic µs from its comment tag) of a segment
    file, from its own boxes."""
    with open(path, "rb") as f:
        tracks = media_tracks(f)
        moov = _moov(f)
    tag = START_TAG.search(comment(moov) or "") if moov else None
    return moov, tracks, int(tag.group(1)) if tag else None


def _closed_segment(store: Store, facts: SessionFacts, seq: int, trimmed: Trimmed, cause: str,
                    tracks: dict, start_us: int | None, final: Path | None = None) -> ClosedSegment | None:
    """What the writer would have said of the segment, read back from its own boxes."""
    body = facts.start_body
    video_track = tracks.get("vide")
    if start_us is None or not video_track or not video_track["samples"] or video_track["duration_us"] is None:
        log.error("%s: cannot be placed on the clock; set aside", store.relative(trimmed.path))
        return None
    video = body.get("video") or {}
    audio_config, audio_track = body.get("audio"), tracks.get("soun")
    audio = None
    if audio_config and audio_track:
        audio = {**audio_config, "packets": audio_track["samples"],
                 "samples": audio_track["samples"] * AUDIO_FRAME.get(audio_config.get("codec"), 1024),
                 "first_mono_us": None}
    prerecord = None
    if seq == 1:
        kept = body.get("prerecord") or {}
        prerecord = {"configured_s": kept.get("configured_s"), "audio": kept.get("audio"),
                     "span_us": max(0, facts.start_at["mono_us"] - start_us)}
    end_us = start_us + video_track["duration_us"]
    return ClosedSegment(
        session_id=facts.session_id, officer_id=body.get("officer_id", ""), seq=seq,
        final_path=final or store.segment_path(facts.session_id, seq), start_us=start_us, end_us=end_us,
        video={**{k: video[k] for k in ("codec", "width", "height", "frame_rate") if k in video},
               "gop_frames": facts.gop_frames or int(Fraction(video.get("frame_rate", "30/1"))),
               "frames": video_track["samples"]},
        audio=audio, prerecord=prerecord,
        start_stamp=facts.stamp(start_us), end_stamp=facts.stamp(end_us), clock=[facts.mapping().record()],
        track=entries.track("unknown", [], status="unknown",
                            note="sealed after the run that recorded it ended: its track died with that run"),
        recovered={"cause": cause, "found_size": trimmed.original_size,
                   "torn": None if trimmed.torn is None else {
                       "name": trimmed.torn.name, "size": trimmed.torn_size, "sha256": trimmed.torn_sha256}},
    )


def written_extent(path: Path) -> tuple[int, int] | None:
    """(start, end) in monotonic µs of the whole fragments a segment file holds, from its
    own boxes (an encrypted one's: from its fragment index); None when it cannot be placed."""
    if is_encrypted_name(path.name.removesuffix(PARTIAL_SUFFIX)):
        return encrypted_extent(path)
    try:
        _, tracks, start_us = _read_placed(path)
    except OSError:
        return None
    video = tracks.get("vide")
    if start_us is None or not video or video["duration_us"] is None:
        return None
    return start_us, start_us + video["duration_us"]


def _moov(f) -> bytes | None:
    size = os.fstat(f.fileno()).st_size
    for box in scan_file_boxes(f, size):
        if box.kind == b"moov" and box.offset + box.size <= size:
            f.seek(box.offset)
            return f.read(box.size)[8:]
    return None


def _torn_frames(trimmed: Trimmed, moov: bytes | None) -> int | None:
    """Video samples of the torn fragment, when its moof was written whole."""
    if trimmed.torn is None or trimmed.kept == 0:
        return None
    tail = trimmed.torn.read_bytes()
    handlers = {track: handler for track, (handler, _) in track_info(moov).items()} if moov else {}
    for box in scan_boxes(tail):
        if box.kind == b"moof" and box.offset + box.size <= len(tail):
            counts = fragment_samples(tail[box.offset + 8: box.offset + box.size])
            return sum(n for track, (n, _) in counts.items() if handlers.get(track) == "vide")
    return None

