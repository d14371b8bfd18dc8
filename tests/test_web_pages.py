"""The worklist, caseload, case page and letter download as signed-in users see them, on committed data; and the
access matrix of every route for every role."""
from __future__ import annotations

import re

import pytest

from sqlmodel import Session

import workflows
from casework.db import get_engine

from . import access
from .factories import make_user
from .web_support import audited, page, signed_in

AGREE_PLAN = workflows.load().find("agree_action_plan", "consultation").label


@pytest.fixture(scope="module")
def world(web_world):
    return web_world


def test_worklist_shows_the_overdue_improvement_deadline_and_is_audited(app, world, pages_url):
    words = page(signed_in(app, world.aeo), "/worklist").words
    assert f"{world.ref} Improvement period ends 2026-11-02 Overdue" in words
    assert audited(pages_url, world.aeo, "read", "worklist") == [world.aeo]


def test_caseload_lists_the_case_for_its_officer_and_its_school_only(app, world):
    assert f"{world.ref} Ava Brook Riverside Primary Notice to improve 2026-10-01" in page(
        signed_in(app, world.aeo), "/cases").words
    assert world.ref in page(signed_in(app, world.school_user), "/cases").words
    other = page(signed_in(app, world.other_school_user), "/cases").words
    assert world.ref not in other and "You have no open cases" in other


def test_case_page_shows_state_chronology_letters_and_why_triggers_are_refused(app, world, pages_url):
    client = signed_in(app, world.aeo)
    words = page(client, f"/cases/{world.ref}").words
    assert f"Case {world.ref}: Notice to improve" in words
    assert "Consultation Passed Support plan Passed Possible next stage by: Step down to a support plan Attendance " \
           "contract Notice to improve Current stage Penalty notice Possible next stage by: Issue penalty notices" \
        in words, "the pathway drawn in order, the current stage and the next ones marked in words"
    assert f"2026-10-02 {AGREE_PLAN} {world.aeo} Consultation → Support plan Actions agreed in the support plan: " \
           "Morning check-in" in words
    assert re.search(r"Letters .*Notice to improve to C\d+ \(PDF\)", words)
    html = client.get(f"/cases/{world.ref}").get_data(as_text=True)
    assert f'href="/cases/{world.ref}/triggers/refer_for_prosecution"' in html, "the offence period is form input"
    assert "the offence period is not given" not in words
    assert "Step down to a support plan You will be asked for: why the case is stepping down" in words, \
        "form input is not a refusal"
    assert "reason is required" not in words
    legal = page(signed_in(app, _user(pages_url, "legal")), f"/cases/{world.ref}").words
    assert re.search(r"Not available .*Refer for prosecution Not available: your role \(legal\) may not refer for "
                     r"prosecution", legal)
    assert world.ref in audited(pages_url, world.aeo, "read", "case")


def _user(pages_url, role: str) -> str:
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        email = make_user(session, role).email
        session.commit()
    return email


def test_school_users_see_events_without_their_data(app, world):
    words = page(signed_in(app, world.school_user), f"/cases/{world.ref}").words
    assert f"Case {world.ref}: Notice to improve" in words and "2026-10-05" in words
    assert "Morning check-in" not in words and "Penalty notices" not in words


def test_a_letter_downloads_as_a_pdf_and_the_export_is_audited(app, world, pages_url):
    client = signed_in(app, world.aeo)
    case_page = client.get(f"/cases/{world.ref}").get_data(as_text=True)
    link = re.search(rf'href="(/cases/{world.ref}/letters/\d+)"', case_page).group(1)
    response = client.get(link)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;") and response.data.startswith(b"%PDF")
    assert f"{world.ref}/{link.rsplit('/', 1)[1]}" in audited(pages_url, world.aeo, "export", "letter")
    assert client.get(f"/cases/{world.ref}/letters/999999").status_code == 404  # no such letter


def test_another_schools_user_gets_not_found_for_the_case_and_its_letters(app, world):
    letter_link = re.search(rf'/cases/{world.ref}/letters/\d+',
                            signed_in(app, world.aeo).get(f"/cases/{world.ref}").get_data(as_text=True)).group(0)
    outsider = signed_in(app, world.other_school_user)
    assert outsider.get(f"/cases/{world.ref}").status_code == 404
    assert outsider.get(letter_link).status_code == 404
    assert outsider.get("/cases/CW-2026-99999").status_code == 404


def test_pages_need_sign_in_and_a_case_role(app, world):
    assert app.test_client().get("/worklist").status_code == 302
    assert app.test_client().get("/static/casework.css").status_code == 200


def test_a_school_user_sees_the_case_but_not_the_letters(app, world):
    """Letters carry parents' addresses (some confidential): the school sees how many, not the PDFs."""
    insider = signed_in(app, world.school_user)
    page = insider.get(f"/cases/{world.ref}")
    assert page.status_code == 200
    assert b"The local authority holds them" in page.data
    assert not re.search(rf'/cases/{world.ref}/letters/\d+', page.get_data(as_text=True))
    aeo_page = signed_in(app, world.aeo).get(f"/cases/{world.ref}").get_data(as_text=True)
    link = re.search(rf'/cases/{world.ref}/letters/\d+', aeo_page).group(0)
    assert insider.get(link).status_code == 404


def test_every_route_is_in_the_access_matrix(app):
    """A new route must be given its expected answer for every role (in tests/access/) before it can pass."""
    routes = {access.pattern(rule.rule) for rule in app.url_map.iter_rules()}
    missing = routes - set(access.PUBLIC) - set(access.matrix()) - access.post_only()
    assert missing == set(), f"add these routes to a module in tests/access/: {sorted(missing)}"


def test_access_matrix_every_route_every_role_and_school_a_against_b(app, world, pages_url):
    """0 leaks: each role gets exactly the answer it should on every route, and school B never sees school A's case."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        users = {role: make_user(session, role).email for role in ("admin", "manager", "legal")}
        session.commit()
    users.update({"aeo": world.aeo, "school_a": world.school_user, "school_b": world.other_school_user})
    params = access.params(app, world, pages_url)
    anonymous = app.test_client()
    for url, status in access.PUBLIC.items():
        assert anonymous.get(access.FILES.get(url) or url.format(**params)).status_code == status, url
    clients = {who: anonymous if who == "anonymous" else signed_in(app, users[who]) for who in access.WHO}
    wrong = {}
    for route, expected in access.matrix().items():
        assert set(expected) == set(access.WHO), f"{route}: give an answer for each of {access.WHO}"
        url = route.format(**params)
        for who, status in expected.items():
            answer = clients[who].get(url).status_code
            if answer != status:
                wrong[who, url] = (answer, status)
    assert wrong == {}, wrong
    school_b_caseload = clients["school_b"].get("/cases").get_data(as_text=True)
    assert world.ref not in school_b_caseload
    for route in access.post_only():
        url = route.format(**params)
        answer = anonymous.post(url, json={}).status_code
        assert answer in (302, 400, 401), f"{url} answered {answer} to an anonymous POST"
    assert anonymous.post("/sign-out").status_code == 400, "a form posted without its CSRF token is refused"
