"""What a check found: its status, what it measured (in words, in both languages, and as
numbers for --json), and what the technician does about it.

Statuses, worst first: FAIL (the part is broken or missing: the device is not fit to be
issued), WARN (it works, but look at it), PASS, SKIP (not fitted or not configured).
"""

from dataclasses import dataclass, field

FAIL, WARN, PASS, SKIP = "FAIL", "WARN", "PASS", "SKIP"
STATUSES = (FAIL, WARN, PASS, SKIP)
LANGUAGES = ("zh-CN", "en")


@dataclass(frozen=True)
class Text:
    """One sentence a technician reads, in Mandarin and in English."""

    zh: str
    en: str

    def in_language(self, language: str) -> str:
        return self.zh if language == "zh-CN" else self.en


NOTHING = Text("", "")


@dataclass(frozen=True)
class Result:
    check: str  # stable id: camera, microphone, button.record, cue.green, storage.space …
    status: str
    value: Text  # what was measured, in words
    action: Text = NOTHING  # what to do (empty when there is nothing to do)
    measured: dict = field(default_factory=dict)  # the numbers behind `value`, language-neutral

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


def failed(results) -> bool:
    return any(result.status == FAIL for result in results)


def counts(results) -> dict:
    return {status: sum(1 for result in results if result.status == status) for status in STATUSES}
