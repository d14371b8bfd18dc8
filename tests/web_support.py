"""What the web tests share: an app on a database of the module's own, a small committed world, signed-in clients
and a parsed page. Registered as a pytest plugin in conftest, so any test module can ask for `app`, `pages_url` and
`world`."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser

import pytest
from sqlmodel import Session, select

from casework.db import get_engine, upgrade
from casework.models import AuditLog
from casework.services.cases import fire, open_case

from .conftest import fresh_database, web_app_on
from .factories import PASSWORD, fill_register, make_parent, make_pupil, make_school, make_user
from .scenarios import ABSENT, HALF_TERM


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
    pupil_id: int
    school_id: int
    other_school_id: int


@pytest.fixture(scope="module")
def web_world(app, pages_url) -> World:
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
    return World(ref, aeo, school_user, other_school_user, pupil.id, school.id, other.id)


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




def error_summary(html: str) -> list[tuple[str, str]]:
    """The (href, text) of each link in the page's GOV.UK error summary; [] when the page has none."""
    block = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S)
    if not block:
        return []
    return [(href, " ".join(re.sub(r"<[^>]+>", "", text).split()))
            for href, text in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', block.group(0), re.S)]
