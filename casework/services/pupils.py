"""Pupils as staff look them up: search, one pupil's record with the sessions behind each figure and the register
heat-map, and the family found through shared contacts. Every query here is limited by `pupil_scope`."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from sqlalchemy import and_, bindparam, func, or_
from sqlmodel import Session, select

import workflows

from .. import clock
from ..models import Case, Contact, Pupil, PupilContact, School, User
from ..register import codes, measures
from ..register.marks import SESSIONS, academic_year, year_end, year_start
from ..register.measures import Segment, ThresholdResult
from .audit import audit
from .errors import BadInput, PermissionDenied
from .scope import can_see_pupil, pupil_scope, sees_every_pupil

PAGE_SIZE = 50
FAMILY_LIMIT = 50  # a contact linked to very many children (a care home, say) is not a family
MAX_QUERY_LENGTH = 100
UPN_START = re.compile(r"[A-Za-z][0-9]{1,11}[0-9A-Za-z]?")
APPROVED_ACTIVITY = frozenset({"K", "V", "P", "W", "B", "J"})

# How the heat-map shows each kind of mark, in legend order.
MARK_KINDS = {
    "present": "Present",
    "approved": "Approved educational activity",
    "authorised": "Authorised absence",
    "unauthorised": "Unauthorised absence",
    "not_required": "Not required to attend, or school closed",
    "none": "No mark",
}
_KIND_OF_CATEGORY = {codes.Category.AUTHORISED: "authorised", codes.Category.UNAUTHORISED: "unauthorised",
                     codes.Category.NOT_POSSIBLE: "not_required"}


def mark_kind(code: str) -> str:
    """The heat-map kind of a register code ('' is no mark)."""
    if not code:
        return "none"
    category = codes.category(code)
    if category is codes.Category.PRESENT:
        return "approved" if code in APPROVED_ACTIVITY else "present"
    return _KIND_OF_CATEGORY[category]


_NEEDS = (("fsm", "Free school meals"), ("eal", "English as an additional language"),
          ("social_worker", "Has a social worker"), ("looked_after", "Looked after"), ("young_carer", "Young carer"),
          ("health_flag", "Health needs"))
SEN_LABELS = {"support": "SEN support", "ehcp": "Education, health and care plan"}


def needs_of(pupil: Pupil) -> list[str]:
    """The pupil's recorded needs and circumstances, as labels."""
    return ([SEN_LABELS[pupil.sen]] if pupil.sen in SEN_LABELS else []) + [
        label for name, label in _NEEDS if getattr(pupil, name)]


def percent(part: int, whole: int) -> float | None:
    """`part` of `whole` in percent, one decimal, rounded half up (as the measures round the absence rate)."""
    return (2000 * part + whole) // (2 * whole) / 10 if whole else None


# Rows of a list of pupils: search results and families.


@dataclass(frozen=True)
class PupilRow:
    """A pupil in a list, with this year's attendance and open cases."""

    id: int
    upn: str
    forename: str
    surname: str
    date_of_birth: date
    year_group: str
    school: str
    attendance: float | None
    persistent: bool
    severe: bool
    pn_threshold: bool
    open_cases: tuple[str, ...]


_ROW_COLUMNS = (Pupil.id, Pupil.upn, Pupil.forename, Pupil.surname, Pupil.date_of_birth, Pupil.year_group,
                School.name)


def _rows_query():
    return select(*_ROW_COLUMNS).outerjoin(School, School.id == Pupil.school_id)


def pupil_rows(session: Session, rows: list) -> list[PupilRow]:
    """Add this year's measures and the open cases to (id, upn, forename, surname, dob, year, school) rows."""
    ids = [row[0] for row in rows]
    if not ids:
        return []
    found = {m["pupil_id"]: m for m in measures.measures_for_all(session, clock.today(), pupil_ids=ids)}
    open_cases: dict[int, list[str]] = {}
    for pupil_id, ref in session.exec(_open_cases_query(), params={"ids": ids,
                                                                   "states": list(workflows.load().open_states)}):
        open_cases.setdefault(pupil_id, []).append(ref)
    result = []
    for pupil_id, upn, forename, surname, dob, year_group, school in rows:
        m = found.get(pupil_id, {})
        rate = m.get("absence_rate")
        result.append(PupilRow(pupil_id, upn, forename, surname, dob, year_group, school or "Not on roll",
                               None if rate is None else round(100 - rate, 1), bool(m.get("persistent_absence")),
                               bool(m.get("severe_absence")), bool(m.get("pn_threshold", {}).get("met")),
                               tuple(open_cases.get(pupil_id, ()))))
    return result


@cache
def _open_cases_query():
    """Built once: every list of pupils asks (see casework.services.facts)."""
    return (select(Case.pupil_id, Case.ref).where(Case.pupil_id.in_(bindparam("ids", expanding=True)),
                                                  Case.state.in_(bindparam("states", expanding=True)))
            .order_by(Case.opened_on, Case.ref))


# Search.


def visible_schools(session: Session, user: User) -> list[tuple[int, str]]:
    """(id, name) of every school whose pupils the user may see, by name."""
    if sees_every_pupil(user):
        return list(session.exec(_schools_query()).all())  # the statement built once
    return list(session.exec(_schools_query().where(pupil_scope(session, user, School.id))).all())


@cache
def _schools_query():
    return select(School.id, School.name).order_by(School.name, School.id)


def _prefix_range(expression, prefix: str):
    """`expression` starts with `prefix`: a range that a btree index on the expression can serve (exact under a
    bytewise collation, as SQLite's and PostgreSQL's C), and a LIKE that keeps out anything else."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    following = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(expression >= prefix, expression < following, expression.like(escaped + "%", escape="\\"))


def _starts_with(column, text: str):
    """Case-insensitive prefix match on lower(column) (an index on lower(column) can serve it)."""
    return _prefix_range(func.lower(column), text.lower())


def _name_condition(text: str):
    """Forename or surname prefix for one word; for several, every split into forename and surname, either way
    round ("Ava Brook", "Brook Ava", "Mary Ann Smith"); "Brook, Ava" is surname then forename."""
    if "," in text:
        surname, _, forename = (part.strip() for part in text.partition(","))
        return and_(*([_starts_with(Pupil.surname, surname)] if surname else []),
                    *([_starts_with(Pupil.forename, forename)] if forename else []))
    words = text.split()
    if len(words) == 1:
        return or_(_starts_with(Pupil.forename, words[0]), _starts_with(Pupil.surname, words[0]))
    splits = [(" ".join(words[:k]), " ".join(words[k:])) for k in range(1, len(words))]
    return or_(*(and_(_starts_with(first, a), _starts_with(second, b))
                 for a, b in splits for first, second in ((Pupil.forename, Pupil.surname),
                                                          (Pupil.surname, Pupil.forename))))


def _upn_condition(text: str):
    upn = text.upper()
    return Pupil.upn == upn if len(upn) == 13 else _prefix_range(Pupil.upn, upn)


def looks_like_upn(text: str) -> bool:
    """A UPN or the start of one: a letter, then digits (the last character of a temporary UPN is a letter)."""
    return UPN_START.fullmatch(text) is not None


def search(session: Session, user: User, text: str, school_id: int | None, page: int) -> tuple[list[PupilRow], bool]:
    """One page of the pupils the user may see whose UPN or name starts with `text` (at one school, when given),
    by surname, and whether another page follows. The search is audited."""
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_LENGTH:
        raise BadInput(f"Enter {MAX_QUERY_LENGTH} characters or fewer")
    query = _rows_query().where(pupil_scope(session, user))
    if text:
        query = query.where(_upn_condition(text) if looks_like_upn(text) else _name_condition(text))
    if school_id is not None:
        query = query.where(Pupil.school_id == school_id)
    rows = session.exec(query.order_by(Pupil.surname, Pupil.forename, Pupil.id)
                        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    audit(session, user.email, "read", "pupil_search", user.email, {"q": text, "school_id": school_id, "page": page})
    return pupil_rows(session, rows[:PAGE_SIZE]), len(rows) > PAGE_SIZE


# One pupil.


def visible_pupil(session: Session, user: User, pupil_id: int) -> Pupil:
    """The pupil, if it exists and the user may see it (BadInput / PermissionDenied otherwise)."""
    pupil = session.get(Pupil, pupil_id)
    if pupil is None:
        raise BadInput(f"pupil {pupil_id}: no such pupil")
    if not can_see_pupil(session, user, pupil):
        raise PermissionDenied(f"{user.email} may not see pupil {pupil_id}")
    return pupil


@dataclass(frozen=True)
class ContactLine:
    contact: Contact
    link: PupilContact
    address_shown: bool  # False when the address is confidential and the user is at a school

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.contact.title, self.contact.forename, self.contact.surname) if p)

    @property
    def address(self) -> str:
        c = self.contact
        return ", ".join(p for p in (c.address_line1, c.address_line2, c.town, c.postcode) if p)


def contacts_of(session: Session, user: User, pupil: Pupil) -> list[ContactLine]:
    """The pupil's contacts, parents first; school users are not shown confidential addresses."""
    rows = session.exec(select(Contact, PupilContact).join(PupilContact, PupilContact.contact_id == Contact.id)
                        .where(PupilContact.pupil_id == pupil.id)
                        .order_by(PupilContact.parental_responsibility.desc(), PupilContact.lives_with_pupil.desc(),
                                  Contact.contact_ref)).all()
    return [ContactLine(contact, link, user.role != "school" or not contact.address_confidential)
            for contact, link in rows]


@dataclass(frozen=True)
class Cell:
    """One session of the heat-map."""

    day: date
    session: str
    code: str

    @property
    def kind(self) -> str:
        return mark_kind(self.code)

    @property
    def meaning(self) -> str:
        return codes.description(self.code) if self.code else "No mark"


@dataclass(frozen=True)
class Week:
    monday: date
    days: list[tuple[Cell, Cell]]  # Monday to Friday, AM and PM


@dataclass(frozen=True)
class Register:
    """One academic year of the merged register: the weeks with marks, and every mark that is not plain present."""

    year: int
    weeks: list[Week]
    noted: list[Cell]  # every marked session (weekends too) other than / and \, in date order
    present: int  # sessions marked / or \


def merged_codes(segments: list[Segment], first: date, last: date) -> list[str]:
    """The code of each session from `first` to `last`, merged across schools as the measures merge them
    (present > authorised > unauthorised > not possible > no mark)."""
    length = ((last - first).days + 1) * 2
    best = [codes.NO_MARK] * length
    rank = [0] * length
    for segment in segments:
        offset = (segment.start_date - first).days * 2
        for i in range(max(0, offset), min(length, offset + len(segment.marks))):
            char = segment.marks[i - offset]
            r = int(measures.KEY_OF[ord(char)]) * 2 + (char != codes.NO_MARK)
            if r > rank[i]:
                best[i], rank[i] = char, r
    return [codes.decode(char) for char in best]


def register_year(segments: list[Segment], year: int) -> Register:
    """The heat-map of one academic year: Monday-to-Friday weeks from the first to the last week with a mark."""
    first, last = year_start(year), year_end(year)
    merged = merged_codes([s for s in segments if academic_year(s.start_date) == year], first, last)
    cells = [Cell(first + timedelta(days=i // 2), SESSIONS[i % 2], code) for i, code in enumerate(merged)]
    marked = [cell for cell in cells if cell.code]
    if not marked:
        return Register(year, [], [], 0)
    weeks = []
    monday = marked[0].day - timedelta(days=marked[0].day.weekday())
    while monday <= marked[-1].day:
        index = (monday - first).days * 2
        days = [(cells[index + 2 * d], cells[index + 2 * d + 1]) if 0 <= index + 2 * d < len(cells)
                else _blank_day(monday + timedelta(days=d)) for d in range(5)]
        weeks.append(Week(monday, days))
        monday += timedelta(days=7)
    present = sum(cell.code in ("/", "\\") for cell in marked)
    return Register(year, weeks, [cell for cell in marked if cell.code not in ("/", "\\")], present)


def _blank_day(day: date) -> tuple[Cell, Cell]:
    """A day outside the academic year (the week of 1 August or of 31 July runs over its edge)."""
    return Cell(day, "AM", ""), Cell(day, "PM", "")


@dataclass(frozen=True)
class Attendance:
    """The measures as of a day, with the sessions behind the penalty-notice threshold."""

    as_of: date
    figures: dict  # pupil_measures
    threshold: ThresholdResult  # the 10 school weeks up to as_of
    best_this_year: ThresholdResult | None  # the year's worst window, when the current one is not met
    cme_days: list[date]

    @property
    def threshold_sessions(self) -> list[Cell]:
        return [Cell(*s) for s in self.threshold.sessions]

    @property
    def best_sessions(self) -> list[Cell]:
        return [Cell(*s) for s in self.best_this_year.sessions] if self.best_this_year else []

    @property
    def attendance(self) -> float | None:
        rate = self.figures["absence_rate"]
        return None if rate is None else round(100 - rate, 1)

    @property
    def authorised_rate(self) -> float | None:
        return percent(self.figures["authorised_absence"], self.figures["possible_sessions"])

    @property
    def unauthorised_rate(self) -> float | None:
        return percent(self.figures["unauthorised_absence"], self.figures["possible_sessions"])


def attendance(segments: list[Segment], as_of: date, school_urn: str) -> Attendance:
    figures = measures.pupil_measures(segments, as_of, school_urn)
    threshold = measures.threshold_at(segments, as_of)
    best = None
    if not threshold.met:
        found = measures.threshold_in_period(segments, year_start(academic_year(as_of)), as_of)
        best = found if found.met else None
    return Attendance(as_of, figures, threshold, best, measures.cme_days(segments, as_of))


@dataclass(frozen=True)
class CaseLine:
    ref: str
    state: str
    opened_on: date
    closed_on: date | None
    school: str


@dataclass(frozen=True)
class PupilRecord:
    pupil: Pupil
    school: School | None
    address_shown: bool
    contacts: list[ContactLine]
    cases: list[CaseLine]
    years: list[int]  # academic years with register marks, newest first
    register: Register
    attendance: Attendance
    rates_school: str  # the school whose sessions the rates count (the current one, or that year's)


def _school_urn_for(segments: list[Segment], year: int, current: School | None) -> str:
    """The school whose register gives the year's rates: the current one if it has that year, else the latest."""
    urns = [s.school_urn for s in segments if academic_year(s.start_date) == year]
    if current is not None and (current.urn in urns or not urns):
        return current.urn
    return urns[-1] if urns else ""


def pupil_record(session: Session, user: User, pupil_id: int, year: int | None = None) -> PupilRecord:
    """Everything the pupil page shows, for one academic year (this one by default); the read is audited."""
    pupil = visible_pupil(session, user, pupil_id)
    school = session.get(School, pupil.school_id) if pupil.school_id else None
    segments = measures.load_segments(session, [pupil.id]).get(pupil.id, [])
    years = sorted({academic_year(s.start_date) for s in segments}, reverse=True)
    this_year = academic_year(clock.today())
    if year is None:
        year = this_year if this_year in years or not years else years[0]
    elif year not in years and year != this_year:
        raise BadInput(f"pupil {pupil.upn} has no register for {year}")
    contacts = contacts_of(session, user, pupil)
    hidden_home = any(not c.address_shown and c.link.lives_with_pupil for c in contacts)
    as_of = min(clock.today(), year_end(year))
    urn = _school_urn_for(segments, year, school)
    rates_school = session.exec(select(School.name).where(School.urn == urn)).first() or ""
    audit(session, user.email, "read", "pupil", pupil.upn, {"year": year})
    return PupilRecord(pupil, school, not hidden_home, contacts, cases_of(session, pupil), years,
                       register_year(segments, year), attendance(segments, as_of, urn), rates_school)


def cases_of(session: Session, pupil: Pupil) -> list[CaseLine]:
    """Every case of the pupil, newest first."""
    rows = session.exec(select(Case.ref, Case.state, Case.opened_on, Case.closed_on, School.name)
                        .join(School, School.id == Case.school_id).where(Case.pupil_id == pupil.id)
                        .order_by(Case.opened_on.desc(), Case.ref.desc())).all()
    return [CaseLine(*row) for row in rows]


# The family.


@dataclass(frozen=True)
class SharedContact:
    name: str
    links: list[tuple[str, str]]  # (child's name, relationship) for each child shown


@dataclass(frozen=True)
class Family:
    pupil: Pupil
    children: list[PupilRow]  # the pupil first, then siblings by surname and forename
    contacts: list[SharedContact]  # the pupil's contacts linked to at least one sibling shown
    more: bool  # more siblings than FAMILY_LIMIT


def family(session: Session, user: User, pupil_id: int) -> Family:
    """The pupil and the children sharing a contact with them that the user may see (any school for LA staff, the
    user's own schools for school users); the read is audited."""
    pupil = visible_pupil(session, user, pupil_id)
    own_contacts = select(PupilContact.contact_id).where(PupilContact.pupil_id == pupil.id)
    sharing = select(PupilContact.pupil_id).where(PupilContact.contact_id.in_(own_contacts))
    siblings = session.exec(_rows_query().where(Pupil.id.in_(sharing), Pupil.id != pupil.id,
                                                pupil_scope(session, user))
                            .order_by(Pupil.surname, Pupil.forename, Pupil.id).limit(FAMILY_LIMIT + 1)).all()
    this = session.exec(_rows_query().where(Pupil.id == pupil.id)).one()
    children = pupil_rows(session, [this, *siblings[:FAMILY_LIMIT]])
    audit(session, user.email, "read", "family", pupil.upn, {"siblings": [c.upn for c in children[1:]]})
    return Family(pupil, children, _shared_contacts(session, pupil, children), len(siblings) > FAMILY_LIMIT)


def _shared_contacts(session: Session, pupil: Pupil, children: list[PupilRow]) -> list[SharedContact]:
    """The pupil's contacts that link to one of the other children shown, each with its links to the children."""
    names = {c.id: f"{c.forename} {c.surname}" for c in children}
    rows = session.exec(
        select(Contact.id, Contact.title, Contact.forename, Contact.surname, PupilContact.pupil_id,
               PupilContact.relationship)
        .join(PupilContact, PupilContact.contact_id == Contact.id)
        .where(Contact.id.in_(select(PupilContact.contact_id).where(PupilContact.pupil_id == pupil.id)),
               PupilContact.pupil_id.in_(list(names)))
        .order_by(Contact.surname, Contact.forename, Contact.id)).all()
    contacts: dict[int, SharedContact] = {}
    for contact_id, title, forename, surname, child_id, relationship in rows:
        name = " ".join(p for p in (title, forename, surname) if p)
        contacts.setdefault(contact_id, SharedContact(name, [])).links.append(
            (names[child_id], relationship or "contact"))
    return [c for c in contacts.values() if len(c.links) > 1]

