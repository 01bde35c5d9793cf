"""The report as a technician reads it: one line per check — name, status, what was
measured, what to do — in zh-CN or en, columns aligned by display width (a Chinese character
takes two); or as JSON with the same lines and the numbers behind them."""

import unicodedata

from .results import LANGUAGES, Text, counts, failed

NAMES = {
    "clock": Text("时钟", "clock"), "keys": Text("密钥", "keys"), "certificates": Text("证书", "certificates"),
    "storage.space": Text("存储空间", "storage space"), "storage.write": Text("存储写入", "storage write"),
    "storage.partition": Text("数据分区", "data partition"), "battery": Text("电池", "battery"),
    "camera": Text("摄像头", "camera"), "microphone": Text("麦克风", "microphone"),
    "speaker": Text("扬声器", "speaker"), "gnss": Text("卫星定位", "GNSS"),
    "button.record": Text("录像键", "RECORD button"), "button.mark": Text("标记键", "MARK button"),
    "button.trigger": Text("触发器", "trigger input"),
    "cue.green": Text("绿灯", "green LED"), "cue.red": Text("红灯", "red LED"), "cue.amber": Text("黄灯", "amber LED"),
    "cue.buzzer": Text("蜂鸣器", "buzzer"), "cue.vibration": Text("振动马达", "vibration"),
    "cues": Text("提示输出", "cues"), "buttons": Text("按键", "buttons"),
}
HEADINGS = Text("检查|结果|测量值|处理", "check|result|measured|what to do")
SUMMARY = {True: Text("不合格：{FAIL} 项失败，{WARN} 项警告", "NOT FIT: {FAIL} failed, {WARN} warning(s)"),
           False: Text("合格：{PASS} 项通过，{WARN} 项警告，{SKIP} 项跳过",
                       "FIT: {PASS} passed, {WARN} warning(s), {SKIP} skipped")}
TITLE = Text("recorder 自检（{what}）", "recorder self-test ({what})")
NOT_PROVISIONED = Text("未配发", "not provisioned")
WHAT = {True: Text("模拟设备", "simulated body"), False: Text("设备：{device}", "device: {device}")}


def name_of(check: str, language: str) -> str:
    return NAMES.get(check, Text(check, check)).in_language(language)


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def text_report(report, language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r}: one of {', '.join(LANGUAGES)}")
    device = report.device_id or NOT_PROVISIONED.in_language(language)
    what = WHAT[report.simulated].in_language(language).format(device=device)
    rows = [HEADINGS.in_language(language).split("|")]
    rows += [[name_of(r.check, language), r.status, r.value.in_language(language), r.action.in_language(language)]
             for r in report.results]
    name_w, status_w = (max(width(row[i]) for row in rows) for i in (0, 1))
    lines = [TITLE.in_language(language).format(what=what)]
    for name, status, value, action in rows:
        line = f"{pad(name, name_w)}  {pad(status, status_w)}  {value}"
        lines.append(f"{line}  → {action}" if action else line)
    lines.append(SUMMARY[failed(report.results)].in_language(language).format(**counts(report.results)))
    return "\n".join(lines)


def json_report(report, language: str) -> dict:
    """{"ok", "simulated", "device_id", "language", "counts", "checks": [{"check", "name",
    "status", "value", "action", "measured"}]}: `check` and `measured` are language-neutral."""
    return {
        "ok": not failed(report.results),
        "simulated": report.simulated,
        "device_id": report.device_id,
        "language": language,
        "counts": counts(report.results),
        "checks": [{"check": r.check, "name": name_of(r.check, language), "status": r.status,
                    "value": r.value.in_language(language), "action": r.action.in_language(language),
                    "measured": r.measured} for r in report.results],
    }

