"""A user's caseload: the open cases they work on or may see, one page at a time (shared by the web and the CLI)."""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, func
from sqlmodel import Session, select

import workflows

from ..models import Case, Deadline, Pupil, School, User
from .scope import pupil_scope, sees_every_pupil

PAGE_SIZE = 50


def caseload_page(session: Session, user: User, page: int, page_size: int = PAGE_SIZE) -> tuple[list, bool]:
    """One page of the user's caseload, newest first, and whether another page follows.

    Legal officers see the cases in prosecution, AEOs the open cases they are the officer of, managers every open
    case, school users the open cases of their schools' pupils."""
    params = {"final": list(workflows.load().final_states), "officer_id": user.id,
              "offset": (page - 1) * page_size, "limit": page_size + 1}
    if sees_every_pupil(user):  # the same statement for every user of the role: built once (casework.services.facts)
        statement = _role_caseload_query(user.role)
    else:
        statement = _caseload_query(user.role, pupil_scope(session, user))
    rows = session.exec(statement, params=params).all()
    return rows[:page_size], len(rows) > page_size


def _caseload_query(role: str, scope=None):
    """The caseload of a user of `role` (scoped by `scope`, a school user's pupil_scope), run with the parameters of
    caseload_page."""
    page_of = select(Case.id)  # the page's cases first, then their details: not every case's, then a page of them
    if role == "legal":
        page_of = page_of.where(Case.state == "prosecution")
    else:
        # "not closed" rather than "in an open state": the same cases, and without statistics SQLite would walk the
        # state index for them (nearly every case) and sort, instead of reading the order index a page at a time
        page_of = page_of.where(Case.state.not_in(bindparam("final", expanding=True)))
    if role == "aeo":
        page_of = page_of.where(Case.officer_id == bindparam("officer_id"))
    if scope is not None:
        page_of = page_of.join(Pupil, Pupil.id == Case.pupil_id).where(scope)
    order = (Case.opened_on.desc(), Case.ref.desc())
    page_of = page_of.order_by(*order).offset(bindparam("offset")).limit(bindparam("limit")).subquery()
    next_deadline = (select(func.min(Deadline.due_on)).where(Deadline.case_id == Case.id, Deadline.done_at.is_(None))
                     .correlate(Case).scalar_subquery())
    return (select(Case.ref, Pupil.forename, Pupil.surname, School.name, Case.state, Case.opened_on,
                   next_deadline.label("next_deadline"))
            .join(page_of, page_of.c.id == Case.id)
            .join(Pupil, Pupil.id == Case.pupil_id).join(School, School.id == Case.school_id)
            .order_by(*order))


_role_caseload_query = cache(_caseload_query)
