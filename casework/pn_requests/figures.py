"""Figures for managers: requests received and decided, and the time to decide them, per school and per month; and
the authority's annual Parental Responsibility Measures return of penalty notices, from the notices' own records
(reg 20: each notice, its payments, withdrawal and prosecution), whichever route issued them."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from statistics import median

from sqlalchemy import func
from sqlmodel import Session, select

from ..models import Payment, PenaltyNotice, PnRequest, School
from ..register.marks import year_end, year_start

DECISIONS = ("accepted", "returned", "refused")
PRM_REASONS = ("holiday", "late", "other")
REDUCED_DAYS, FULL_DAYS = 21, 28


def year_bounds(year: int) -> tuple[date, date]:
    """The academic year starting in `year` (1 August to 31 July), as casework counts years everywhere."""
    return year_start(year), year_end(year)


# ---------------------------------------------------------------- requests

@dataclass
class RequestFigures:
    label: str
    received: int = 0
    accepted: int = 0
    returned: int = 0
    refused: int = 0
    waiting: int = 0
    days: list[float] = field(default_factory=list)  # days from submission to decision

    def add(self, status: str, days: float | None) -> None:
        self.received += 1
        if status == "submitted":
            self.waiting += 1
        else:
            setattr(self, status, getattr(self, status) + 1)
            self.days.append(days)

    @property
    def median_days(self) -> float | None:
        return round(median(self.days), 1) if self.days else None

    @property
    def mean_days(self) -> float | None:
        return round(sum(self.days) / len(self.days), 1) if self.days else None


@dataclass
class RequestReport:
    year: int
    total: RequestFigures
    by_school: list[RequestFigures]
    by_month: list[RequestFigures]


def request_figures(session: Session, year: int) -> RequestReport:
    """Requests submitted in the academic year, per school (by name) and per month of submission."""
    first, last = (datetime.combine(day, time(), timezone.utc) for day in year_bounds(year))
    rows = session.exec(select(School.name, School.urn, PnRequest.submitted_at, PnRequest.status,
                               PnRequest.decided_at).join(School, School.id == PnRequest.school_id)
                        .where(PnRequest.submitted_at >= first, PnRequest.submitted_at < last + timedelta(days=1))).all()
    total = RequestFigures("Total")
    schools: dict[str, RequestFigures] = {}
    months: dict[date, RequestFigures] = {}
    for name, urn, submitted_at, status, decided_at in rows:
        days = (decided_at - submitted_at).total_seconds() / 86400 if decided_at else None
        month = date(submitted_at.year, submitted_at.month, 1)
        for figures in (total, schools.setdefault(urn, RequestFigures(f"{name} ({urn})")),
                        months.setdefault(month, RequestFigures(f"{month:%B %Y}"))):
            figures.add(status, days)
    return RequestReport(year, total, sorted(schools.values(), key=lambda f: f.label.lower()),
                         [months[m] for m in sorted(months)])


# ---------------------------------------------------------------- the Parental Responsibility Measures return

@dataclass
class PrmRow:
    reason: str
    issued: int = 0
    paid_21: int = 0
    paid_28: int = 0  # paid on day 22 to 28 after receipt (the return's categories do not overlap)
    withdrawn: int = 0
    prosecuted: int = 0
    unresolved: int = 0

    COLUMNS = ("issued", "paid_21", "paid_28", "withdrawn", "prosecuted", "unresolved")

    def add(self, outcome: str) -> None:
        self.issued += 1
        setattr(self, outcome, getattr(self, outcome) + 1)


def _outcome(status: str, receipt_on: date | None, issued_on: date, paid_on: date | None) -> str:
    """Where one notice stands for the return."""
    if status == "paid":
        received = receipt_on or issued_on
        return "paid_21" if paid_on is not None and paid_on <= received + timedelta(days=REDUCED_DAYS) else "paid_28"
    if status in ("withdrawn", "prosecuted"):
        return status
    return "unresolved"


def prm_return(session: Session, year: int) -> list[PrmRow]:
    """Notices issued in the academic year by reason (holiday, late, other) and where each stands; a total row last."""
    first, last = year_bounds(year)
    last_paid = (select(Payment.penalty_notice_id, func.max(Payment.paid_on).label("paid_on"))
                 .group_by(Payment.penalty_notice_id).subquery())
    rows = session.exec(select(PenaltyNotice.reason, PenaltyNotice.status, PenaltyNotice.receipt_on,
                               PenaltyNotice.issued_on, last_paid.c.paid_on)
                        .outerjoin(last_paid, last_paid.c.penalty_notice_id == PenaltyNotice.id)
                        .where(PenaltyNotice.issued_on >= first, PenaltyNotice.issued_on <= last)).all()
    by_reason = {reason: PrmRow(reason) for reason in PRM_REASONS}
    total = PrmRow("total")
    for reason, status, receipt_on, issued_on, paid_on in rows:
        outcome = _outcome(status, receipt_on, issued_on, paid_on)
        by_reason[reason if reason in by_reason else "other"].add(outcome)
        total.add(outcome)
    return [*by_reason.values(), total]


CSV_HEADER = ("academic_year", "reason", "penalty_notices_issued", "paid_within_21_days", "paid_within_28_days",
              "withdrawn", "prosecuted_for_non_payment", "unresolved")


def prm_csv(year: int, rows: list[PrmRow]) -> str:
    """The return as CSV; `paid_within_28_days` counts notices paid on day 22 to 28."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([f"{year}/{(year + 1) % 100:02d}", row.reason, *(getattr(row, c) for c in PrmRow.COLUMNS)])
    return out.getvalue()
