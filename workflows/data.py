"""Trigger data: the typed values named in pathway.md, parsed from the strings a form or the CLI gives."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation


class DataError(ValueError):
    """A trigger value is malformed (bad input, not a guard refusal)."""


DATE_KEYS = {"review_on", "offence_start", "offence_end", "hearing_on", "order_start"}
INT_KEYS = {"improvement_weeks", "parenting_order_months"}
YES_NO_KEYS = {"parent_agreed", "invite"}
MONEY_KEYS = {"amount", "fine", "costs"}
TEXT_KEYS = {
    "reason", "actions", "requirements", "support", "support_inappropriate", "early_reason", "pn", "ground",
    "section", "eso_considered", "decision", "health_review", "court", "outcome", "note", "interview_notes",
    "lane",  # raise_concern: "pn_request" when a school's penalty notice request opens the case
}
KNOWN_KEYS = DATE_KEYS | INT_KEYS | YES_NO_KEYS | MONEY_KEYS | TEXT_KEYS


def parse_date(key: str, value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DataError(f"{key}: {value!r} is not a date (use YYYY-MM-DD)") from None


def parse_money(key: str, value: str) -> Decimal:
    try:
        amount = Decimal(value.strip().lstrip("£"))
    except InvalidOperation:
        raise DataError(f"{key}: {value!r} is not an amount of money") from None
    if amount != amount.quantize(Decimal("0.01")):
        raise DataError(f"{key}: {value!r} has more than two decimal places")
    return amount.quantize(Decimal("0.01"))


def parse(raw: dict[str, str]) -> dict:
    """Parse raw key/value strings; unknown keys and malformed values raise DataError."""
    out: dict = {}
    for key, value in raw.items():
        if key not in KNOWN_KEYS:
            raise DataError(f"{key}: unknown trigger data key")
        value = value.strip() if isinstance(value, str) else value
        if value in ("", None):
            continue
        if key in DATE_KEYS:
            out[key] = parse_date(key, value)
        elif key in INT_KEYS:
            try:
                out[key] = int(value)
            except ValueError:
                raise DataError(f"{key}: {value!r} is not a whole number") from None
        elif key in YES_NO_KEYS:
            if value not in ("yes", "no"):
                raise DataError(f"{key}: {value!r} must be yes or no")
            out[key] = value
        elif key in MONEY_KEYS:
            out[key] = parse_money(key, value)
        else:
            out[key] = value
    return out
