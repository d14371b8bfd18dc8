"""The worklist, caseload, case page and letter download as signed-in users see them, on committed data."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser

import pytest
from sqlmodel import Session, select

import workflows
from casework.db import get_engine, upgrade
from casework.models import AuditLog
from casework.services.cases import fire, open_case

from .conftest import fresh_database, web_app_on
from .factories import PASSWORD, fill_register, make_parent, make_pupil, make_school, make_user
from .scenarios import ABSENT, HALF_TERM

AGREE_PLAN = workflows.load().find("agree_action_plan", "consultation").label


@pytest.fixture(scope="module")
def pages_url(tmp_path_factory):
    """A database of this module's own: the pages commit their audit."""
    with fresh_database(tmp_path_factory.mktemp("pages")) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="module")
def app(pages_url, tmp_path_factory):
    with web_app_on(pages_url, tmp_path_factory) as app:
        yield app


@dataclass
class World:
    ref: str
    aeo: str
    school_user: str
    other_school_user: str


@pytest.fixture(scope="module")
def world(app, pages_url) -> World:
    """A pupil's case taken to a notice to improve by an AEO, with the users who may and may not see it (committed)."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        school = make_school(session, name="Riverside Primary")
        other = make_school(session, name="Hilltop Primary")
        pupil = make_pupil(session, school, forename="Ava", surname="Brook")
        make_parent(session, pupil, forename="Sam", relationship="mother")
        fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=ABSENT, closed=HALF_TERM)
        aeo = make_user(session, "aeo").email
        school_user = make_user(session, "school", schools=[school]).email
        other_school_user = make_user(session, "school", schools=[other]).email
        ref = open_case(session, pupil.upn, aeo, date(2026, 10, 1)).case.ref
        fire(session, ref, "start_consultation", aeo, date(2026, 10, 1))
        fire(session, ref, "agree_action_plan", aeo, date(2026, 10, 2),
             {"actions": "Morning check-in", "review_on": "2026-10-30"})
        fire(session, ref, "issue_notice_to_improve", aeo, date(2026, 10, 5), {"improvement_weeks": "3"})
        session.commit()
    return World(ref, aeo, school_user, other_school_user)


def signed_in(app, email: str):
    """A test client signed in through the sign-in form."""
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


class Outline(HTMLParser):
    """The <h1> count, the first link's target and the text of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.h1s, self.first_link, self.text = 0, None, []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.h1s += tag == "h1"
        if tag == "a" and self.first_link is None:
            self.first_link = dict(attrs)

    def handle_data(self, data):
        self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def page(client, url: str) -> Outline:
    response = client.get(url)
    assert response.status_code == 200, url
    outline = Outline(response.get_data(as_text=True))
    assert outline.h1s == 1, url
    assert outline.first_link.get("href") == "#main-content" and "govuk-skip-link" in outline.first_link["class"]
    return outline


def audited(pages_url, email: str, action: str, object_type: str) -> list[str]:
    with Session(get_engine(pages_url)) as session:
        return list(session.exec(select(AuditLog.object_ref).where(
            AuditLog.user_email == email, AuditLog.action == action, AuditLog.object_type == object_type)))


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
    words = page(signed_in(app, world.aeo), f"/cases/{world.ref}").words
    assert f"Case {world.ref}: Notice to improve" in words
    assert "Current state" in words and "stateDiagram-v2" in words
    assert f"2026-10-02 {AGREE_PLAN} {world.aeo} Consultation → Support plan actions: Morning check-in" in words
    assert re.search(r"Letters .*Notice to improve to C\d+ \(PDF\)", words)
    assert re.search(r"Not available Refer for prosecution .*the offence period is not given", words)
    assert "Available now Step down to a support plan Needs: reason" in words, "form input is not a refusal"
    assert "reason is required" not in words
    assert world.ref in audited(pages_url, world.aeo, "read", "case")


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


ANONYMOUS, SIGNED_IN_ELSEWHERE = "anonymous", "signed in"
CASE_PAGES = ("/worklist", "/cases", "/cases/{ref}", "/cases/{ref}/letters/{letter}")
EXPECTED = {  # who → route → status (GET unless the route only takes POST); school_a is the case's school
    "anonymous": {"/home": 302, "/account/password": 302, "/worklist": 302, "/cases": 302, "/cases/{ref}": 302,
                  "/cases/{ref}/letters/{letter}": 302, "/api/v1/school": 401},
    "admin": {"/home": 200, "/account/password": 200, "/worklist": 403, "/cases": 403, "/cases/{ref}": 403,
              "/cases/{ref}/letters/{letter}": 403, "/api/v1/school": 401},
    "aeo": {"/home": 302, "/account/password": 200, "/worklist": 200, "/cases": 200, "/cases/{ref}": 200,
            "/cases/{ref}/letters/{letter}": 200, "/api/v1/school": 401},
    "manager": {"/home": 302, "/account/password": 200, "/worklist": 200, "/cases": 200, "/cases/{ref}": 200,
                "/cases/{ref}/letters/{letter}": 200, "/api/v1/school": 401},
    "legal": {"/home": 302, "/account/password": 200, "/worklist": 200, "/cases": 200, "/cases/{ref}": 200,
              "/cases/{ref}/letters/{letter}": 200, "/api/v1/school": 401},
    "school_a": {"/home": 302, "/account/password": 200, "/worklist": 200, "/cases": 200, "/cases/{ref}": 200,
                 "/cases/{ref}/letters/{letter}": 404, "/api/v1/school": 401},
    "school_b": {"/home": 302, "/account/password": 200, "/worklist": 200, "/cases": 200, "/cases/{ref}": 404,
                 "/cases/{ref}/letters/{letter}": 404, "/api/v1/school": 401},
}
PUBLIC = {"/": 200, "/sign-in": 200, "/api/openapi.json": 200, "/static/casework.css": 200}
POST_ONLY = {"/sign-out", "/api/v1/marks", "/api/v1/pupils"}


def test_every_route_is_in_the_access_matrix(app):
    """A new route must be given its expected answer for every role here before it can pass."""
    covered = set(PUBLIC) | set(EXPECTED["aeo"]) | POST_ONLY
    routes = {rule.rule.replace("<ref>", "{ref}").replace("<int:letter_id>", "{letter}")
              .replace("<path:filename>", "casework.css") for rule in app.url_map.iter_rules()}
    assert routes - covered == set()


def test_access_matrix_every_route_every_role_and_school_a_against_b(app, world, pages_url):
    """0 leaks: each role gets exactly the answer it should on every route, and school B never sees school A's case."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        users = {role: make_user(session, role).email for role in ("admin", "manager", "legal")}
        session.commit()
    users.update({"aeo": world.aeo, "school_a": world.school_user, "school_b": world.other_school_user})
    aeo_case = signed_in(app, world.aeo).get(f"/cases/{world.ref}").get_data(as_text=True)
    letter = re.search(rf"/cases/{world.ref}/letters/(\d+)", aeo_case).group(1)
    anonymous = app.test_client()
    for url, status in PUBLIC.items():
        assert anonymous.get(url).status_code == status, url
    answers = {}
    for who, expected in EXPECTED.items():
        client = anonymous if who == "anonymous" else signed_in(app, users[who])
        for route in expected:
            answers[who, route] = client.get(route.format(ref=world.ref, letter=letter)).status_code
    wrong = {key: (answers[key], EXPECTED[key[0]][key[1]]) for key in answers if answers[key] != EXPECTED[key[0]][key[1]]}
    assert wrong == {}, wrong
    school_b_caseload = signed_in(app, world.other_school_user).get("/cases").get_data(as_text=True)
    assert world.ref not in school_b_caseload
    for route in POST_ONLY - {"/sign-out"}:
        assert anonymous.post(route, json={}).status_code == 401, route
    assert anonymous.post("/sign-out").status_code == 400, "a form posted without its CSRF token is refused"
