"""The one place a user's reach is decided: school users see only the pupils on their own schools' rolls (and those
pupils' cases); LA staff see every pupil. Every query that lists pupils or cases for a user filters with `pupil_scope`."""
from __future__ import annotations

from sqlalchemy import ColumnElement, true
from sqlmodel import Session, select

from ..models import Pupil, User, UserSchool


def school_ids(session: Session, user: User) -> set[int]:
    """The schools a school user is scoped to."""
    return set(session.exec(select(UserSchool.school_id).where(UserSchool.user_id == user.id)).all())


def sees_every_pupil(user: User) -> bool:
    """Whether pupil_scope lets this user see every pupil (LA staff), so that a query can skip it."""
    return user.role != "school"


def pupil_scope(session: Session, user: User, school_column=None) -> ColumnElement[bool]:
    """A WHERE clause limiting a query to the pupils (or cases, via `school_column`) this user may see."""
    if sees_every_pupil(user):
        return true()
    column = Pupil.school_id if school_column is None else school_column
    return column.in_(school_ids(session, user))


def can_see_pupil(session: Session, user: User, pupil: Pupil) -> bool:
    """Whether this user may see this pupil (and so the pupil's cases)."""
    return sees_every_pupil(user) or pupil.school_id in school_ids(session, user)
