"""Times in the provisioning documents: RFC 3339 UTC to the second ("2026-12-03T17:00:00Z")."""

from datetime import datetime, timezone


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text) -> datetime:
    """ValueError for anything but the form utc_text writes."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"{text!r} is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)")
    return datetime.strptime(text + "+0000", "%Y-%m-%dT%H:%M:%SZ%z")  # aware: UTC


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
