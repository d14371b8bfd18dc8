"""Three journeys in a real browser: a school raises a concern; an AEO takes it to a penalty notice and downloads the
letters; a legal officer opens the referred case and sees the limitation clock. axe runs on every page visited."""
from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from casework.db import get_engine
from casework.services.cases import fire, open_case

from ..factories import PASSWORD, fill_register, make_parent, make_pupil, make_school, make_user
from ..scenarios import ABSENT, HALF_TERM

REFERRAL = {"section": "444(1)", "offence_start": "2026-09-03", "offence_end": "2026-11-20",
            "eso_considered": "considered; not needed", "decision": "evidence and options recorded"}


@pytest.fixture()
def people(live_url):
    """A school with a pupil whose register meets the threshold, her parents, and a user of each role (committed)."""
    with Session(get_engine(live_url), expire_on_commit=False) as session:
        school = make_school(session, name="Riverside Primary")
        pupil = make_pupil(session, school, forename="Ava", surname="Brook")
        make_parent(session, pupil, forename="Sam", surname="Brook", relationship="mother")
        make_parent(session, pupil, forename="Chris", surname="Brook", title="Mr", relationship="father", lives=False)
        fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=ABSENT, closed=HALF_TERM)
        users = {role: make_user(session, role, schools=[school] if role == "school" else []).email
                 for role in ("school", "aeo", "legal", "manager")}
        session.commit()
    return pupil, users


def referred_case(live_url, pupil, aeo: str) -> str:
    """Ava's case taken by the AEO through a support plan and a notice to improve to a referral (committed)."""
    with Session(get_engine(live_url), expire_on_commit=False) as session:
        ref = open_case(session, pupil.upn, aeo, date(2026, 10, 1)).case.ref
        fire(session, ref, "start_consultation", aeo, date(2026, 10, 1))
        fire(session, ref, "agree_action_plan", aeo, date(2026, 10, 2),
             {"actions": "Morning check-in", "review_on": "2026-10-30"})
        fire(session, ref, "issue_notice_to_improve", aeo, date(2026, 10, 5), {"improvement_weeks": "3"})
        fire(session, ref, "refer_for_prosecution", aeo, date(2026, 11, 23), REFERRAL)
        session.commit()
    return ref


def test_a_legal_officer_opens_the_referred_case_and_sees_the_limitation_clock(journey, people, live_url):
    pupil, users = people
    ref = referred_case(live_url, pupil, users["aeo"])
    legal = journey("legal")
    page = legal.sign_in(users["legal"], PASSWORD)
    with page.expect_navigation():
        page.get_by_role("link", name="Prosecutions").click()
    legal.check("prosecutions")
    row = page.get_by_role("row").filter(has_text=ref)
    assert "2027-03-14" in row.inner_text() and "111 days" in row.inner_text()
    with page.expect_navigation():
        row.get_by_role("link", name=ref, exact=True).click()
    legal.check("case")
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Case {ref}")
    assert "2027-03-14" in page.content() and "111 days left" in page.content()


def test_the_accessibility_check_fails_on_a_page_with_a_serious_violation(journey):
    """The axe check can fail: an image without alternative text and an unlabelled input are reported."""
    tab = journey("axe-self-check")
    tab.page.set_content('<html lang="en"><body><main><h1>Bad</h1><img src="x.png"><input type="text"></main></body></html>')
    with pytest.raises(AssertionError, match="image-alt"):
        tab.check("bad")


def test_a_legal_officer_builds_the_court_bundle_and_the_progress_page_follows_the_build(journey, people, live_url):
    pupil, users = people
    ref = referred_case(live_url, pupil, users["aeo"])
    legal = journey("bundle")
    page = legal.sign_in(users["legal"], PASSWORD)
    with page.expect_navigation():
        page.get_by_role("link", name="Prosecutions").click()
    legal.check("prosecutions")
    with page.expect_navigation():
        page.get_by_role("link", name=ref, exact=True).click()
    legal.check("case")
    with page.expect_navigation():
        page.get_by_role("link", name="Build the bundle, attach evidence").click()
    legal.check("evidence")
    with page.expect_navigation():
        page.get_by_role("button", name="Build a new version").click()
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", level=1).inner_text() == "Court bundle version 1"
    if page.locator("[data-cw-progress]").count():  # still building: the page follows the build by itself
        legal.check("bundle-building")
    page.get_by_text("Bundle built").wait_for(timeout=60_000)
    legal.check("bundle-built")
    pdf = page.request.get(page.get_by_role("link", name="Open the PDF").get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF-")
