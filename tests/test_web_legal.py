"""The legal officer's list: cases in legal action with the limitation clock, the interview and the court step."""
from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from casework.db import get_engine
from casework.services.cases import fire
from casework.services.legal import prosecutions

from .factories import make_user
from .web_support import audited, page, signed_in

REFERRAL = {"section": "444(1)", "offence_start": "2026-09-03", "offence_end": "2026-11-20",
            "eso_considered": "considered; not needed", "decision": "evidence and options recorded"}


@pytest.fixture(scope="module")
def referred(web_world, pages_url):
    """The world's case referred for prosecution on 23 Nov 2026, and a legal officer (committed)."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        fire(session, web_world.ref, "refer_for_prosecution", web_world.aeo, date(2026, 11, 20), REFERRAL)
        legal = make_user(session, "legal").email
        session.commit()
    return legal


def test_the_referred_case_shows_its_limitation_clock(app, web_world, referred, pages_url):
    words = page(signed_in(app, referred), "/legal").words
    # the earliest unauthorised absence is 14 Sep 2026: information must be laid by 14 Mar 2027, 111 days away
    assert f"{web_world.ref} referred 2026-11-20 Ava Brook Riverside Primary s.444(1) 2026-09-03 to 2026-11-20 " \
           "2027-03-14 Running 111 days Not yet Not yet laid" in words
    assert audited(pages_url, referred, "read", "prosecutions") == [referred]


def test_the_clock_turns_urgent_then_passed_and_stops_when_information_is_laid(web_world, referred, pages_url):
    with Session(get_engine(pages_url)) as session:
        (row,) = prosecutions(session, date(2027, 2, 20))
        assert (row.clock, row.days_left) == ("Urgent", 22)
        assert [(r.clock, r.days_left) for r in prosecutions(session, date(2027, 2, 13))] == [("Running", 29)]
        assert [(r.clock, r.days_left) for r in prosecutions(session, date(2027, 2, 14))] == [("Urgent", 28)]
        assert [(r.clock, r.days_left) for r in prosecutions(session, date(2027, 3, 14))] == [("Urgent", 0)]
        assert [(r.clock, r.days_left) for r in prosecutions(session, date(2027, 3, 15))] == [("Limitation passed", -1)]


def test_the_interview_and_the_information_laid_are_shown(app, web_world, referred, pages_url):
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        fire(session, web_world.ref, "record_interview", referred, date(2026, 11, 23), {"invite": "yes"})
        fire(session, web_world.ref, "lay_information", referred, date(2026, 11, 23),
             {"court": "Norwich Magistrates' Court", "hearing_on": "2027-01-12"})
        session.commit()
    words = page(signed_in(app, referred), "/legal").words
    assert "Information laid Invited 2026-11-23 Laid 2026-11-23 Norwich Magistrates' Court hearing 2027-01-12" in words


def test_other_roles_cannot_open_the_list(app, web_world):
    assert signed_in(app, web_world.aeo).get("/legal").status_code == 403
    assert signed_in(app, web_world.school_user).get("/legal").status_code == 403
