"""Schools as the administrator sees them: the list with pupils on roll and live feed tokens, and edits of a school's
name, phase and independent flag (penalty notices cannot be issued for pupils of independent schools)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlmodel import Session, select

from ..models import PHASES, ApiToken, Pupil, School
from .audit import audit
from .errors import BadInput

MAX_NAME_LENGTH = 120


class InvalidSchool(BadInput):
    """A school's details are refused: `problems` maps each detail ("name", "phase") to the reason."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass(frozen=True)
class SchoolRow:
    school: School
    pupils_on_roll: int
    live_tokens: int


def list_schools(session: Session, *, search: str = "", page: int = 1,
                 page_size: int = 100) -> tuple[list[SchoolRow], bool]:
    """One page of schools by name (optionally those whose name contains `search` or whose URN is it), each with its
    pupils on roll and live feed tokens; and whether another page follows."""
    query = select(School)
    term = search.strip()
    if term:
        query = query.where(or_(School.urn == term, func.lower(School.name).contains(term.lower(), autoescape=True)))
    schools = session.exec(query.order_by(School.name, School.urn)
                           .offset((page - 1) * page_size).limit(page_size + 1)).all()
    shown = schools[:page_size]
    pupils, tokens = _counts(session, [school.id for school in shown])
    return [SchoolRow(s, pupils.get(s.id, 0), tokens.get(s.id, 0)) for s in shown], len(schools) > page_size


def school_row(session: Session, school_id: int) -> SchoolRow | None:
    """One school with its counts, or None."""
    school = session.get(School, school_id)
    if school is None:
        return None
    pupils, tokens = _counts(session, [school.id])
    return SchoolRow(school, pupils.get(school.id, 0), tokens.get(school.id, 0))


def update_school(session: Session, school_id: int, *, name: str, phase: str, independent: bool,
                  actor: str) -> dict:
    """Change a school's name, phase and independent flag (its URN and DfE number stay); returns what changed."""
    school = session.exec(select(School).where(School.id == school_id).with_for_update()).first()
    if school is None:
        raise BadInput(f"school {school_id}: no such school")
    name = " ".join(name.split())
    problems = {}
    if not name:
        problems["name"] = "Enter the school's name"
    elif len(name) > MAX_NAME_LENGTH:
        problems["name"] = f"The school's name must be {MAX_NAME_LENGTH} characters or fewer"
    if phase not in PHASES:
        problems["phase"] = "Choose the school's phase"
    if problems:
        raise InvalidSchool(problems)
    changes = {key: value for key, value in (("name", name), ("phase", phase), ("independent", independent))
               if getattr(school, key) != value}
    if changes:
        for key, value in changes.items():
            setattr(school, key, value)
        session.add(school)
        audit(session, actor, "update", "school", school.urn, changes)
        session.flush()
    return changes


def school_choices(session: Session) -> list[tuple[str, str]]:
    """(URN, "name (URN)") for every school, by name: for choosing one school in a form."""
    return [(urn, f"{name} ({urn})") for urn, name in
            session.exec(select(School.urn, School.name).order_by(School.name, School.urn)).all()]


def _counts(session: Session, school_ids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Pupils on roll and live (unrevoked) feed tokens per school, two grouped queries for all the schools."""
    if not school_ids:
        return {}, {}
    pupils = session.exec(select(Pupil.school_id, func.count()).where(Pupil.school_id.in_(school_ids))
                          .group_by(Pupil.school_id)).all()
    tokens = session.exec(select(ApiToken.school_id, func.count())
                          .where(ApiToken.school_id.in_(school_ids), ApiToken.revoked_at.is_(None))
                          .group_by(ApiToken.school_id)).all()
    return dict(pupils), dict(tokens)
