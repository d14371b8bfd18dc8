"""The pathway in a real browser: a school's attendance lead raises a concern from the school portal; an AEO takes the
case through consultation, a support plan and a notice to improve to penalty notices, then downloads the letters.
axe runs on every page either of them visits."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader
from sqlmodel import Session, select

from casework.db import get_engine
from casework.models import Case, Letter

from ..factories import PASSWORD, fill_register, make_parent, make_pupil, make_school, make_user
from ..scenarios import ABSENT, HALF_TERM

TODAY = date(2026, 11, 23)  # the frozen clock of the test session


@pytest.fixture()
def family(live_url):
    """Ava Brook, whose register meets the penalty notice threshold; her mother (lives with her) and father (does
    not); a school user of her school and an AEO (committed)."""
    with Session(get_engine(live_url), expire_on_commit=False) as session:
        school = make_school(session, name="Brookside Primary")
        pupil = make_pupil(session, school, forename="Ava", surname="Brook")
        make_parent(session, pupil, forename="Sam", surname="Brook", relationship="mother")
        make_parent(session, pupil, forename="Chris", surname="Brook", title="Mr", relationship="father", lives=False)
        fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=ABSENT, closed=HALF_TERM)
        users = {"school": make_user(session, "school", schools=[school]).email, "aeo": make_user(session, "aeo").email}
        session.commit()
    return pupil, users


def _then(tab, label: str, action):
    """Do something that loads a page, wait for that page, then check it (axe, one h1, a screenshot)."""
    with tab.page.expect_navigation():
        action()
    return tab.check(label)


def _sign_in(tab, email: str):
    tab.open("/sign-in")
    tab.page.get_by_label("Email address").fill(email)
    tab.page.get_by_label("Password").fill(PASSWORD)
    return _then(tab, "signed-in", tab.page.get_by_role("button", name="Sign in").click)


def _words(page) -> str:
    return " ".join(page.locator("main").inner_text().split())


def _fill_date(page, prefix: str, day: date) -> None:
    page.locator(f"#{prefix}-day").fill(str(day.day))
    page.locator(f"#{prefix}-month").fill(str(day.month))
    page.locator(f"#{prefix}-year").fill(str(day.year))


def _fire(tab, label: str, fill=None) -> str:
    """From the case page: open the trigger's form by its button, fill it in, submit it; the case page's words."""
    page = tab.page
    form = _then(tab, label, page.get_by_role("button", name=label, exact=True).click)
    assert label in page.get_by_role("heading", level=1).inner_text()
    if fill:
        fill(form)
    _then(tab, f"{label} done", page.get_by_role("button", name=label, exact=True).click)
    words = _words(page)
    assert f"{label}: done." in words, words[:500]
    return words


def test_a_school_raises_a_concern_and_an_aeo_takes_it_to_penalty_notices(journey, family, live_url):
    pupil, users = family

    # The school's attendance lead finds Ava on the roll and raises a concern
    school = journey("pathway-school")
    page = _sign_in(school, users["school"])
    _then(school, "new-concern", page.get_by_role("link", name="Raise a concern about Ava Brook").click)
    assert page.locator("#pupil").input_value() == pupil.upn, "the pupil is chosen for the school already"
    page.get_by_label("What is your concern about the pupil's attendance?").fill(
        "Ava has missed 8 days since September, mostly Mondays, with no reason given.")
    page.get_by_label("Letters home").check()
    page.get_by_label("Meetings with parents").check()
    _fill_date(page, "last_action", date(2026, 11, 16))
    page.get_by_label(re.compile("I understand that the local authority will open a case")).check()
    _then(school, "concern-raised", page.get_by_role("button", name="Raise concern").click)
    words = _words(page)
    ref = re.search(r"CW-\d{4}-\d{5}", words).group(0)
    assert "Ava Brook" in words

    # The school sees the case among its own
    _then(school, "school-cases", lambda: page.goto("/school/cases"))
    assert ref in _words(page)

    # An AEO opens the case and takes it through the pathway
    aeo = journey("pathway-aeo")
    page = _sign_in(aeo, users["aeo"])
    case_page = _then(aeo, "case", lambda: page.goto(f"/cases/{ref}"))
    assert case_page.get_by_role("heading", level=1).inner_text().startswith(f"Case {ref}")
    assert "Concern raised" in _words(page)

    _fire(aeo, "Start consultation with the school")

    def plan(form):
        form.get_by_label("Actions agreed in the support plan").fill(
            "Morning check-in with the learning mentor; a walking bus place; weekly call home on Mondays.")
        _fill_date(form, "review_on", date(2026, 12, 14))

    words = _fire(aeo, "Agree a support plan", plan)
    assert "The case is now at Support plan" in words

    words = _fire(aeo, "Issue a notice to improve",
                  lambda form: form.get_by_label("Improvement period in school weeks").fill("3"))
    assert "The case is now at Notice to improve" in words

    # Issuing notices the same day is refused until a reason is given; the refusal names what is missing
    page.get_by_role("button", name="Issue penalty notices", exact=True).click()
    page.wait_for_load_state("load")
    aeo.check("penalty-notice-form")
    _then(aeo, "penalty-notice-refused", page.get_by_role("button", name="Issue penalty notices", exact=True).click)
    problem = page.locator(".govuk-error-summary a[href='#early_reason']")
    assert problem.inner_text().startswith("The improvement period runs until"), "the refusal is on the reason's field"
    assert "early_reason" not in _words(page), "the CLI's name for the field is not shown"
    page.get_by_label("Reason to issue before the improvement period ends").fill(
        "Ava has missed a further 6 sessions without reason since the notice; the parents have said she will not "
        "return before January.")
    _then(aeo, "penalty-notices-issued", page.get_by_role("button", name="Issue penalty notices", exact=True).click)
    words = _words(page)
    assert "Issue penalty notices: done. The case is now at Penalty notice" in words
    assert re.search(r"Penalty notices issued: PN-\d{4}-\d{5}, PN-\d{4}-\d{5}", words)

    # The letters of every step are on the case, one per parent; each downloads as a PDF addressed to its parent
    with Session(get_engine(live_url)) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        kinds = sorted(letter.kind for letter in session.exec(select(Letter).where(Letter.case_id == case.id)))
    assert kinds == sorted(["attendance_concern"] * 2 + ["action_plan"] * 2 + ["notice_to_improve"] * 2
                           + ["penalty_notice"] * 2)
    links = page.get_by_role("link", name=re.compile(r"^Penalty notice .*\(PDF\)$"))
    assert links.count() == 2
    names = set()
    for n in range(2):
        with page.expect_download() as download:
            links.nth(n).click()
        data = open(download.value.path(), "rb").read()
        assert data.startswith(b"%PDF-")
        text = " ".join(page_.extract_text() for page_ in PdfReader(io.BytesIO(data)).pages)
        assert "Ava Brook" in " ".join(text.split())
        names.update(name for name in ("Sam Brook", "Chris Brook") if name in " ".join(text.split()[:80]))
    assert names == {"Sam Brook", "Chris Brook"}, "one notice to each parent"
