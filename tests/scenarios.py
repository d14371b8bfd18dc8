"""A pupil with two parents, a register with 12 unauthorised sessions and a half term, and the users around them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlmodel import select

from casework.models import Case, Letter
from casework.services.cases import fire, open_case

from .factories import fill_register, make_parent, make_pupil, make_school, make_user

HALF_TERM = {date(2026, 10, 26), date(2026, 10, 27), date(2026, 10, 28), date(2026, 10, 29), date(2026, 10, 30)}
ABSENT = {date(2026, 9, 14): "O", date(2026, 9, 15): "O", date(2026, 9, 16): "G", date(2026, 9, 17): "G",
          date(2026, 9, 18): "O", date(2026, 9, 21): "U"}  # 12 unauthorised sessions


HOLIDAY = {date(2026, 11, d): "G" for d in range(9, 14)}  # Monday 9 to Friday 13 November, coded G: 10 sessions


def holiday_siblings(session, school):
    """Ava and Ben Brook at `school` with the same mother (they live with her) and father (they do not), present but
    for a holiday in the week of 9 November: (ava, ben, mother, father)."""
    ava = make_pupil(session, school, forename="Ava", surname="Brook")
    ben = make_pupil(session, school, forename="Ben", surname="Brook", dob=date(2018, 5, 1))
    mother = make_parent(session, ava, forename="Sam", surname="Brook", relationship="mother")
    father = make_parent(session, ava, forename="Chris", surname="Brook", title="Mr", relationship="father",
                         lives=False)
    for contact, relationship in ((mother, "mother"), (father, "father")):
        make_parent(session, ben, ref=contact.contact_ref, relationship=relationship)
    for pupil in (ava, ben):
        fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=HOLIDAY, closed=HALF_TERM)
    return ava, ben, mother, father


@dataclass
class World:
    school: object
    pupil: object
    mother: object
    father: object
    aeo: str
    legal: str
    school_user: str
    other_school_user: str


@pytest.fixture()
def world(session, storage):
    school = make_school(session)
    other = make_school(session, name="Other Primary")
    pupil = make_pupil(session, school)
    mother = make_parent(session, pupil, forename="Sam", title="Ms", relationship="mother")
    father = make_parent(session, pupil, forename="Chris", title="Mr", relationship="father", lives=False)
    make_parent(session, pupil, forename="Gran", title="Mrs", relationship="grandmother", pr=False, lives=False)
    fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=ABSENT, closed=HALF_TERM)
    return World(school, pupil, mother, father, make_user(session, "aeo").email, make_user(session, "legal").email,
                 make_user(session, "school", schools=[school]).email,
                 make_user(session, "school", schools=[other]).email)


def letters_of(session, ref, kind=None):
    case = session.exec(select(Case).where(Case.ref == ref)).one()
    query = select(Letter).where(Letter.case_id == case.id)
    if kind:
        query = query.where(Letter.kind == kind)
    return session.exec(query).all()


def to_notice_to_improve(session, w: World, on=date(2026, 10, 5), weeks=3) -> str:
    ref = open_case(session, w.pupil.upn, w.school_user, date(2026, 10, 1)).case.ref
    fire(session, ref, "start_consultation", w.aeo, date(2026, 10, 1))
    fire(session, ref, "agree_action_plan", w.aeo, date(2026, 10, 2),
         {"actions": "Morning check-in", "review_on": "2026-10-30"})
    fire(session, ref, "issue_notice_to_improve", w.aeo, on, {"improvement_weeks": str(weeks)})
    return ref


