"""The manager's figures: open cases by state and officer, time in the current state and overdue work; absence by
school, by pupil group and by week against the national figures. Both are worked out once and kept in the process
until the day, or the data they come from, changes (see the cache at the end)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from operator import itemgetter
from pathlib import Path

import numpy as np
import yaml
from sqlalchemy import case, func, or_
from sqlmodel import Session, select

import workflows

from .. import clock
from ..db import read_only
from ..imports import REGISTER_GENERATION
from ..models import (Case, CaseEvent, Deadline, MarkChange, PenaltyNotice, Pupil, RegisterYear, School, Setting,
                      User)
from ..register import codes
from ..register.marks import academic_year, year_start
from ..register.measures import COUNT_BITS, measures_for_all
from .scope import pupil_scope, school_ids

NATIONAL_FILE = Path(__file__).resolve().parent.parent / "data" / "national_absence.yaml"
MEASURES = ("overall_absence", "persistent_absence", "severe_absence")
LISTED = 10  # overdue deadlines and unpaid notices listed on the overview (the oldest first)
MAX_AGE = timedelta(minutes=15)  # cached figures are worked out again at least this often (see register_token)
BACKGROUND_AFTER = 1.0  # seconds: figures slower than this to work out are refreshed in the background (see _Cache)
CHUNK = 5000  # register rows read at a time for the weekly figures


def percent(part: int, whole: int) -> float | None:
    """part / whole in percent, one decimal, rounded half up (exact integer arithmetic); None when whole is 0."""
    return (2000 * part + whole) // (2 * whole) / 10 if whole else None


# ---------------------------------------------------------------- open cases


@dataclass(frozen=True)
class StateFigures:
    """Open cases in one state, and how long they have been in it (days since the event that moved them there)."""

    state: str
    label: str
    cases: int
    median_days: float | None
    longest_days: int | None
    longest_ref: str | None


@dataclass(frozen=True)
class OfficerLoad:
    """One officer's open cases by state (`email` None: the cases nobody holds)."""

    name: str
    email: str | None
    by_state: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


@dataclass(frozen=True)
class Overview:
    as_of: date
    states: list[StateFigures]
    officers: list[OfficerLoad]
    unallocated: int
    overdue: int
    oldest_overdue: list[dict]
    unpaid: int
    oldest_unpaid: list[dict]

    @property
    def open_cases(self) -> int:
        return sum(s.cases for s in self.states)


def compute_overview(session: Session, user: User, today: date) -> Overview:
    """Where the open cases (in the user's scope) stand today."""
    pathway = workflows.load()
    where = (Case.state.in_(pathway.open_states), pupil_scope(session, user, Case.school_id))
    officers = _officer_loads(session, where, pathway.open_states)
    counts = {state: sum(o.by_state.get(state, 0) for o in officers) for state in pathway.open_states}
    overdue, oldest_overdue = _overdue_deadlines(session, where, today)
    unpaid, oldest_unpaid = _unpaid_notices(session, where)
    return Overview(
        as_of=today,
        states=_time_in_state(session, where, today, pathway, counts),
        officers=officers,
        unallocated=sum(o.total for o in officers if o.email is None),
        overdue=overdue, oldest_overdue=oldest_overdue, unpaid=unpaid, oldest_unpaid=oldest_unpaid,
    )


def _officer_loads(session: Session, where, states) -> list[OfficerLoad]:
    """Open cases by officer and state; the cases with no officer last."""
    rows = session.exec(select(Case.officer_id, Case.state, func.count()).where(*where)
                        .group_by(Case.officer_id, Case.state)).all()
    ids = {officer_id for officer_id, _, _ in rows if officer_id is not None}
    people = {u.id: u for u in session.exec(select(User).where(User.id.in_(ids)))} if ids else {}
    by_officer: dict[int | None, dict[str, int]] = {}
    for officer_id, state, count in rows:
        by_officer.setdefault(officer_id, {})[state] = count
    loads = [OfficerLoad(people[i].name or people[i].email, people[i].email, _in_order(by_officer[i], states))
             for i in ids]
    loads.sort(key=lambda o: (o.name.lower(), o.email))
    if None in by_officer:
        loads.append(OfficerLoad("No officer", None, _in_order(by_officer[None], states)))
    return loads


def _in_order(counts: dict[str, int], states) -> dict[str, int]:
    return {state: counts.get(state, 0) for state in states}


def _time_in_state(session: Session, where, today: date, pathway, counts: dict[str, int]) -> list[StateFigures]:
    """Median and longest days in the current state, per state, from a histogram of entry dates.

    A case entered its state on the latest event that moved it there (events that keep the state, such as a payment
    or an officer change, do not count); a case with no such event is counted from the day it was opened."""
    entered = (select(CaseEvent.case_id, func.max(CaseEvent.on).label("on"))
               .join(Case, Case.id == CaseEvent.case_id)
               .where(*where, CaseEvent.to_state == Case.state,
                      or_(CaseEvent.from_state.is_(None), CaseEvent.from_state != CaseEvent.to_state))
               .group_by(CaseEvent.case_id).subquery())
    since = func.coalesce(entered.c.on, Case.opened_on)
    rows = session.exec(select(Case.state, since, func.count(), func.min(Case.ref))
                        .outerjoin(entered, entered.c.case_id == Case.id).where(*where)
                        .group_by(Case.state, since)).all()
    histograms: dict[str, list[tuple[int, int, str]]] = {}
    for state, on, count, ref in rows:
        histograms.setdefault(state, []).append(((today - _as_date(on)).days, count, ref))
    figures = []
    for state in pathway.open_states:
        days = sorted(histograms.get(state, []))
        figures.append(StateFigures(
            state, pathway.label(state), counts.get(state, 0), _median([(d, n) for d, n, _ in days]),
            days[-1][0] if days else None, days[-1][2] if days else None))
    return figures


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _median(counted: list[tuple[int, int]]) -> float | None:
    """The median of values given as (value, how many times), in value order."""
    total = sum(n for _, n in counted)
    if not total:
        return None

    def nth(k: int) -> int:
        seen = 0
        for value, n in counted:
            seen += n
            if seen > k:
                return value
        raise IndexError(k)

    return (nth((total - 1) // 2) + nth(total // 2)) / 2


def _overdue_deadlines(session: Session, where, today: date) -> tuple[int, list[dict]]:
    query = (select(Case.ref, Deadline.kind, Deadline.due_on).join(Case, Case.id == Deadline.case_id)
             .where(*where, Deadline.done_at.is_(None), Deadline.due_on < today))
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    oldest = session.exec(query.order_by(Deadline.due_on, Case.ref).limit(LISTED)).all()
    return count, [{"case": ref, "kind": kind, "due_on": due_on, "days_overdue": (today - due_on).days}
                   for ref, kind, due_on in oldest]


def _unpaid_notices(session: Session, where) -> tuple[int, list[dict]]:
    """Penalty notices past their payment period, on open cases, waiting for a decision to prosecute or withdraw."""
    query = (select(Case.ref, PenaltyNotice.ref, PenaltyNotice.pay_by).join(Case, Case.id == PenaltyNotice.case_id)
             .where(*where, PenaltyNotice.status == "unpaid"))
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    oldest = session.exec(query.order_by(PenaltyNotice.pay_by, PenaltyNotice.ref).limit(LISTED)).all()
    return count, [{"case": case_ref, "ref": ref, "pay_by": pay_by} for case_ref, ref, pay_by in oldest]


# ---------------------------------------------------------------- national figures


@dataclass(frozen=True)
class NationalFigure:
    value: float
    period: str
    source: str
    url: str
    note: str = ""


GROUPS = (  # (key, label, which pupils): the pupil characteristics the absence page compares
    ("social_worker", "Children with a social worker", Pupil.social_worker),
    ("looked_after", "Looked-after children", Pupil.looked_after),
    ("sen_support", "SEN support", Pupil.sen == "support"),
    ("ehc_plan", "Education, health and care plan", Pupil.sen == "ehcp"),
    ("fsm", "Eligible for free school meals", Pupil.fsm),
    ("eal", "English as an additional language", Pupil.eal),
    ("young_carer", "Young carers", Pupil.young_carer),
)
ALL_PUPILS = ("all", "All pupils")


@lru_cache(maxsize=1)
def national_figures() -> dict[tuple[str, str], NationalFigure]:
    """(group, measure) -> the national figure, from casework/data/national_absence.yaml."""
    known = {ALL_PUPILS[0], *(key for key, _, _ in GROUPS)}
    figures = {}
    for raw in yaml.safe_load(NATIONAL_FILE.read_text())["figures"]:
        group, measure = raw["group"], raw["measure"]
        if group not in known or measure not in MEASURES:
            raise ValueError(f"{NATIONAL_FILE.name}: unknown group {group!r} or measure {measure!r}")
        figures[group, measure] = NationalFigure(float(raw["value"]), raw["period"], raw["source"], raw["url"],
                                                 " ".join(raw.get("note", "").split()))
    return figures


# ---------------------------------------------------------------- absence


@dataclass(frozen=True)
class Rates:
    """Pupils with at least one possible session this year, how many are persistently and severely absent, and the
    sessions they missed of those possible."""

    pupils: int
    persistent: int
    severe: int
    absent: int
    possible: int

    @property
    def persistent_rate(self) -> float | None:
        return percent(self.persistent, self.pupils)

    @property
    def severe_rate(self) -> float | None:
        return percent(self.severe, self.pupils)

    @property
    def absence_rate(self) -> float | None:
        return percent(self.absent, self.possible)


@dataclass(frozen=True)
class GroupRates:
    key: str
    label: str
    rates: Rates
    national: dict[str, NationalFigure]


@dataclass(frozen=True)
class SchoolRates:
    urn: str
    name: str
    rates: Rates


@dataclass(frozen=True)
class WeekRate:
    monday: date
    possible: int
    absent: int

    @property
    def rate(self) -> float | None:
        return percent(self.absent, self.possible)


@dataclass(frozen=True)
class AbsenceFigures:
    as_of: date
    computed_at: datetime
    overall: GroupRates
    groups: list[GroupRates]
    schools: list[SchoolRates]  # highest persistent absence first
    weeks: list[WeekRate]


def compute_absence(session: Session, as_of: date) -> AbsenceFigures:
    """This academic year's absence to `as_of`, by school, by group and by week (about as slow as `measures_for_all`).

    Pupils are counted at their current school, with the sessions of its register this year (as `measures_for_all`
    counts them); the weekly figures count every register row of the year, earlier schools included."""
    pupils = _pupil_measures(session, as_of)
    national = national_figures()

    def group(key: str, label: str, members: np.ndarray) -> GroupRates:
        return GroupRates(key, label, pupils.rates(members),
                          {m: national[key, m] for m in MEASURES if (key, m) in national})

    flags = _group_flags(session, pupils.ids, [expression for _, _, expression in GROUPS])
    return AbsenceFigures(
        as_of=as_of, computed_at=clock.now(),
        overall=group(*ALL_PUPILS, np.ones(len(pupils.ids), bool)),
        groups=[group(key, label, flags[:, i]) for i, (key, label, _) in enumerate(GROUPS)],
        schools=_school_rates(session, pupils),
        weeks=weekly_absence(session, as_of),
    )


@dataclass(frozen=True)
class _Pupils:
    """Per pupil on roll with a possible session this year: id, current school's URN, sessions, PA and SA flags."""

    ids: np.ndarray
    urns: np.ndarray
    absent: np.ndarray
    possible: np.ndarray
    persistent: np.ndarray
    severe: np.ndarray

    def rates(self, members: np.ndarray) -> Rates:
        return Rates(int(members.sum()), int(self.persistent[members].sum()), int(self.severe[members].sum()),
                     int(self.absent[members].sum()), int(self.possible[members].sum()))


def _pupil_measures(session: Session, as_of: date) -> _Pupils:
    keys = ("pupil_id", "school_urn", "authorised_absence", "unauthorised_absence", "possible_sessions",
            "persistent_absence", "severe_absence")
    row = itemgetter(*keys)
    rows = [row(r) for r in measures_for_all(session, as_of) if r["possible_sessions"]]
    ids, urns, authorised, unauthorised, possible, persistent, severe = zip(*rows) if rows else ((),) * len(keys)
    return _Pupils(np.array(ids, np.int64), np.array(urns, object),
                   np.array(authorised, np.int64) + np.array(unauthorised, np.int64), np.array(possible, np.int64),
                   np.array(persistent, bool), np.array(severe, bool))


def _group_flags(session: Session, ids: np.ndarray, expressions: list) -> np.ndarray:
    """(pupils, groups) booleans: whether each pupil (in `ids` order) is in each group."""
    bits = sum(case((expression, 1 << i), else_=0) for i, expression in enumerate(expressions))
    rows = session.connection().execute(select(Pupil.id, bits).order_by(Pupil.id)).all()
    if not rows:
        return np.zeros((len(ids), len(expressions)), bool)
    pupil_ids, masks = (np.array(column, np.int64) for column in zip(*rows))
    return (masks[np.searchsorted(pupil_ids, ids), None] >> np.arange(len(expressions))) & 1 == 1


def _school_rates(session: Session, pupils: _Pupils) -> list[SchoolRates]:
    names = dict(session.exec(select(School.urn, School.name)).all())
    urns, index = np.unique(pupils.urns.astype(str), return_inverse=True)
    schools = [SchoolRates(urn, names.get(urn, urn), pupils.rates(index == i)) for i, urn in enumerate(urns.tolist())]
    schools.sort(key=lambda s: (-(s.rates.persistent_rate or 0), s.name.lower(), s.urn))
    return schools


def weekly_absence(session: Session, as_of: date) -> list[WeekRate]:
    """Sessions possible and missed in each Monday-to-Sunday week of this academic year up to `as_of`, over every
    register row of the year; weeks with no possible session (holidays) are left out."""
    year = academic_year(as_of)
    start = year_start(year)
    first_monday = start - timedelta(days=start.weekday())
    lead = codes.NO_MARK * ((start - first_monday).days * 2)
    upto = max(0, (as_of - start).days * 2 + 2)
    weeks = -(-(len(lead) + upto) // 14)
    width = weeks * 14
    possible, absent = np.zeros(width, np.int64), np.zeros(width, np.int64)  # per session of the year
    stmt = select(RegisterYear.marks).where(RegisterYear.academic_year == year).execution_options(yield_per=CHUNK)
    for chunk in session.connection().execute(stmt).partitions():
        text = "".join((lead + marks[:upto]).ljust(width, codes.NO_MARK) for (marks,) in chunk).encode("latin-1")
        kinds = np.frombuffer(text.translate(SESSION_KIND), np.uint8).reshape(len(chunk), width)
        possible += np.count_nonzero(kinds, axis=0)
        absent += np.count_nonzero(kinds == ABSENT, axis=0)
    possible, absent = possible.reshape(weeks, 14).sum(axis=1), absent.reshape(weeks, 14).sum(axis=1)
    return [WeekRate(first_monday + timedelta(weeks=w), int(possible[w]), int(absent[w]))
            for w in range(weeks) if possible[w]]


PRESENT, ABSENT = 1, 2
# Stored character -> 0 (not a possible session), PRESENT or ABSENT, from the register's category bits.
SESSION_KIND = bytes(PRESENT if bits == 1 else ABSENT if bits else 0 for bits in COUNT_BITS)


# ---------------------------------------------------------------- the cache


@dataclass(frozen=True)
class _Entry:
    key: tuple
    computed_at: datetime
    value: object
    seconds: float  # how long working it out took


class _Cache:
    """The figures last worked out per database (and scope), kept while their key holds and for at most MAX_AGE.

    One computation per slot at a time: a request arriving meanwhile waits for it rather than starting another.
    When figures are out of date and working them out last took longer than BACKGROUND_AFTER seconds (the absence
    figures of a county: about 4 s for 150,000 pupils), they are worked out again on a thread of their own while the
    previous figures are shown (the pages say when those were worked out); only the first computation in a process
    makes a request wait."""

    def __init__(self):
        self._entries: dict[tuple, _Entry] = {}
        self._lock = threading.Lock()
        self._slot_locks: dict[tuple, threading.Lock] = {}
        self._refreshing: set[tuple] = set()

    def get(self, session: Session, scope, key: tuple, compute):
        """The value for `key`; `compute(session)` works it out (on another session when in the background)."""
        engine = session.get_bind().engine
        slot = (engine.url.render_as_string(hide_password=True), scope)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is not None and self._fresh(entry, key):
                return entry.value
            if entry is not None and entry.seconds >= BACKGROUND_AFTER:
                if slot not in self._refreshing:
                    self._refreshing.add(slot)
                    threading.Thread(target=self._refresh, args=(engine, slot, key, compute), daemon=True).start()
                return entry.value
            slot_lock = self._slot_locks.setdefault(slot, threading.Lock())
        with slot_lock:
            with self._lock:
                entry = self._entries.get(slot)
            if entry is not None and self._fresh(entry, key):
                return entry.value
            entry = self._work_out(session, key, compute)
            with self._lock:
                self._entries[slot] = entry
            return entry.value

    @staticmethod
    def _fresh(entry: _Entry, key: tuple) -> bool:
        return entry.key == key and clock.now() - entry.computed_at < MAX_AGE

    @staticmethod
    def _work_out(session: Session, key: tuple, compute) -> _Entry:
        began, at = time.perf_counter(), clock.now()
        value = compute(session)
        return _Entry(key, at, value, time.perf_counter() - began)

    def _refresh(self, engine, slot: tuple, key: tuple, compute) -> None:
        try:
            with Session(read_only(engine)) as session:
                entry = self._work_out(session, key, compute)
            with self._lock:
                self._entries[slot] = entry
        except Exception:  # the previous figures stay; the next request tries again
            logging.getLogger(__name__).exception("working out the dashboard figures failed")
        finally:
            with self._lock:
                self._refreshing.discard(slot)

    def wait(self) -> None:
        """Until no background computation is running (tests)."""
        while True:
            with self._lock:
                if not self._refreshing:
                    return
            time.sleep(0.01)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_ABSENCE, _OVERVIEW = _Cache(), _Cache()


def _latest_ids(session: Session, *tables) -> tuple:
    """The highest primary key of each table, read from their indexes."""
    return tuple(session.exec(_latest_ids_query(tables)).one())


@cache
def _latest_ids_query(tables: tuple):
    """Built once per set of tables: every dashboard page asks (see casework.services.facts)."""
    return select(*(select(func.max(t.id)).scalar_subquery() for t in tables))


def register_token(session: Session) -> tuple:
    """Changes when marks are written (imports renew the register generation), a register row or a pupil is added or
    a mark is corrected (mark_change is append-only)."""
    generation = session.get(Setting, REGISTER_GENERATION)
    return (*_latest_ids(session, RegisterYear, MarkChange, Pupil), generation.value if generation else "")


def casework_token(session: Session) -> tuple:
    """Changes with every change to a case that the overview shows: each writes a chronology event (a transition,
    a payment, tick marking a deadline or a notice, an officer allocated)."""
    return _latest_ids(session, CaseEvent, Case)


def absence_figures(session: Session, as_of: date | None = None) -> AbsenceFigures:
    """The absence figures as of `as_of` (today), worked out again when the register changed or MAX_AGE passed."""
    as_of = as_of or clock.today()
    return _ABSENCE.get(session, None, (as_of, register_token(session)), lambda s: compute_absence(s, as_of))


def case_overview(session: Session, user: User, today: date | None = None) -> Overview:
    """Where the open cases in the user's scope stand today, worked out again after any change to a case."""
    today = today or clock.today()
    scope = tuple(sorted(school_ids(session, user))) if user.role == "school" else None
    return _OVERVIEW.get(session, scope, (today, casework_token(session)),
                         lambda s: compute_overview(s, s.merge(user, load=False), today))


def forget_figures() -> None:
    """Empty the caches (tests, and after bulk changes the tokens cannot see)."""
    _ABSENCE.clear()
    _OVERVIEW.clear()
