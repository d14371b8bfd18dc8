"""The caseload: whose open cases each role sees, newest first, a page at a time, with the next open deadline."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from casework.models import Case, Deadline
from casework.services.caseload import caseload_page

from .factories import make_pupil, make_school, make_user


@pytest.fixture()
def county(session):
    a, b = make_school(session, name="Alder Primary"), make_school(session, name="Birch Primary")
    officer, other = make_user(session, "aeo"), make_user(session, "aeo")
    people = dict(officer=officer, other=other, legal=make_user(session, "legal"),
                  manager=make_user(session, "manager"), school_a=make_user(session, "school", schools=[a]))
    cases = {}

    def case(ref, school, opened_on, state="consultation", officer_id=officer.id):
        pupil = make_pupil(session, school)
        row = Case(ref=ref, pupil_id=pupil.id, school_id=school.id, state=state, pathway="england-2024@1",
                   officer_id=officer_id, opened_on=opened_on)
        session.add(row)
        session.flush()
        cases[ref] = row
        return row

    # the officer's open cases: two opened on the same day (the later reference comes first)
    for n, opened in enumerate([date(2026, 9, 7), date(2026, 9, 14), date(2026, 9, 14), date(2026, 9, 21),
                                date(2026, 10, 5), date(2026, 10, 12), date(2026, 11, 2)], start=1):
        case(f"CW-2026-0000{n}", a, opened)
    case("CW-2026-00008", a, date(2026, 11, 9), state="closed")
    case("CW-2026-00009", b, date(2026, 10, 1), state="prosecution", officer_id=other.id)
    case("CW-2026-00010", b, date(2026, 10, 2), officer_id=other.id)
    first = cases["CW-2026-00007"]
    session.add_all([
        Deadline(case_id=first.id, kind="review", due_on=date(2026, 12, 4)),
        Deadline(case_id=first.id, kind="review", due_on=date(2026, 11, 30)),
        Deadline(case_id=first.id, kind="review", due_on=date(2026, 11, 20),
                 done_at=datetime(2026, 11, 20, 9, tzinfo=timezone.utc)),
    ])
    session.flush()
    return people


def refs(rows) -> list[str]:
    return [row.ref for row in rows]


def test_an_officer_pages_through_their_open_cases_newest_first(session, county):
    officer = county["officer"]
    first, more = caseload_page(session, officer, 1, page_size=3)
    assert refs(first) == ["CW-2026-00007", "CW-2026-00006", "CW-2026-00005"] and more
    second, more = caseload_page(session, officer, 2, page_size=3)
    assert refs(second) == ["CW-2026-00004", "CW-2026-00003", "CW-2026-00002"] and more
    last, more = caseload_page(session, officer, 3, page_size=3)
    assert refs(last) == ["CW-2026-00001"] and not more
    assert caseload_page(session, officer, 4, page_size=3) == ([], False)


def test_the_next_deadline_is_the_earliest_one_not_done(session, county):
    rows, _ = caseload_page(session, county["officer"], 1, page_size=2)
    assert [(row.ref, row.next_deadline) for row in rows] == [("CW-2026-00007", date(2026, 11, 30)),
                                                              ("CW-2026-00006", None)]
    assert (rows[0].forename, rows[0].name, rows[0].state) == ("Ava", "Alder Primary", "consultation")


@pytest.mark.parametrize("who, expected", [
    ("other", ["CW-2026-00010", "CW-2026-00009"]),
    ("legal", ["CW-2026-00009"]),
    ("manager", ["CW-2026-00007", "CW-2026-00006", "CW-2026-00005", "CW-2026-00010", "CW-2026-00009",
                 "CW-2026-00004", "CW-2026-00003", "CW-2026-00002", "CW-2026-00001"]),
    ("school_a", ["CW-2026-00007", "CW-2026-00006", "CW-2026-00005", "CW-2026-00004", "CW-2026-00003",
                  "CW-2026-00002", "CW-2026-00001"]),
])
def test_each_role_sees_its_own_open_cases_and_never_a_closed_one(session, county, who, expected):
    rows, more = caseload_page(session, county[who], 1)
    assert refs(rows) == expected and not more
