"""The access log as a clerk reads it (`recorder dock audit`): who, when, why, what, and the
verdict, in zh-CN (the default) or en; columns aligned by display width (a Chinese character
takes two). The problems' details stay in English after the clerk's words for each."""

import unicodedata

from .audit_check import AuditReport

LANGUAGES = ("zh-CN", "en")
TEXTS = {
    "zh-CN": {
        "title": "执法记录仪接收站访问日志：{path}",
        "headings": ("序号", "时间（UTC）", "申请人", "操作", "对象", "结果", "事由"),
        "actions": {"export": "导出", "view": "查看", "repair": "修复"},
        "statuses": {"granted": "批准", "refused": "拒绝", "done": "完成", "failed": "失败"},
        "whole": "整个会话",
        "set_aside": "第 {line} 行：一次中断的写入，已由修复记录留存（未计入）",
        "unfinished": "第 {index} 号批准之后没有完成或失败记录：该次导出中断，其文件未经核对，不得使用",
        "empty": "（尚无记录）",
        "ok": "日志完整：{n} 条记录，签名、哈希链和序号均有效。末条：{head}",
        "bad": "日志不完整：发现 {n} 处问题（上列各行）",
        "heads": "已核对的记录头：{heads}",
        "line": "第 {line} 行",
        "whole_log": "日志",
        "problems": {
            "unparsable": "不是 JSON 对象", "not-canonical": "内容被改动（非规范格式）",
            "malformed": "格式不符", "bad-signature": "签名无效",
            "index": "序号不连续", "chain-broken": "哈希链断开", "torn-line": "末行写入中断",
            "grant": "完成记录无对应批准", "head-missing": "日志末尾被截断",
            "head-mismatch": "日志被改写",
        },
    },
    "en": {
        "title": "Dock access log: {path}",
        "headings": ("#", "time (UTC)", "requester", "action", "subject", "result", "reason"),
        "actions": {"export": "export", "view": "view", "repair": "repair"},
        "statuses": {"granted": "granted", "refused": "refused", "done": "done", "failed": "failed"},
        "whole": "whole session",
        "set_aside": "line {line}: an append cut short, kept as found and named by a repair entry (not counted)",
        "unfinished": "grant {index} has no done or failed entry after it: that export was interrupted, and "
                      "whatever it wrote was never checked: do not use it",
        "empty": "(no entries yet)",
        "ok": "The log verifies: {n} entries, signatures, hash chain and indexes intact. Last entry: {head}",
        "bad": "THE LOG DOES NOT VERIFY: {n} problem(s) (lines listed above)",
        "heads": "heads checked: {heads}",
        "line": "line {line}",
        "whole_log": "the log",
        "problems": {
            "unparsable": "not a JSON object", "not-canonical": "edited (not canonical)",
            "malformed": "malformed", "bad-signature": "bad signature",
            "index": "indexes not consecutive", "chain-broken": "hash chain broken", "torn-line": "torn last line",
            "grant": "no grant for this completion", "head-missing": "entries cut from the end",
            "head-mismatch": "log rewritten",
        },
    },
}


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def audit_text(report: AuditReport, path, language: str = "zh-CN") -> str:
    t = TEXTS[language]
    rows = [list(t["headings"])] + [_row(entry, t) for _, entry, _ in report.entries]
    notes = [None] + [_dict(entry.get("result")).get("why") for _, entry, _ in report.entries]
    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [t["title"].format(path=path)]
    for row, why in zip(rows, notes):
        lines.append("  ".join(pad(cell, w) for cell, w in zip(row, widths)) + "  " + row[-1])
        if why:
            lines.append(f"{' ' * widths[0]}  ↳ {why}")
    if not report.entries:
        lines.append(t["empty"])
    lines += [t["set_aside"].format(line=n) for n in report.set_aside]
    lines += [t["unfinished"].format(index=n) for n in report.unfinished]
    for problem in report.problems:
        where = t["line"].format(line=problem.line) if problem.line is not None else t["whole_log"]
        words = t["problems"].get(problem.code, problem.code)
        lines.append(f"{where}: {words} ({problem.code}) — {problem.detail}")
    if report.heads_checked:
        lines.append(t["heads"].format(heads=", ".join(report.heads_checked)))
    lines.append(t["ok"].format(n=len(report.entries), head=report.head or "-") if report.ok
                 else t["bad"].format(n=len(report.problems)))
    return "\n".join(lines)


def _row(entry: dict, t: dict) -> list[str]:
    subject, result = _dict(entry.get("subject")), _dict(entry.get("result"))
    if entry.get("action") == "repair":
        what = f"line {subject.get('line')} ({subject.get('size')} B)"
    else:
        seq = subject.get("seq")
        what = f"{subject.get('device_id')} / {str(subject.get('session_id'))[:12]} / " + \
            (t["whole"] if seq is None else f"#{seq}")
    status = t["statuses"].get(result.get("status"), str(result.get("status")))
    if "bytes" in result:
        status += f" ({result['bytes']} B)"
    at = str(entry.get("at", ""))
    return [str(entry.get("index")), f"{at[:10]} {at[11:19]}", str(entry.get("requester")),
            t["actions"].get(entry.get("action"), str(entry.get("action"))), what, status, str(entry.get("reason"))]


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}
