"""The supervisor's report (`recorder report`): per shift, what was recorded and what cut it.

Regulation art. 8: interruptions of recording are explained by the officer on resuming,
and the unit head learns at once of a device that cannot continue. This report gives a
supervisor, per shift: hours recorded; every interruption with its cause, when recording
stopped and resumed, how long it was cut, the frames known lost; whether an explanation
window followed and whether speech was heard in it; the `unrecoverable` events; the
warnings the officer was given (battery, storage).

A *shift* is a run of agent starts with no gap of `gap_hours` (default 4) between the end
of one and the start of the next: a body camera is docked or switched off between shifts.
The report reads the ledger only, and uses only entries whose signature verifies with the
device key (given, or the store's own); it does not hash the media — `recorder verify`
does that.
"""

from dataclasses import dataclass, field
from pathlib import Path

from .history import History
from .trusted import signed_history

DEFAULT_GAP_HOURS = 4


@dataclass
class Shift:
    runs: list = field(default_factory=list)  # RunHistory
    start_us: int = 0  # wall time of its first entry
    end_us: int = 0  # of its last


def shift_report(store_root, public_key_path: Path | None = None, gap_hours: float = DEFAULT_GAP_HOURS) -> dict:
    signed = signed_history(store_root, public_key_path)
    history = signed.history
    shifts = _shifts(history, gap_hours * 3600 * 1_000_000)
    return {
        "store": str(signed.store.root),
        "key_source": signed.key_source,
        "entries": len(signed.text.lines),
        "untrusted_entries": signed.rejected,  # signature does not verify: left out of the report
        "shifts": [_shift(history, shift) for shift in shifts],
        "unrecoverable": [_unrecoverable(e) for e in history.unrecoverable],
    }


def _shifts(history: History, gap_us: int) -> list[Shift]:
    shifts: list[Shift] = []
    for run in history.runs:
        start = run.start["at"]["wall_us"]
        end = (run.last or run.start)["at"]["wall_us"]
        if not shifts or start - shifts[-1].end_us > gap_us:
            shifts.append(Shift(start_us=start, end_us=end))
        shifts[-1].runs.append(run)
        shifts[-1].end_us = max(shifts[-1].end_us, end)
    return shifts


def _in(shift: Shift, wall_us: int) -> bool:
    return shift.start_us <= wall_us <= shift.end_us


def _shift(history: History, shift: Shift) -> dict:
    runs = {id(run) for run in shift.runs}
    sessions = [s for s in history.sessions.values() if id(history.runs[s.run]) in runs]
    recorded_us = sum(s.stop["body"]["duration_us"] for s in sessions if s.stop is not None)
    interruptions = [_interruption(history, ref, entry) for ref, entry in history.interruptions
                     if _belongs(history, entry, sessions, shift)]
    return {
        "start": _wall(shift.start_us),
        "end": _wall(shift.end_us),
        "runs": len(shift.runs),
        "sessions": len(sessions),
        "recorded_s": round(recorded_us / 1e6, 1),
        "recorded_hours": round(recorded_us / 3.6e9, 3),
        "interruptions": interruptions,
        "unexplained": sum(1 for i in interruptions if i["session_id"] and not i["explained"]),
        "warnings": [{"at": e["at"]["wall"], "kind": e["body"]["kind"], "level": e["body"]["level"],
                      "detail": e["body"]["detail"]} for e in history.warnings if _in(shift, e["at"]["wall_us"])],
        "unrecoverable": [_unrecoverable(e) for e in history.unrecoverable if _in(shift, e["at"]["wall_us"])],
    }


def _belongs(history: History, entry: dict, sessions: list, shift: Shift) -> bool:
    sid = entry["body"].get("session_id")
    if sid is not None and sid in history.sessions:
        return history.sessions[sid] in sessions
    return _in(shift, entry["at"]["wall_us"])


def _interruption(history: History, ref: str, entry: dict) -> dict:
    body = entry["body"]
    sid = body.get("session_id")
    cut = history.sessions.get(sid) if sid else None
    stopped = body.get("last_recorded") or (cut.stop["body"]["end"] if cut is not None and cut.stop else entry["at"])
    resumed_by = history.sessions.get(cut.resumed_by) if cut is not None and cut.resumed_by else None
    resumed = resumed_by.start["at"] if resumed_by is not None else None
    explanations = [e for e in history.explanations if e["body"]["interruption"] == ref]
    spoke = any(e["body"]["spoke"] for e in explanations)
    lost = body.get("frames_lost_at_least")
    recovered = body.get("recovered") or []
    torn = [r.get("torn_frames") for r in recovered if isinstance(r, dict) and r.get("torn_frames") is not None]
    if lost is None and torn:
        lost = sum(torn)
    return {
        "entry": ref,
        "cause": body["cause"],
        "detail": body["detail"],
        "session_id": sid,
        "stopped": stopped["wall"],
        "resumed": resumed["wall"] if resumed else None,
        "length_s": round((resumed["wall_us"] - stopped["wall_us"]) / 1e6, 1) if resumed else None,
        "frames_lost": lost,  # known lower bound (torn fragments); None: none known
        "recovered_segments": len(recovered),
        "resumed_by": cut.resumed_by if cut is not None else None,
        "explanation": bool(explanations),
        "speech_s": round(max((e["body"]["speech_ms"] for e in explanations), default=0) / 1000, 1),
        "explained": spoke,
    }


def _unrecoverable(entry: dict) -> dict:
    body = entry["body"]
    return {"at": entry["at"]["wall"], "cause": body["cause"], "detail": body["detail"], "attempts": body["attempts"]}


def _wall(wall_us: int) -> str:
    from ..clock import iso_utc

    return iso_utc(wall_us * 1000)


# The report's lines in each language the officers' prompts have (zh-CN first: the default).
TEXTS = {
    "zh-CN": {
        "store": "存储：{store}", "ledger": "账本：{entries} 条记录",
        "untrusted": "警告：{n} 条签名无法验证的记录未计入：请运行 `recorder verify`",
        "shift": "第 {number} 班：{start} – {end}：录像 {hours:.2f} 小时，{sessions} 段录像，{runs} 次运行",
        "resumed": "{resumed} 恢复，中断 {length} 秒", "not_resumed": "未恢复",
        "lost": "已知丢失 {frames} 帧", "none_lost": "无已知丢帧",
        "idle": "当时未在录像", "no_window": "无说明窗口",
        "explained": "已说明（语音 {speech} 秒）", "unexplained": "未说明（窗口内未检测到语音）",
        "interruption": "  中断（{cause}）：{stopped} 停止，{resumed}；{lost}；{said}",
        "warning": "  警告（{kind}，{level}）{at}：{detail}",
        "unrecoverable": "  无法继续 {at}：{detail} — 请立即报告单位负责人",
        "unexplained_count": "  {n} 次中断未说明", "no_runs": "账本中没有运行记录",
    },
    "en": {
        "store": "store: {store}", "ledger": "ledger: {entries} entries",
        "untrusted": "WARNING: {n} entries whose signature does not verify were left out: run `recorder verify`",
        "shift": "shift {number}: {start} – {end}: {hours:.2f} h recorded in {sessions} session(s), {runs} agent run(s)",
        "resumed": "resumed {resumed} after {length} s", "not_resumed": "not resumed",
        "lost": "{frames} frame(s) known lost", "none_lost": "no frame known lost",
        "idle": "nothing was recording", "no_window": "NO EXPLANATION WINDOW",
        "explained": "explained ({speech} s of speech)", "unexplained": "NOT EXPLAINED (no speech in the window)",
        "interruption": "  interruption ({cause}): stopped {stopped}, {resumed}; {lost}; {said}",
        "warning": "  warning ({kind}, {level}) {at}: {detail}",
        "unrecoverable": "  UNRECOVERABLE {at}: {detail} — tell the unit head",
        "unexplained_count": "  {n} interruption(s) without an explanation", "no_runs": "no agent runs in this ledger",
    },
}
LANGUAGES = tuple(TEXTS)


def report_text(report: dict, language: str = "zh-CN") -> str:
    """The report as a supervisor reads it (zh-CN or en; the ledger's own words — causes,
    details — are quoted as they are)."""
    t = TEXTS[language]
    lines = [t["store"].format(store=report["store"]), t["ledger"].format(entries=report["entries"])]
    if report["untrusted_entries"]:
        lines.append(t["untrusted"].format(n=len(report["untrusted_entries"])))
    for number, shift in enumerate(report["shifts"], start=1):
        lines.append(t["shift"].format(number=number, start=shift["start"], end=shift["end"],
                                       hours=shift["recorded_hours"], sessions=shift["sessions"], runs=shift["runs"]))
        for cut in shift["interruptions"]:
            lines.append(t["interruption"].format(cause=cut["cause"], stopped=cut["stopped"], resumed=_resumed(t, cut),
                                                  lost=_lost(t, cut), said=_said(t, cut)))
        for warning in shift["warnings"]:
            lines.append(t["warning"].format(**warning))
        for event in shift["unrecoverable"]:
            lines.append(t["unrecoverable"].format(**event))
        if shift["unexplained"]:
            lines.append(t["unexplained_count"].format(n=shift["unexplained"]))
    if not report["shifts"]:
        lines.append(t["no_runs"])
    return "\n".join(lines)


def _resumed(t: dict, cut: dict) -> str:
    return t["resumed"].format(resumed=cut["resumed"], length=cut["length_s"]) if cut["resumed"] else t["not_resumed"]


def _lost(t: dict, cut: dict) -> str:
    return t["lost"].format(frames=cut["frames_lost"]) if cut["frames_lost"] else t["none_lost"]


def _said(t: dict, cut: dict) -> str:
    if cut["session_id"] is None:
        return t["idle"]
    if not cut["explanation"]:
        return t["no_window"]
    return t["explained"].format(speech=cut["speech_s"]) if cut["explained"] else t["unexplained"]
