"""The school portal's queries: which school a user is looking at, its pupils with their measures, its cases, and
a concern raised from the school's answers. Every listing is limited by `pupil_scope` as well as by the school."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case as when, func
from sqlmodel import Session, select

import workflows

from ..models import Alert, Case, Deadline, Letter, Pupil, School, User
from ..register.measures import measures_for_all
from .cases import Outcome, open_case
from .errors import BadInput, PermissionDenied
from .scope import pupil_scope, school_ids
from .show import load_case

PAGE_SIZE = 50
CLOSED_CASES_SHOWN_FOR = timedelta(days=365)
PORTAL_ALERTS = ("pn_threshold", "cme")
LA_ROLES = ("aeo", "manager")

# What the school has already tried: (form value, words in the chronology and the form).
TRIED = (
    ("letters_home", "Letters home"),
    ("parent_meetings", "Meetings with parents"),
    ("support_plan", "An attendance support plan in school"),
    ("early_help", "A referral to early help"),
    ("other", "Something else"),
)
NOTHING_YET = "nothing_yet"


# ---------------------------------------------------------------- which school

def schools_for(session: Session, user: User) -> list[School]:
    """The schools this user may open the portal for, by name: a school user's own, or every school for LA staff."""
    query = select(School).order_by(School.name, School.urn)
    if user.role == "school":
        query = query.where(School.id.in_(school_ids(session, user)))
    return list(session.exec(query).all())


def school_for(session: Session, user: User, urn: str | None) -> School | None:
    """The school asked for by URN (a school user's first school when none is given; None for LA staff without one).

    Raises BadInput for an unknown URN and PermissionDenied for a school outside the user's scope.
    """
    if not urn:
        own = schools_for(session, user) if user.role == "school" else []
        return own[0] if own else None
    school = session.exec(select(School).where(School.urn == urn)).first()
    if school is None:
        raise BadInput(f"school {urn}: no such school")
    if user.role == "school" and school.id not in school_ids(session, user):
        raise PermissionDenied(f"{user.email} may not see school {urn}")
    return school


# ---------------------------------------------------------------- pupils on roll

SORTS = {"name": "Name (A to Z)", "attendance": "Attendance (lowest first)",
         "attendance_desc": "Attendance (highest first)"}


@dataclass(frozen=True)
class PupilFilters:
    year_group: str = ""
    persistent_only: bool = False
    threshold_only: bool = False
    sort: str = "name"


@dataclass(frozen=True)
class PupilRow:
    pupil_id: int
    upn: str
    forename: str
    surname: str
    year_group: str
    attendance: float | None  # percent of possible sessions this academic year, one decimal; None: no sessions
    persistent: bool
    severe: bool
    threshold_met: bool
    threshold_sessions: int
    alerts: tuple[str, ...]  # open alert kinds of PORTAL_ALERTS
    case_ref: str | None
    case_stage: str | None  # the open case's state, as its pathway labels it


@dataclass(frozen=True)
class PupilPage:
    rows: list[PupilRow]
    matching: int
    on_roll: int
    year_groups: list[str]
    page: int
    pages: int


def _year_order(year_group: str) -> tuple:
    """Nursery, reception, then years 1 to 14, then anything else."""
    value = year_group.strip().upper()
    if value.startswith("N"):
        return (0, value)
    if value == "R":
        return (1, value)
    return (2, int(value), value) if value.isdigit() else (3, value)


def _open_alerts(session: Session, school: School, scope) -> dict[int, tuple[str, ...]]:
    """pupil id -> the kinds of PORTAL_ALERTS open for the pupil."""
    rows = session.exec(select(Alert.pupil_id, Alert.kind).join(Pupil, Pupil.id == Alert.pupil_id).where(
        Pupil.school_id == school.id, scope, Alert.kind.in_(PORTAL_ALERTS),
        Alert.resolved_at.is_(None)).order_by(Alert.kind)).all()
    found: dict[int, tuple[str, ...]] = {}
    for pupil_id, kind in rows:
        if kind not in found.get(pupil_id, ()):
            found[pupil_id] = found.get(pupil_id, ()) + (kind,)
    return found


def _open_cases(session: Session, school: School, scope) -> dict[int, tuple[str, str]]:
    """pupil id -> (ref, stage label) of the pupil's open case."""
    rows = session.exec(select(Case.pupil_id, Case.ref, Case.state, Case.pathway)
                        .join(Pupil, Pupil.id == Case.pupil_id)
                        .where(Pupil.school_id == school.id, scope,
                               Case.state.in_(workflows.load().open_states))).all()
    return {pupil_id: (ref, workflows.load_key(pathway).label(state)) for pupil_id, ref, state, pathway in rows}


def _pupil_rows(session: Session, user: User, school: School, as_of: date) -> list[PupilRow]:
    """Every pupil on the school's roll with this year's measures, open alerts and open case (a fixed few queries)."""
    scope = pupil_scope(session, user)
    roll = session.exec(select(Pupil.id, Pupil.upn, Pupil.forename, Pupil.surname, Pupil.year_group)
                        .where(Pupil.school_id == school.id, scope)).all()
    measured = {m["pupil_id"]: m for m in measures_for_all(session, as_of, school_urn=school.urn)}
    alerts, cases = _open_alerts(session, school, scope), _open_cases(session, school, scope)
    rows = []
    for pupil_id, upn, forename, surname, year_group in roll:
        m = measured.get(pupil_id)
        rate = m["absence_rate"] if m else None
        ref, stage = cases.get(pupil_id, (None, None))
        rows.append(PupilRow(
            pupil_id=pupil_id, upn=upn, forename=forename, surname=surname, year_group=year_group,
            attendance=None if rate is None else round(100 - rate, 1),
            persistent=bool(m and m["persistent_absence"]), severe=bool(m and m["severe_absence"]),
            threshold_met=bool(m and m["pn_threshold"]["met"]),
            threshold_sessions=m["pn_threshold"]["unauthorised_sessions"] if m else 0,
            alerts=alerts.get(pupil_id, ()), case_ref=ref, case_stage=stage))
    return rows


def _sorted(rows: list[PupilRow], sort: str) -> list[PupilRow]:
    by_name = sorted(rows, key=lambda r: (r.surname.lower(), r.forename.lower(), r.upn))
    if sort not in ("attendance", "attendance_desc"):
        return by_name
    measured = [r for r in by_name if r.attendance is not None]
    unmeasured = [r for r in by_name if r.attendance is None]  # no possible sessions yet: always last
    return sorted(measured, key=lambda r: r.attendance, reverse=sort == "attendance_desc") + unmeasured


def pupils_on_roll(session: Session, user: User, school: School, as_of: date, filters: PupilFilters,
                   page: int = 1) -> PupilPage:
    """One page of the school's pupils, filtered and sorted, with their measures as of `as_of`."""
    rows = _pupil_rows(session, user, school, as_of)
    year_groups = sorted({r.year_group for r in rows if r.year_group}, key=_year_order)
    matching = [r for r in rows
                if (not filters.year_group or r.year_group == filters.year_group)
                and (not filters.persistent_only or r.persistent)
                and (not filters.threshold_only or r.threshold_met)]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    start = (page - 1) * PAGE_SIZE
    return PupilPage(_sorted(matching, filters.sort)[start:start + PAGE_SIZE], len(matching), len(rows),
                     year_groups, page, pages)


def pupil_choices(session: Session, user: User, school: School) -> list[tuple[str, str]]:
    """(UPN, "Surname, Forename (year N)") of every pupil on the school's roll by name, noting any open case."""
    scope = pupil_scope(session, user)
    rows = session.exec(select(Pupil.id, Pupil.upn, Pupil.forename, Pupil.surname, Pupil.year_group)
                        .where(Pupil.school_id == school.id, scope)
                        .order_by(Pupil.surname, Pupil.forename, Pupil.upn)).all()
    cases = _open_cases(session, school, scope)
    return [(upn, f"{surname}, {forename}" + (f" (year {year})" if year else "")
             + (f" – open case {cases[pupil_id][0]}" if pupil_id in cases else ""))
            for pupil_id, upn, forename, surname, year in rows]


# ---------------------------------------------------------------- the school's cases

@dataclass(frozen=True)
class CaseRow:
    ref: str
    forename: str
    surname: str
    pupil_id: int
    state: str
    stage: str
    opened_on: date
    closed_on: date | None
    next_kind: str | None
    next_due: date | None


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseRow]
    open_count: int
    closed_count: int
    page: int
    more: bool


def _case_conditions(session: Session, user: User, school: School, today: date) -> tuple:
    """Cases of pupils on the school's roll: open, or closed in the last year."""
    open_now = Case.state.in_(workflows.load().open_states)
    recent = open_now | (Case.closed_on >= today - CLOSED_CASES_SHOWN_FOR)
    return open_now, (Pupil.school_id == school.id, pupil_scope(session, user), recent)


def _next_deadlines(session: Session, case_ids: list[int]) -> dict[int, tuple[str, date]]:
    """case id -> (kind, due date) of its earliest open deadline."""
    found: dict[int, tuple[str, date]] = {}
    for case_id, kind, due_on in session.exec(
            select(Deadline.case_id, Deadline.kind, Deadline.due_on)
            .where(Deadline.case_id.in_(case_ids), Deadline.done_at.is_(None))
            .order_by(Deadline.due_on, Deadline.id)).all():
        found.setdefault(case_id, (kind, due_on))
    return found


def school_cases(session: Session, user: User, school: School, today: date, page: int = 1) -> CasePage:
    """One page of the school's cases: open ones first (newest first), then those closed in the last year."""
    is_open, where = _case_conditions(session, user, school, today)
    counts = dict(session.exec(select(is_open, func.count()).select_from(Case)
                               .join(Pupil, Pupil.id == Case.pupil_id).where(*where).group_by(is_open)).all())
    rows = session.exec(
        select(Case.id, Case.ref, Pupil.forename, Pupil.surname, Pupil.id, Case.state, Case.pathway, Case.opened_on,
               Case.closed_on)
        .join(Pupil, Pupil.id == Case.pupil_id).where(*where)
        .order_by(when((is_open, 0), else_=1), Case.closed_on.desc(), Case.opened_on.desc(), Case.ref.desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    nexts = _next_deadlines(session, [row[0] for row in rows[:PAGE_SIZE]])
    return CasePage(
        [CaseRow(ref=ref, forename=forename, surname=surname, pupil_id=pupil_id, state=state,
                 stage=workflows.load_key(pathway).label(state), opened_on=opened_on, closed_on=closed_on,
                 next_kind=nexts.get(case_id, (None, None))[0], next_due=nexts.get(case_id, (None, None))[1])
         for case_id, ref, forename, surname, pupil_id, state, pathway, opened_on, closed_on in rows[:PAGE_SIZE]],
        open_count=counts.get(True, 0), closed_count=counts.get(False, 0), page=page, more=len(rows) > PAGE_SIZE)


# ---------------------------------------------------------------- raising a concern

@dataclass(frozen=True)
class ConcernAnswers:
    """What the school said: the pupil, the concern, what it has tried (TRIED keys, or NOTHING_YET) and when."""

    upn: str
    concern: str
    tried: tuple[str, ...]
    details: str = ""
    last_action_on: date | None = None


def pupil_on_roll(session: Session, user: User, school: School, upn: str, lock: bool = False) -> Pupil | None:
    """The pupil with this UPN on the school's roll and in the user's scope; None otherwise (existence not told).

    `lock` holds the pupil's row for the transaction (PostgreSQL), so two concerns posted at once cannot both pass
    the "no other open case" guard.
    """
    query = select(Pupil).where(Pupil.upn == upn.strip().upper(), Pupil.school_id == school.id,
                                pupil_scope(session, user))
    return session.exec(query.with_for_update(of=Pupil) if lock else query).first()


def concern_data(answers: ConcernAnswers) -> dict[str, str]:
    """The trigger data of `raise_concern` (strings, as `open_case` parses them), so the answers reach the chronology.

    `reason` is the concern (the concern letter quotes it to the parents) and `actions` what the school has tried (the
    support history of later letters lists it); the school's details and the date of its latest action go in `note`,
    which stays in the chronology. The chronology labels them in raise_concern's words
    (`triggers_ui.TRIGGER_FIELD_TEXT`).
    """
    labels = dict(TRIED)
    tried = [labels[key] for key in answers.tried if key in labels]
    raw = {"reason": answers.concern.strip(),
           "actions": ("The school had already tried: " + "; ".join(tried)) if tried
           else "The school had not yet tried anything"}
    note = []
    if answers.details.strip():
        details = answers.details.strip()
        note.append(f"Details from the school: {details}" + ("" if details.endswith((".", "!", "?")) else "."))
    if answers.last_action_on:
        note.append(f"The school's most recent action was on {answers.last_action_on.isoformat()}.")
    if note:
        raw["note"] = " ".join(note)
    return raw


def not_on_roll(school: School, upn: str) -> str:
    """What a user is told of a UPN that is not on the school's roll (the same whether or not the pupil exists)."""
    return f"There is no pupil with UPN {upn.strip().upper()} on the roll of {school.name}"


def raise_concern(session: Session, user: User, school: School, answers: ConcernAnswers) -> Outcome:
    """Open a case for a pupil on the school's roll from the school's answers (BadInput, Blocked: nothing written)."""
    pupil = pupil_on_roll(session, user, school, answers.upn, lock=True)
    if pupil is None:
        raise BadInput(not_on_roll(school, answers.upn))
    return open_case(session, pupil.upn, user.email, None, concern_data(answers))


@dataclass(frozen=True)
class RaisedConcern:
    ref: str
    pupil: Pupil
    school: School
    state_label: str
    opened_on: date
    consultation_due: date | None
    letters: int


def raised_concern(session: Session, user: User, ref: str) -> RaisedConcern:
    """The confirmation of a case in the user's scope (the read is audited); BadInput/PermissionDenied otherwise."""
    case = load_case(session, ref, user)
    due = session.exec(select(func.min(Deadline.due_on)).where(
        Deadline.case_id == case.id, Deadline.kind == "consultation_due", Deadline.done_at.is_(None))).one()
    letters = session.exec(select(func.count()).select_from(Letter).where(Letter.case_id == case.id)).one()
    return RaisedConcern(ref=case.ref, pupil=session.get(Pupil, case.pupil_id), school=session.get(School, case.school_id),
                         state_label=workflows.load_key(case.pathway).label(case.state), opened_on=case.opened_on,
                         consultation_due=due, letters=letters)
