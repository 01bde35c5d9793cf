"""How long each class of footage is kept (REGULATION article 11).

- `evidence`: a session with marks or an interruption, or one a clerk flagged. Kept as long
  as its case file: the default (three years) is a floor the dock extends to the case's end.
- `patrol`: everything else. At least six months (the national guidance): 183 days by
  default, and a setting below 183 days is refused.
- `ledger`: ledgers, manifests and receipts, kept as long as the longest footage they cover:
  by default the longer of the two above.

Times are rounded up to the whole second, as object stores keep them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .base import ArchiveConfigError, ArchiveError

PATROL_MINIMUM_DAYS = 183  # six months, never fewer
DEFAULT_DAYS = {"evidence": 1095, "patrol": PATROL_MINIMUM_DAYS}
CLASSES = ("evidence", "patrol", "ledger")


@dataclass(frozen=True)
class RetentionPolicy:
    evidence_days: int = DEFAULT_DAYS["evidence"]
    patrol_days: int = DEFAULT_DAYS["patrol"]
    ledger_days: int | None = None  # None: the longest of the others

    def days(self, footage_class: str) -> int:
        if footage_class == "evidence":
            return self.evidence_days
        if footage_class == "patrol":
            return self.patrol_days
        if footage_class == "ledger":
            return self.ledger_days or max(self.evidence_days, self.patrol_days)
        raise ArchiveError(f"unknown footage class {footage_class!r} (one of {', '.join(CLASSES)})")


def policy_from_settings(days: dict | None) -> RetentionPolicy:
    """`retention_days = {evidence = 1095, patrol = 183}` from the dock's settings."""
    days = dict(days or {})
    unknown = set(days) - set(CLASSES)
    if unknown:
        raise ArchiveConfigError(f"retention_days: unknown class {sorted(unknown)[0]!r} (one of {', '.join(CLASSES)})")
    for name, value in days.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ArchiveConfigError(f"retention_days.{name} must be a positive whole number of days, not {value!r}")
    policy = RetentionPolicy(days.get("evidence", DEFAULT_DAYS["evidence"]),
                             days.get("patrol", DEFAULT_DAYS["patrol"]), days.get("ledger"))
    if policy.patrol_days < PATROL_MINIMUM_DAYS:
        raise ArchiveConfigError(f"retention_days.patrol = {policy.patrol_days} is below six months "
                                 f"({PATROL_MINIMUM_DAYS} days, article 11)")
    if policy.evidence_days < policy.patrol_days:
        raise ArchiveConfigError(f"retention_days.evidence = {policy.evidence_days} is shorter than patrol's "
                                 f"{policy.patrol_days}: evidence is kept at least as long as routine footage")
    if policy.ledger_days is not None and policy.ledger_days < max(policy.evidence_days, policy.patrol_days):
        raise ArchiveConfigError(f"retention_days.ledger = {policy.ledger_days} is shorter than the footage "
                                 "it covers: the ledger is kept as long as the longest class")
    return policy


def retain_until(footage_class: str, recorded_until: datetime, policy: RetentionPolicy) -> datetime:
    """The moment the store may let go of an object of this class recorded up to `recorded_until`."""
    if recorded_until.tzinfo is None:
        raise ArchiveError("recorded_until has no time zone: retention is counted in UTC")
    until = recorded_until.astimezone(timezone.utc) + timedelta(days=policy.days(footage_class))
    return whole_second_up(until)


def whole_second_up(moment: datetime) -> datetime:
    if moment.microsecond:  # (timedelta arithmetic: no `.replace` call in a package that deletes nothing)
        moment += timedelta(seconds=1, microseconds=-moment.microsecond)
    return moment
