"""A user's caseload: the open cases they work on or may see, one page at a time (shared by the web and the CLI)."""
from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

import workflows

from ..models import Case, Deadline, Pupil, School, User
from .scope import pupil_scope

PAGE_SIZE = 50


def caseload_page(session: Session, user: User, page: int, page_size: int = PAGE_SIZE) -> tuple[list, bool]:
    """One page of the user's caseload, newest first, and whether another page follows.

    Legal officers see the cases in prosecution, AEOs the open cases they are the officer of, managers every open
    case, school users the open cases of their schools' pupils."""
    pathway = workflows.load()
    next_deadline = (select(func.min(Deadline.due_on)).where(Deadline.case_id == Case.id, Deadline.done_at.is_(None))
                     .correlate(Case).scalar_subquery())
    query = (select(Case.ref, Pupil.forename, Pupil.surname, School.name, Case.state, Case.opened_on,
                    next_deadline.label("next_deadline"))
             .join(Pupil, Pupil.id == Case.pupil_id).join(School, School.id == Case.school_id))
    if user.role == "legal":
        query = query.where(Case.state == "prosecution")
    else:
        query = query.where(Case.state.in_(pathway.open_states))
    if user.role == "aeo":
        query = query.where(Case.officer_id == user.id)
    query = query.where(pupil_scope(session, user))
    rows = session.exec(query.order_by(Case.opened_on.desc(), Case.ref.desc())
                        .offset((page - 1) * page_size).limit(page_size + 1)).all()
    return rows[:page_size], len(rows) > page_size
