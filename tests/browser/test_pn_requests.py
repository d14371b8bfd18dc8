"""The penalty notice request journey in a real browser: a school asks for notices for two siblings away on holiday,
checking their marks first; an AEO accepts the request from the queue; the school sees four notices issued; the AEO
downloads the four letters; a manager sees them in the PRM return. axe runs on every page visited."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import Session

from casework.db import get_engine

from .conftest import fill_date, words
from ..factories import PASSWORD, make_school, make_user
from ..scenarios import holiday_siblings

STATEMENTS = {"leave_request_statement": "Mrs Brook asked for a week's leave by email on 1 October",
              "leave_refusal_statement": "The headteacher refused by letter on 2 October",
              "warning_statement": "The refusal letter warned that a penalty notice would be requested",
              "registration_certificate_statement": "Register extract for 9 to 13 November signed by the headteacher"}


@pytest.fixture()
def siblings(live_url):
    """Ava and Ben Brook at Riverside Primary with the same two parents, away for a week; a school user, an AEO and a
    manager."""
    with Session(get_engine(live_url), expire_on_commit=False) as session:
        school = make_school(session, name="Riverside Primary")
        ava, ben, _, _ = holiday_siblings(session, school)
        users = {"school": make_user(session, "school", schools=[school]).email,
                 "aeo": make_user(session, "aeo").email, "manager": make_user(session, "manager").email}
        session.commit()
    return (ava.upn, ben.upn), users


def test_a_school_asks_for_notices_for_two_siblings_and_an_aeo_accepts_them(journey, siblings):
    upns, users = siblings
    school = journey("pn-request-school")
    page = school.sign_in(users["school"], PASSWORD)
    school.then("requests", page.get_by_role("link", name="Penalty notice requests").click)
    school.then("new-request", page.get_by_role("button", name="Ask for penalty notices").click)
    page.get_by_label("Unique pupil number (UPN) of each child").fill("\n".join(upns))
    page.get_by_label("Holiday in term time").check()
    fill_date(page, "first_day", date(2026, 11, 9))
    fill_date(page, "last_day", date(2026, 11, 13))
    school.then("marks-checked", page.get_by_role("button", name="Check the marks").click)
    assert page.get_by_role("heading", name="What the attendance team will see").is_visible()
    assert page.get_by_text("Meets the code of conduct: 10 sessions coded G").count() == 2
    for field, text in STATEMENTS.items():
        page.locator(f"#{field}").fill(text)
    page.locator("#headteacher").fill("Pat Head")
    page.locator("#confirm").check()
    school.then("request-sent", page.get_by_role("button", name="Send the request", exact=True).click)
    heading = page.get_by_role("heading", level=1).inner_text()
    ref = re.search(r"PR-\d{4}-\d{5}", heading).group(0)
    assert "Waiting for a decision" in words(page)

    aeo = journey("pn-request-aeo")
    officer = aeo.sign_in(users["aeo"], PASSWORD)
    aeo.then("queue", officer.get_by_role("link", name="PN requests").click)
    row = officer.get_by_role("row").filter(has_text=ref)
    assert "Passes every check" in row.inner_text()
    aeo.then("review", row.get_by_role("link", name=ref).click)
    assert "Accepting it issues 4 penalty notices" in words(officer)
    officer.get_by_label("Accept: issue the penalty notices").check()
    aeo.then("accepted", officer.get_by_role("button", name="Confirm the decision").click)
    assert "4 penalty notices issued" in words(officer)
    links = officer.get_by_role("link", name=re.compile(r"Penalty notice letter to .* \(PDF\)"))
    assert links.count() == 4
    for i in range(4):
        response = aeo.context.request.get(links.nth(i).get_attribute("href"))
        assert response.ok and response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF")

    school.then("request-accepted", page.reload)
    assert page.get_by_role("table", name=re.compile(r"Penalty notices issued \(4\)")).is_visible()
    assert page.get_by_text("Issued: payment period running").count() == 4
    school.then("requests-after", page.get_by_role("link", name="All your requests").click)
    assert "4 issued" in page.get_by_role("row").filter(has_text=ref).inner_text()

    manager = journey("pn-request-manager")
    office = manager.sign_in(users["manager"], PASSWORD)
    manager.then("queue", office.get_by_role("link", name="PN requests").click)
    manager.then("figures", office.get_by_role("link", name="Figures and the PRM return").click)
    holiday = office.get_by_role("row").filter(has_text="Holiday in term time")
    assert holiday.inner_text().split()[-6:] == ["4", "0", "0", "0", "0", "4"]
