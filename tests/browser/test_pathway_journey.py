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

from .conftest import fill_date, words
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


def _fire(tab, label: str, fill=None) -> str:
    """From the case page: open the trigger's form by its button, fill it in, submit it; the case page's words."""
    page = tab.page
    form = tab.then(label, page.get_by_role("button", name=label, exact=True).click)
    assert label in page.get_by_role("heading", level=1).inner_text()
    if fill:
        fill(form)
    tab.then(f"{label} done", page.get_by_role("button", name=label, exact=True).click)
    shown = words(page)
    assert f"{label}: done." in shown, shown[:500]
    return shown


def test_a_school_raises_a_concern_and_an_aeo_takes_it_to_penalty_notices(journey, family, live_url):
    pupil, users = family

    # The school's attendance lead finds Ava on the roll and raises a concern
    school = journey("pathway-school")
    page = school.sign_in(users["school"], PASSWORD)
    school.then("new-concern", page.get_by_role("link", name="Raise a concern about Ava Brook").click)
    assert page.locator("#pupil").input_value() == pupil.upn, "the pupil is chosen for the school already"
    page.get_by_label("What is your concern about the pupil's attendance?").fill(
        "Ava has missed 8 days since September, mostly Mondays, with no reason given.")
    page.get_by_label("Letters home").check()
    page.get_by_label("Meetings with parents").check()
    fill_date(page, "last_action", date(2026, 11, 16))
    page.get_by_label(re.compile("I understand that the local authority will open a case")).check()
    school.then("concern-raised", page.get_by_role("button", name="Raise concern").click)
    shown = words(page)
    ref = re.search(r"CW-\d{4}-\d{5}", shown).group(0)
    assert "Ava Brook" in shown

    # The school sees the case among its own
    school.then("school-cases", lambda: page.goto("/school/cases"))
    assert ref in words(page)

    # An AEO opens the case and takes it through the pathway
    aeo = journey("pathway-aeo")
    page = aeo.sign_in(users["aeo"], PASSWORD)
    case_page = aeo.then("case", lambda: page.goto(f"/cases/{ref}"))
    assert case_page.get_by_role("heading", level=1).inner_text().startswith(f"Case {ref}")
    assert "Concern raised" in words(page)

    _fire(aeo, "Start consultation with the school")

    def plan(form):
        form.get_by_label("Actions agreed in the support plan").fill(
            "Morning check-in with the learning mentor; a walking bus place; weekly call home on Mondays.")
        fill_date(form, "review_on", date(2026, 12, 14))

    shown = _fire(aeo, "Agree a support plan", plan)
    assert "The case is now at Support plan" in shown

    shown = _fire(aeo, "Issue a notice to improve",
                  lambda form: form.get_by_label("Improvement period in school weeks").fill("3"))
    assert "The case is now at Notice to improve" in shown

    # Issuing notices the same day is refused until a reason is given; the refusal names what is missing
    page.get_by_role("button", name="Issue penalty notices", exact=True).click()
    page.wait_for_load_state("load")
    aeo.check("penalty-notice-form")
    aeo.then("penalty-notice-refused", page.get_by_role("button", name="Issue penalty notices", exact=True).click)
    problem = page.locator(".govuk-error-summary a[href='#early_reason']")
    assert problem.inner_text().startswith("The improvement period runs until"), "the refusal is on the reason's field"
    assert "early_reason" not in words(page), "the CLI's name for the field is not shown"
    page.get_by_label("Reason to issue before the improvement period ends").fill(
        "Ava has missed a further 6 sessions without reason since the notice; the parents have said she will not "
        "return before January.")
    aeo.then("penalty-notices-issued", page.get_by_role("button", name="Issue penalty notices", exact=True).click)
    shown = words(page)
    assert "Issue penalty notices: done. The case is now at Penalty notice" in shown
    assert re.search(r"Penalty notices issued: PN-\d{4}-\d{5}, PN-\d{4}-\d{5}", shown)

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
