"""One clock for the whole system: today's date and the current time, frozen in tests."""
from __future__ import annotations

import os
from datetime import date, datetime, timezone

_frozen: datetime | None = None


def now() -> datetime:
    """Timezone-aware current time (UTC); CASEWORK_NOW (ISO) or freeze() fixes it."""
    if _frozen is not None:
        return _frozen
    fixed = os.environ.get("CASEWORK_NOW")
    if fixed:
        value = datetime.fromisoformat(fixed)
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


def today() -> date:
    return now().date()


def freeze(value: datetime | date | None) -> None:
    """Fix the clock (tests); None releases it."""
    global _frozen
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, 9, 0, tzinfo=timezone.utc)
    _frozen = value
