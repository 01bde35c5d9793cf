"""The dock's shift report as a clerk reads it, in zh-CN (the default) or en: per device a
block of labelled lines (labels aligned by display width: a Chinese character takes two),
its offloads, releases and sessions, then its shifts in the words of `recorder report`
(evidence/shifts.py). Codes, paths and the dock's details are quoted as they are."""

import unicodedata

from ..evidence.shifts import report_text as shifts_text

TEXTS = {
    "zh-CN": {
        "title": "采集站 {dock} 班次报告（{at}；录像结束后 {hours:g} 小时内未上传即为逾期）",
        "since": "自 {since} 起", "device": "设备 {device_id}",
        "held": "已见证账本", "held_value": "{held}（{entries} 条记录）", "nothing_held": "无（尚未见证任何记录）",
        "untrusted": "签名无效", "untrusted_value": "{n} 条记录签名无法验证，未计入",
        "store": "采集站副本", "store_value": "{files} 个文件，{bytes} 字节；账本列出 {named} 个，缺 {missing} 个",
        "last": "最近上传", "last_value": "{at}（{hours} 小时前）", "never": "从未完成上传",
        "overdue": "逾期", "overdue_yes": "是：有录像结束超过 {hours:g} 小时仍未上传完成", "overdue_no": "否",
        "late": "迟交录像", "late_value": "{n} 段",
        "offload": "  上传 {started} – {ended}：{outcome}", "unfinished": "未完成（连接中断或仍在进行）",
        "receipt_outcome": "已出具回执", "refused_outcome": "被拒绝",
        "witnessed": "    见证账本至 {head}（新增 {entries} 条）",
        "received": "    接收 {files} 个文件，{bytes} 字节",
        "receipt": "    回执 {name}：{files} 个文件（录像 {media_files} 个），{bytes} 字节；"
                   "存于本地 {local} 个、S3 {s3} 个；锁定 {locked} 个、未锁定 {unlocked} 个",
        "withheld": "    未出具回执：录像段 {session_id}（{codes}）— 留在设备上待人工处理",
        "withheld_ledger": "    账本无法验证（{codes}）— 全部留在设备上待人工处理",
        "refused": "    拒绝 [{code}]：{detail} — 留在设备上待人工处理",
        "release": "  设备确认释放（账本第 {entry} 条，{at}）：{files} 个文件，{bytes} 字节，依据回执 {receipt}",
        "unknown_receipt": "非本站出具的回执 {sha}…",
        "session": "  录像段 {session_id}：{start} – {end}；{files} 个文件，已接收 {held}，已回执 {receipted}{when}，"
                   "已释放 {released}{flags}",
        "session_when": "（{at}）", "flag_overdue": "；逾期未上传", "flag_late": "；迟交",
        "flag_interrupted": "；中断过", "flag_marks": "；{n} 个标记",
        "shifts": "  班次（采集站的账本副本）：", "no_devices": "采集站尚未收到任何设备的数据",
    },
    "en": {
        "title": "dock {dock} shift report ({at}; overdue: not offloaded within {hours:g} h of the recording's end)",
        "since": "since {since}", "device": "device {device_id}",
        "held": "ledger witnessed", "held_value": "{held} ({entries} entries)",
        "nothing_held": "none (nothing witnessed)",
        "untrusted": "bad signatures", "untrusted_value": "{n} entries whose signature does not verify, left out",
        "store": "dock's copy", "store_value": "{files} files, {bytes} B; the ledger names {named}, {missing} missing",
        "last": "last offload", "last_value": "{at} ({hours} h ago)", "never": "never completed",
        "overdue": "overdue", "overdue_yes": "YES: a recording ended more than {hours:g} h ago is not offloaded",
        "overdue_no": "no", "late": "late sessions", "late_value": "{n}",
        "offload": "  offload {started} – {ended}: {outcome}", "unfinished": "unfinished (link cut, or still running)",
        "receipt_outcome": "receipted", "refused_outcome": "REFUSED",
        "witnessed": "    ledger witnessed up to {head} ({entries} new entries)",
        "received": "    received {files} file(s), {bytes} B",
        "receipt": "    receipt {name}: {files} file(s) ({media_files} media), {bytes} B; stored local {local}, "
                   "S3 {s3}; locked {locked}, not locked {unlocked}",
        "withheld": "    WITHHELD: session {session_id} ({codes}) — kept on the device for manual handling",
        "withheld_ledger": "    the ledger does not verify ({codes}) — everything kept on the device for manual "
                           "handling",
        "refused": "    REFUSED [{code}]: {detail} — kept on the device for manual handling",
        "release": "  released by the device (ledger entry {entry}, {at}): {files} file(s), {bytes} B, "
                   "under receipt {receipt}",
        "unknown_receipt": "a receipt this dock did not issue {sha}…",
        "session": "  session {session_id}: {start} – {end}; {files} file(s), {held} received, {receipted} receipted"
                   "{when}, {released} released{flags}",
        "session_when": " ({at})", "flag_overdue": "; OVERDUE", "flag_late": "; late",
        "flag_interrupted": "; interrupted", "flag_marks": "; {n} mark(s)",
        "shifts": "  shifts (the dock's copy of the ledger):", "no_devices": "the dock has received nothing yet",
    },
}
LANGUAGES = tuple(TEXTS)


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def report_text(report: dict, language: str = "zh-CN") -> str:
    t = TEXTS[language]
    title = t["title"].format(dock=report["dock"], at=report["at"], hours=report["overdue_hours"])
    if report["since"]:
        title += " " + t["since"].format(since=report["since"])
    lines = [title]
    for device in report["devices"]:
        lines += _device(t, device, report["overdue_hours"], language)
    if not report["devices"]:
        lines.append(t["no_devices"])
    return "\n".join(lines)


def _device(t: dict, d: dict, hours: float, language: str) -> list[str]:
    store = d["store"]
    rows = [(t["held"], t["held_value"].format(held=d["held"], entries=d["entries"]) if d["held"]
             else t["nothing_held"]),
            (t["store"], t["store_value"].format(files=store["files"], bytes=store["bytes"], named=store["named"],
                                                 missing=len(store["missing"])))]
    if d["untrusted_entries"]:
        rows.append((t["untrusted"], t["untrusted_value"].format(n=len(d["untrusted_entries"]))))
    rows.append((t["last"], t["last_value"].format(at=d["last_offload"], hours=d["hours_since_offload"])
                 if d["last_offload"] else t["never"]))
    rows.append((t["overdue"], t["overdue_yes"].format(hours=hours) if d["overdue"] else t["overdue_no"]))
    rows.append((t["late"], t["late_value"].format(n=d["late_sessions"])))
    column = max(width(label) for label, _ in rows)
    lines = ["", t["device"].format(device_id=d["device_id"])]
    lines += [f"  {label}{' ' * (column - width(label))}  {value}" for label, value in rows]
    for offload in d["offloads"]:
        lines += _offload(t, offload)
    names = {r["sha256"]: r["name"] for r in d["receipts"]}
    for release in d["releases"]:
        sha = release["receipt_sha256"]
        receipt = names.get(sha) or t["unknown_receipt"].format(sha=sha[:16])
        lines.append(t["release"].format(entry=release["entry"], at=release["at"], files=release["files"],
                                         bytes=release["bytes"], receipt=receipt))
    for s in d["sessions"]:
        flags = (t["flag_overdue"] if s["overdue"] else t["flag_late"] if s["late"] else "") \
            + (t["flag_interrupted"] if s["interrupted"] else "") \
            + (t["flag_marks"].format(n=s["marks"]) if s["marks"] else "")
        when = t["session_when"].format(at=s["receipted_at"]) if s["receipted_at"] else ""
        lines.append(t["session"].format(when=when, flags=flags, session_id=s["session_id"], start=s["start"],
                                         end=s["end"], files=s["files"], held=s["held"], receipted=s["receipted"],
                                         released=s["released"]))
    if d["shifts"] or d["unrecoverable"]:
        lines.append(t["shifts"])
        shifts = shifts_text({"store": d["device_id"], "entries": d["entries"], "untrusted_entries": [],
                              "shifts": d["shifts"], "unrecoverable": d["unrecoverable"]}, language)
        lines += ["    " + line for line in shifts.splitlines()[2:]]  # past the store and ledger lines: said above
    return lines


def _offload(t: dict, o: dict) -> list[str]:
    outcome = {"receipt": t["receipt_outcome"], "refused": t["refused_outcome"]}.get(o["outcome"], t["unfinished"])
    lines = [t["offload"].format(started=o["started"], ended=o["ended"] or "…", outcome=outcome)]
    for w in o["witnessed"]:
        lines.append(t["witnessed"].format(head=w["head"], entries=w["entries"]))
    if o["received"]["files"]:
        lines.append(t["received"].format(**o["received"]))
    if o["receipt"]:
        lines.append(t["receipt"].format(**{**o["receipt"], **o["receipt"]["stored"]}))
    for w in o["withheld"]:
        lines.append(t["withheld"].format(session_id=w["session_id"], codes=", ".join(w["codes"])))
    if o["withheld_ledger"]:
        lines.append(t["withheld_ledger"].format(codes=", ".join(sorted({p["code"] for p in o["withheld_ledger"]}))))
    for r in o["refusals"]:
        lines.append(t["refused"].format(code=r.get("code"), detail=r.get("detail")))
    return lines
