"""Build the `workflows.Facts` a trigger's guards consult, from the database and the register."""
from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache

from sqlalchemy import bindparam, func
from sqlmodel import Session, select

from workflows import Facts, ParentFacts, PenaltyNoticeFacts, Threshold
from workflows.definition import Pathway, TransitionDef
from workflows.guards import COUNTING_PN_STATUSES

from .. import chronology
from ..models import Case, CaseEvent, Contact, Deadline, Payment, PenaltyNotice, Pupil, PupilContact, School, User
from ..register import calendar, measures
from ..register.measures import Segment


def add_months(day: date, months: int) -> date:
    """The same day `months` later (clamped to the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, _cal.monthrange(year, month)[1]))


def limitation_date(earliest_absence: date, months: int = 6) -> date:
    """s.127 MCA 1980: the last day on which an information may be laid for this absence."""
    return add_months(earliest_absence, months)


@dataclass
class Parent:
    contact: Contact
    link: PupilContact

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.contact.title, self.contact.forename, self.contact.surname) if p)


# The queries every case operation and case page makes are built once (@cache) and run with bindparam() values:
# building a select costs 50-300 µs of Python each time, more than SQLite takes to answer it (see README).

@cache
def _parents_query():
    return (select(Contact, PupilContact).join(PupilContact, PupilContact.contact_id == Contact.id)
            .where(PupilContact.pupil_id == bindparam("pupil_id")).order_by(Contact.contact_ref))


def parents_of(session: Session, pupil: Pupil) -> list[Parent]:
    """The pupil's s.576 parents (parental responsibility or living with the pupil), in a stable order."""
    rows = session.exec(_parents_query(), params={"pupil_id": pupil.id}).all()
    return [Parent(c, link) for c, link in rows if link.parental_responsibility or link.lives_with_pupil]


@cache
def _penalty_notices_query():
    paid = (select(Payment.penalty_notice_id, func.coalesce(func.sum(Payment.amount), 0).label("total"))
            .group_by(Payment.penalty_notice_id).subquery())
    return (select(PenaltyNotice, paid.c.total).outerjoin(paid, paid.c.penalty_notice_id == PenaltyNotice.id)
            .where(PenaltyNotice.pupil_id == bindparam("pupil_id")).order_by(PenaltyNotice.issued_on, PenaltyNotice.id))


def pupil_penalty_notices(session: Session, pupil: Pupil) -> list[tuple[PenaltyNotice, Decimal]]:
    """Every PN for this child (any parent, any case, imported too) with the total paid on it."""
    rows = session.exec(_penalty_notices_query(), params={"pupil_id": pupil.id}).all()
    return [(pn, Decimal(total or 0).quantize(Decimal("0.01"))) for pn, total in rows]


def paid_total(session: Session, pn: PenaltyNotice) -> Decimal:
    """Everything paid on one penalty notice so far."""
    return sum((p.amount for p in session.exec(select(Payment).where(Payment.penalty_notice_id == pn.id))),
               Decimal("0.00"))


def counting_pns(pns: list[PenaltyNotice], contact_id: int, on: date, years: int) -> list[PenaltyNotice]:
    """PNs that count towards the limit: this parent, issued in the `years` years ending on `on`, not withdrawn."""
    since = date(on.year - years, on.month, on.day if (on.month, on.day) != (2, 29) else 28)
    return [pn for pn in pns if pn.contact_id == contact_id and pn.status in COUNTING_PN_STATUSES
            and since < pn.issued_on <= on]


def threshold_of(result) -> Threshold | None:
    if result is None or result.window_start is None:
        return None
    return Threshold(result.met, result.window_start, result.window_end, result.unauthorised_sessions)


@dataclass
class CaseContext:
    """What a service loaded once for a case operation, shared by facts, effects and letters."""

    pupil: Pupil
    school: School
    segments: list[Segment]
    parents: list[Parent]
    pns: list[tuple[PenaltyNotice, Decimal]]
    _measures: dict = field(default_factory=dict)

    _periods: dict = field(default_factory=dict)
    _cases: dict = field(default_factory=dict)
    _events: dict = field(default_factory=dict)
    _deadlines: dict = field(default_factory=dict)

    def measures(self, on: date) -> dict:
        """The pupil's measures as of `on`, computed once however many triggers and letters ask."""
        if on not in self._measures:
            self._measures[on] = measures.pupil_measures(self.segments, on, self.school.urn if self.school else "")
        return self._measures[on]

    def period(self, start: date, end: date) -> "PeriodFacts":
        """The register's facts for one offence period, worked out once however many triggers judge it."""
        if (start, end) not in self._periods:
            self._periods[start, end] = PeriodFacts(
                threshold_of(measures.threshold_in_period(self.segments, start, end)),
                tuple(measures.n_code_sessions(self.segments, start, end)),
                measures.unauthorised_sessions(self.segments, start, end),
                calendar.csa_problem(self.pupil.date_of_birth, start, end))
        return self._periods[start, end]

    def events(self, session: Session, case: Case) -> list[CaseEvent]:
        """The case's chronology in order, read once per operation (the case page shows it and the guards read it)."""
        if case.id not in self._events:
            self._events[case.id] = chronology.events_of(session, case)
        return self._events[case.id]

    def deadlines(self, session: Session, case: Case) -> list[Deadline]:
        """Every deadline of the case, open and done, in the order they were set; read once per operation."""
        if case.id not in self._deadlines:
            self._deadlines[case.id] = list(session.exec(_deadlines_query(), params={"case_id": case.id}).all())
        return self._deadlines[case.id]

    def case_rows(self, session: Session, case: Case | None, open_states) -> "CaseRows":
        """What the guards read of the pupil's cases, loaded once per operation (not once per trigger judged)."""
        key = case.id if case is not None else None
        if key not in self._cases:
            others = session.exec(_open_cases_query(), params={"pupil_id": self.pupil.id,
                                                               "states": list(open_states)}).all()
            other_open = tuple(ref for ref in others if case is None or ref != case.ref)
            history, improvement_ends = (), None
            if case is not None:
                history = tuple(event.trigger for event in self.events(session, case))
                improvement_ends = next((d.due_on for d in reversed(self.deadlines(session, case))
                                         if d.kind == "improvement_period_ends"), None)
            self._cases[key] = CaseRows(other_open, history, improvement_ends)
        return self._cases[key]


@cache
def _deadlines_query():
    return select(Deadline).where(Deadline.case_id == bindparam("case_id")).order_by(Deadline.id)


@cache
def _open_cases_query():
    return select(Case.ref).where(Case.pupil_id == bindparam("pupil_id"),
                                  Case.state.in_(bindparam("states", expanding=True)))


@dataclass(frozen=True)
class PeriodFacts:
    threshold: Threshold | None
    n_codes: tuple
    unauthorised: list
    csa_problem: str | None


@dataclass(frozen=True)
class CaseRows:
    other_open: tuple[str, ...]
    history: tuple[str, ...]
    improvement_ends: date | None


def load_context(session: Session, pupil: Pupil) -> CaseContext:
    school = session.get(School, pupil.school_id) if pupil.school_id else None
    segments = measures.load_segments(session, [pupil.id]).get(pupil.id, [])
    return CaseContext(pupil, school, segments, parents_of(session, pupil), pupil_penalty_notices(session, pupil))


def offence_period(t: TransitionDef | None, case: Case | None, ctx: CaseContext, on: date,
                   data: dict) -> tuple[date | None, date | None]:
    """The period the trigger relies on: given in the data, kept on the case, or the threshold window."""
    if data.get("offence_start") or data.get("offence_end"):
        return data.get("offence_start"), data.get("offence_end")
    if t is not None and t.trigger == "issue_penalty_notice":
        window = ctx.measures(on)["pn_threshold"]
        if window["window_start"]:
            return date.fromisoformat(window["window_start"]), min(date.fromisoformat(window["window_end"]), on)
        return None, None
    if case is not None and case.offence_start:
        return case.offence_start, case.offence_end
    return None, None


def build(session: Session, pathway: Pathway, *, user: User, actor_has_pupil: bool, ctx: CaseContext,
          case: Case | None, on: date, data: dict, t: TransitionDef | None) -> Facts:
    """The facts for one trigger (or for judging every trigger of the state when `t` is None)."""
    settings = pathway.guard_settings()
    pupil = ctx.pupil
    rows = ctx.case_rows(session, case, pathway.open_states)
    other_open, history, improvement_ends = rows.other_open, rows.history, rows.improvement_ends

    now_threshold = ctx.measures(on)["pn_threshold"] if ctx.segments else None
    threshold_now = None
    if now_threshold and now_threshold["window_start"]:
        threshold_now = Threshold(now_threshold["met"], date.fromisoformat(now_threshold["window_start"]),
                                  date.fromisoformat(now_threshold["window_end"]), now_threshold["unauthorised_sessions"])

    start, end = offence_period(t, case, ctx, on, data)
    offence_threshold = None
    n_codes: tuple = ()
    unauthorised: list = []
    csa_problem = None
    if start and end and start <= end:
        period = ctx.period(start, end)
        offence_threshold, n_codes = period.threshold, period.n_codes
        unauthorised, csa_problem = period.unauthorised, period.csa_problem
    earliest = unauthorised[0][0] if unauthorised else None
    if t is not None and t.trigger in ("lay_information", "record_interview") and case is not None:
        limitation = case.limitation_date
    else:
        limitation = limitation_date(earliest, settings.get("limitation_months", 6)) if earliest else None

    years = settings.get("pn_limit_years", 3)
    pn_rows = [pn for pn, _ in ctx.pns]
    parents = []
    for parent in ctx.parents:
        overlapping = tuple(
            pn.ref for pn in pn_rows
            if pn.contact_id == parent.contact.id and pn.status != "withdrawn" and start and end
            and pn.offence_start <= end and start <= pn.offence_end)
        parents.append(ParentFacts(parent.contact.contact_ref, parent.name,
                                   len(counting_pns(pn_rows, parent.contact.id, on, years)), overlapping))
    contact_refs = {p.contact.id: p.contact.contact_ref for p in ctx.parents}
    pn_facts = tuple(
        PenaltyNoticeFacts(pn.ref, contact_refs.get(pn.contact_id, str(pn.contact_id)), pn.status, pn.offence_start,
                           pn.offence_end, pn.pay_by, on_this_case=case is not None and pn.case_id == case.id,
                           payments_total=total)
        for pn, total in ctx.pns)

    return Facts(
        on=on, actor_role=user.role, state=case.state if case else None, actor_school_has_pupil=actor_has_pupil,
        other_open_case_refs=other_open, history_triggers=history, threshold_now=threshold_now,
        offence_threshold=offence_threshold, offence_start=start, offence_end=end,
        offence_unauthorised_sessions=len(unauthorised), n_codes_in_offence_period=n_codes,
        earliest_absence_in_offence_period=earliest, compulsory_school_age_problem=csa_problem,
        school_independent=bool(ctx.school and ctx.school.independent), improvement_period_ends=improvement_ends,
        parents=tuple(parents), penalty_notices=pn_facts,
        pupil_needs_health_review=pupil.sen == "ehcp" or pupil.health_flag, limitation_date=limitation,
        settings=settings,
    )
