"""The live data feed as a service: one school's post of marks or pupils, scoped, imported and checked as one unit."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, select

from .. import clock
from ..checks import after_import
from ..imports import ImportFailed, RecordBatch, import_records
from ..models import Pupil
from .audit import audit
from .tokens import FeedCaller

MARK_FIELDS = ("upn", "date", "session", "code")
PUPIL_REQUIRED = ("upn", "surname", "forename", "date_of_birth")
PUPIL_TEXT_LIMITS = {
    "upn": 13, "surname": 100, "forename": 100, "date_of_birth": 10, "year_group": 4,
    "address_line1": 100, "address_line2": 100, "town": 100, "postcode": 16,
}
PUPIL_BOOLEAN_FIELDS = ("fsm", "eal", "social_worker", "looked_after", "young_carer")
FIRST_LINE = 1  # the importer numbers the batch's rows from here; row index = line - FIRST_LINE
UPN_CHUNK = 5000  # bind parameters per IN (...) query, well inside SQLite's limit


class FeedRejected(Exception):
    """The post is refused as a whole; `problems` name the row (0-based) and field of each."""

    def __init__(self, problems: list[dict]):
        super().__init__(problems[0]["message"] if problems else "rejected")
        self.problems = problems


def problem(message: str, row: int | None = None, field: str | None = None) -> dict:
    return {"row": row, "field": field, "message": message}


def post(session: Session, caller: FeedCaller, kind: str, items: list[dict[str, Any]],
         today: date | None = None) -> dict:
    """Write one post of well-formed items for the caller's school; FeedRejected naming rows and fields otherwise."""
    today = today or clock.today()
    # The importer strips values; strip here too, so that the scope check sees the UPN the importer will use.
    items = [{name: value.strip() if isinstance(value, str) else value for name, value in item.items()}
             for item in items]
    on_roll = _pupils_by_upn(session, {item["upn"] for item in items}, full=kind == "pupils")
    outside = [problem(f"pupil {item['upn']} is not on the roll of {caller.school_name} ({caller.school_urn})",
                       index, "upn")
               for index, item in enumerate(items)
               if item["upn"] in on_roll and on_roll[item["upn"]].school_id != caller.school_id]
    if outside:
        raise FeedRejected(outside)
    if kind == "marks":
        rows = [{"upn": item["upn"], "school_urn": caller.school_urn, "date": item["date"],
                 "session": item["session"], "code": item["code"]} for item in items]
    else:
        rows = [_pupil_row(item, on_roll.get(item["upn"]), caller) for item in items]
    actor = f"api:{caller.token_prefix}"
    try:
        summary = import_records(session, [RecordBatch(source="api", kind=kind, rows=rows, first_line=FIRST_LINE)],
                                 actor=actor, today=today)
    except ImportFailed as exc:
        raise FeedRejected([_from_import(p, len(rows)) for p in exc.problems]) from None
    after_import(session, summary, today)
    if kind == "marks":
        counts = {"marks_added": summary.marks_added, "marks_changed": summary.marks_changed,
                  "marks_unchanged": summary.marks_unchanged}
    else:
        counts = {"pupils_created": summary.pupils_created, "pupils_updated": summary.pupils_updated,
                  "pupils_unchanged": summary.pupils_unchanged}
    audit(session, actor, "import", "school", caller.school_urn, {"kind": kind, "rows": len(rows), **counts})
    return {"accepted": len(rows), **counts, "alerts": list(dict.fromkeys(summary.alerts))}


def _pupils_by_upn(session: Session, upns: set[str], full: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    wanted = sorted(upns)
    columns = (Pupil,) if full else (Pupil.upn, Pupil.school_id)
    for start in range(0, len(wanted), UPN_CHUNK):
        for row in session.exec(select(*columns).where(Pupil.upn.in_(wanted[start:start + UPN_CHUNK]))):
            found[row.upn] = row
    return found


def _pupil_row(item: dict, stored: Pupil | None, caller: FeedCaller) -> dict[str, str]:
    """An importer row: the fields given, and for the rest the stored value (or the default for a joiner)."""
    row = {"upn": item["upn"], "school_urn": caller.school_urn}
    for name in (*PUPIL_TEXT_LIMITS, "sen"):
        if name == "upn":
            continue
        if name in item:
            row[name] = item[name]
        elif stored is not None:
            value = getattr(stored, name)
            row[name] = value.isoformat() if name == "date_of_birth" else value
        else:
            row[name] = "none" if name == "sen" else ""
    for name in PUPIL_BOOLEAN_FIELDS:
        value = item[name] if name in item else bool(stored and getattr(stored, name))
        row[name] = "yes" if value else "no"
    return row


def _from_import(found, count: int) -> dict:
    row = found.line - FIRST_LINE if found.line is not None else None
    if row is not None and not 0 <= row < count:
        row = None
    return problem(found.message, row, found.field)
