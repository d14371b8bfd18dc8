"""Allocating cases to officers: who may hold cases, each officer's caseload, the open cases nobody holds, and giving
cases to an officer. Each case that changes hands gets a chronology event and an audit row."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

import workflows

from .. import chronology, clock
from ..models import Case, Pupil, School, User
from .audit import audit
from .errors import BadInput, PermissionDenied, StaleCase
from .scope import pupil_scope
from .users import get_user

OFFICER_ROLES = ("aeo", "manager")
ALLOCATING_ROLES = ("manager",)
TRIGGER = "officer_allocated"  # the chronology event; it keeps the case's state
PAGE_SIZE = 50


@dataclass(frozen=True)
class Caseload:
    email: str
    name: str
    role: str
    active: bool
    open_cases: int

    @property
    def may_hold_cases(self) -> bool:
        return self.active and self.role in OFFICER_ROLES


def caseloads(session: Session) -> list[Caseload]:
    """Every active AEO and manager, and anyone else still holding open cases, with their open-case count."""
    open_cases = func.count(Case.id)
    rows = session.exec(
        select(User.email, User.name, User.role, User.active, open_cases)
        .outerjoin(Case, and_(Case.officer_id == User.id, Case.state.in_(workflows.load().open_states)))
        .group_by(User.id, User.email, User.name, User.role, User.active)
        .having(or_(and_(User.active, User.role.in_(OFFICER_ROLES)), open_cases > 0))
        .order_by(User.name, User.email)).all()
    return [Caseload(email, name or email, role, bool(active), count) for email, name, role, active, count in rows]


def unallocated(session: Session, user: User, page: int) -> tuple[list, bool]:
    """A page of open cases with no officer (in the user's scope), longest waiting first; and whether more follow."""
    rows = session.exec(
        select(Case.ref, Case.state, Case.opened_on, Pupil.forename, Pupil.surname, School.name)
        .join(Pupil, Pupil.id == Case.pupil_id).join(School, School.id == Case.school_id)
        .where(Case.state.in_(workflows.load().open_states), Case.officer_id.is_(None),
               pupil_scope(session, user, Case.school_id))
        .order_by(Case.opened_on, Case.ref).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def allocate(session: Session, actor_email: str, refs: list[str], officer_email: str,
             expected_officer: str | None = None) -> list[str]:
    """Give these open cases to an active AEO or manager; returns the references that changed hands.

    Each case must still be held by `expected_officer` (an email; None: by nobody), so a form read before someone
    else moved or closed a case is refused as a whole, writing nothing. A case already with the officer is left as
    it is, so a form posted twice changes nothing the second time."""
    actor = get_user(session, actor_email)
    if actor.role not in ALLOCATING_ROLES:
        raise PermissionDenied(f"{actor.email} ({actor.role}) may not allocate cases")
    officer = _officer(session, officer_email)
    expected = None if expected_officer is None else _user(session, expected_officer)
    refs = list(dict.fromkeys(ref.strip().upper() for ref in refs if ref and ref.strip()))
    if not refs:
        raise BadInput("Select at least one case")
    if expected is not None and expected.id == officer.id:
        raise BadInput("Choose a different officer to move the case to")
    cases = _locked(session, actor, refs)
    holders = _holders(session, cases)
    moving, reasons = [], []
    for case in cases:
        if case.state not in workflows.load_key(case.pathway).open_states:
            reasons.append(f"{case.ref} has been closed")
        elif case.officer_id == officer.id:
            continue
        elif case.officer_id != (expected.id if expected else None):
            reasons.append(f"{case.ref} is now held by {_name(holders.get(case.officer_id))}"
                           + (f", not {_name(expected)}" if expected else ""))
        else:
            moving.append(case)
    if reasons:
        raise StaleCase(reasons)
    for case in moving:
        _give(session, case, officer, actor, holders.get(case.officer_id))
    session.flush()
    return [case.ref for case in moving]


def _user(session: Session, email: str) -> User:
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise BadInput(f"There is no user {email}")
    return user


def _officer(session: Session, email: str) -> User:
    if not email or not email.strip():
        raise BadInput("Select an officer")
    officer = _user(session, email)
    if not officer.active or officer.role not in OFFICER_ROLES:
        raise BadInput(f"{_name(officer)} is not an active AEO or manager, so cannot hold cases")
    return officer


def _locked(session: Session, actor: User, refs: list[str]) -> list[Case]:
    """The cases, locked for this transaction in id order (so two allocations cannot deadlock), in `refs` order."""
    found = {case.ref: case for case in session.exec(
        select(Case).where(Case.ref.in_(refs), pupil_scope(session, actor, Case.school_id))
        .order_by(Case.id).with_for_update())}
    missing = [ref for ref in refs if ref not in found]
    if missing:
        raise BadInput(f"There is no case {', '.join(missing)}")
    return [found[ref] for ref in refs]


def _holders(session: Session, cases: list[Case]) -> dict[int, User]:
    ids = {case.officer_id for case in cases if case.officer_id is not None}
    return {user.id: user for user in session.exec(select(User).where(User.id.in_(ids)))} if ids else {}


def _name(user: User | None) -> str:
    return "nobody" if user is None else f"{user.name or user.email} ({user.email})"


def _give(session: Session, case: Case, officer: User, actor: User, previous: User | None) -> None:
    detail = {"officer": officer.email, "previous_officer": previous.email if previous else ""}
    case.officer_id = officer.id
    case.version += 1
    session.add(case)
    chronology.append(session, case, on=clock.today(), recorded_at=clock.now(), actor_id=actor.id,
                      actor_email=actor.email, trigger=TRIGGER, from_state=case.state, to_state=case.state,
                      data=detail)
    audit(session, actor.email, "update", "case", case.ref, detail)
