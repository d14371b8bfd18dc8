"""The school portal: the school's pupils with their measures, its cases, and raising a concern, on committed data."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from html import unescape

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from casework.db import get_engine
from casework.models import AuditLog, Case, CaseEvent, Letter, Pupil, School
from casework.register.measures import measures_for_all
from casework.services.cases import fire, open_case

from .factories import fill_register, make_parent, make_pupil, make_school, make_user
from .scenarios import HALF_TERM
from .web_support import audited, error_summary, page, signed_in

TODAY = date(2026, 11, 23)  # the frozen clock
TERM = (date(2026, 9, 3), date(2026, 11, 20))


def _days(start: date, end: date, code: str) -> dict[date, str]:
    """`code` on every weekday from start to end (for fill_register's `absent`)."""
    return {date.fromordinal(n): code for n in range(start.toordinal(), end.toordinal() + 1)
            if date.fromordinal(n).weekday() < 5 and date.fromordinal(n) not in HALF_TERM}


@dataclass
class Portal:
    riverside: str
    hilltop: str
    meadow: str
    school_user: str
    other_school_user: str
    two_schools_user: str
    aeo: str
    legal: str
    admin: str
    manager: str
    ava: str
    ben: str
    cara: str
    dan: str
    fresh: dict  # forename -> UPN of Riverside pupils without a case, for raising concerns
    hana: str
    hilltop_ref: str
    ava_ref: str
    recent_closed_ref: str
    old_closed_ref: str


def _pupil(session, school, forename, surname, year, absent=None, register=True):
    pupil = make_pupil(session, school, forename=forename, surname=surname)
    pupil.year_group = year
    session.add(pupil)
    if register:
        fill_register(session, pupil, school, *TERM, absent=absent or {}, closed=HALF_TERM)
    return pupil


def _closed_case(session, pupil, aeo, opened: date, closed: date) -> str:
    ref = open_case(session, pupil.upn, aeo, opened).case.ref
    fire(session, ref, "close", aeo, closed, {"outcome": "attendance_improved", "note": "Back in school every day"})
    return ref


@pytest.fixture(scope="module")
def portal(web_world, pages_url) -> Portal:
    """Riverside (the world's school) with pupils of known registers, Hilltop with its own case, a large Meadow school."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        riverside = session.get(School, web_world.school_id)
        hilltop = session.get(School, web_world.other_school_id)
        meadow = make_school(session, name="Meadow Primary")
        ava = session.get(Pupil, web_world.pupil_id)
        ben = _pupil(session, riverside, "Ben", "Able", "3")
        cara = _pupil(session, riverside, "Cara", "Cole", "5", _days(date(2026, 10, 5), date(2026, 10, 13), "I"))
        dan = _pupil(session, riverside, "Dan", "Dale", "6", _days(date(2026, 9, 3), date(2026, 10, 16), "I"))
        fresh = {}
        for forename in ("Eve", "Finn", "Gus", "Hal"):
            pupil = _pupil(session, riverside, forename, "Fresh", "4", register=False)
            make_parent(session, pupil, forename="Pat", relationship="mother")
            fresh[forename] = pupil.upn
        old = _pupil(session, riverside, "Ivy", "Old", "6", register=False)
        recent = _pupil(session, riverside, "Jack", "Recent", "6", register=False)
        hana = _pupil(session, hilltop, "Hana", "Hill", "5", _days(date(2026, 9, 14), date(2026, 9, 25), "O"))
        for n in range(55):
            make_pupil(session, meadow, forename=f"Pupil{n:02d}", surname="Meadow")
        users = {role: make_user(session, role).email for role in ("legal", "admin", "manager")}
        two_schools = make_user(session, "school", schools=[riverside, hilltop]).email
        hilltop_ref = open_case(session, hana.upn, web_world.aeo, date(2026, 10, 1)).case.ref
        old_ref = _closed_case(session, old, web_world.aeo, date(2025, 9, 15), date(2025, 10, 1))
        recent_ref = _closed_case(session, recent, web_world.aeo, date(2026, 9, 10), date(2026, 10, 1))
        session.commit()
        return Portal(riverside.urn, hilltop.urn, meadow.urn, web_world.school_user, web_world.other_school_user,
                      two_schools, web_world.aeo, users["legal"], users["admin"], users["manager"], ava.upn, ben.upn,
                      cara.upn, dan.upn, fresh, hana.upn, hilltop_ref, web_world.ref, recent_ref, old_ref)


def table_rows(html: str) -> dict[str, str]:
    """The text of each body row of the page's table, by the row's first cell (the pupil's name or the case)."""
    rows = {}
    for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', html, re.S):
        if "<th scope=\"col\"" in row:
            continue
        text = " ".join(re.sub(r"<[^>]+>", " ", row).split())
        first = " ".join(re.sub(r"<[^>]+>", " ", re.search(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S).group(1)).split())
        rows[first] = text
    return rows


def summary_of(response) -> list[tuple[str, str]]:
    """The page's error summary as (href, text) with the text unescaped."""
    return [(href, unescape(text)) for href, text in error_summary(response.get_data(as_text=True))]


def counts(pages_url) -> dict[str, int]:
    with Session(get_engine(pages_url)) as session:
        return {model.__name__: session.exec(select(func.count()).select_from(model)).one()
                for model in (Case, CaseEvent, Letter, AuditLog)}


# ---------------------------------------------------------------- the school's pupils

def test_school_users_land_on_their_pupils(app, portal):
    assert signed_in(app, portal.school_user).get("/home").headers["Location"].endswith("/school")


def test_pupil_flags_match_the_measures_of_their_registers(app, portal, pages_url):
    with Session(get_engine(pages_url)) as session:
        measured = {m["upn"]: m for m in measures_for_all(session, TODAY, school_urn=portal.riverside)}
    html = signed_in(app, portal.school_user).get("/school").get_data(as_text=True)
    rows = table_rows(html)
    names = {portal.ava: "Ava Brook", portal.ben: "Ben Able", portal.cara: "Cara Cole", portal.dan: "Dan Dale"}
    for upn, name in names.items():
        m, row = measured[upn], rows[name]
        assert upn in row
        assert f"{100 - m['absence_rate']:.1f}%" in row
        assert ("Persistent" in row) == m["persistent_absence"], name
        assert ("Severe" in row) == m["severe_absence"], name
        assert ("Met" in row) == m["pn_threshold"]["met"], name
    assert "100.0%" in rows["Ben Able"] and "Persistent" not in rows["Ben Able"]
    assert "Persistent" in rows["Cara Cole"] and "Severe" not in rows["Cara Cole"]
    assert "Persistent" in rows["Dan Dale"] and "Severe" in rows["Dan Dale"]
    assert measured[portal.ava]["pn_threshold"]["met"], "the world's pupil has 12 unauthorised sessions"
    assert f"{portal.ava_ref} Notice to improve" in rows["Ava Brook"]
    assert "No sessions yet" in rows["Eve Fresh"] and "Raise a concern about Eve Fresh" in rows["Eve Fresh"]


def test_open_threshold_alerts_show_as_tags(app, portal, pages_url):
    from casework.checks import recompute

    with Session(get_engine(pages_url)) as session:
        ava_id = session.exec(select(Pupil.id).where(Pupil.upn == portal.ava)).one()
        recompute(session, [ava_id], TODAY)
        session.commit()
    rows = table_rows(signed_in(app, portal.school_user).get("/school").get_data(as_text=True))
    assert "Threshold alert" in rows["Ava Brook"]
    assert "Threshold alert" not in rows["Ben Able"] and "None" in rows["Ben Able"]


def test_filters_by_year_group_persistent_absence_and_threshold(app, portal):
    client = signed_in(app, portal.school_user)
    year_6 = table_rows(client.get("/school?year=6").get_data(as_text=True))
    assert "Dan Dale" in year_6 and "Ben Able" not in year_6 and "Cara Cole" not in year_6
    persistent = table_rows(client.get("/school?persistent=y").get_data(as_text=True))
    assert {"Ava Brook", "Cara Cole", "Dan Dale"} <= set(persistent) and "Ben Able" not in persistent
    threshold = table_rows(client.get("/school?threshold=y").get_data(as_text=True))
    assert set(threshold) == {"Ava Brook"}
    both = table_rows(client.get("/school?year=5&persistent=y").get_data(as_text=True))
    assert set(both) == {"Ava Brook", "Cara Cole"}


def test_sorts_by_attendance_lowest_first_with_pupils_without_sessions_last(app, portal):
    html = signed_in(app, portal.school_user).get("/school?sort=attendance").get_data(as_text=True)
    order = list(table_rows(html))
    assert order[:4] == ["Dan Dale", "Cara Cole", "Ava Brook", "Ben Able"]
    assert order[-1] == "Jack Recent", "pupils without possible sessions come last, by name"
    highest = list(table_rows(signed_in(app, portal.school_user).get("/school?sort=attendance_desc")
                              .get_data(as_text=True)))
    assert highest[0] == "Ben Able"


def test_a_large_school_is_shown_fifty_pupils_a_page(app, portal):
    client = signed_in(app, portal.aeo)
    first = client.get(f"/school?school={portal.meadow}").get_data(as_text=True)
    assert len(table_rows(first)) == 50 and "page 1 of 2" in first
    second = table_rows(client.get(f"/school?school={portal.meadow}&page=2").get_data(as_text=True))
    assert len(second) == 5 and "Pupil54 Meadow" in second
    assert client.get(f"/school?school={portal.meadow}&page=0").status_code == 404


def test_the_pupil_list_is_audited_with_the_schools_urn(app, portal, pages_url):
    page(signed_in(app, portal.other_school_user), "/school")
    assert portal.hilltop in audited(pages_url, portal.other_school_user, "read", "school_pupils")


# ---------------------------------------------------------------- scope

def test_a_school_user_never_sees_another_schools_pupils_or_cases(app, portal):
    riverside = signed_in(app, portal.school_user)
    pupils = page(riverside, "/school").words
    cases = page(riverside, "/school/cases").words
    assert "Hana Hill" not in pupils and portal.hana not in pupils
    assert portal.hilltop_ref not in cases and "Hana Hill" not in cases
    for url in ("/school", "/school/cases", "/school/concerns/new"):
        assert riverside.get(f"{url}?school={portal.hilltop}").status_code == 404, url
        assert riverside.get(f"{url}?school=999999").status_code == 404, url
    assert riverside.get(f"/school/concerns/{portal.hilltop_ref}").status_code == 404
    hilltop = page(signed_in(app, portal.other_school_user), "/school/cases").words
    assert portal.hilltop_ref in hilltop and portal.ava_ref not in hilltop


def test_a_user_of_two_schools_sees_the_first_and_can_pick_the_other(app, portal):
    client = signed_in(app, portal.two_schools_user)
    first = page(client, "/school").words  # Hilltop Primary sorts before Riverside Primary
    assert "Hilltop Primary" in first and "Hana Hill" in first and "Ava Brook" not in first
    assert "Show another of your schools" in first
    other = page(client, f"/school?school={portal.riverside}").words
    assert "Ava Brook" in other and "Hana Hill" not in other
    assert client.get(f"/school?school={portal.meadow}").status_code == 404


def test_la_staff_choose_a_school_first_and_legal_and_admin_are_refused(app, portal):
    words = page(signed_in(app, portal.aeo), "/school").words
    assert "Choose a school" in words and "Meadow Primary" in words
    assert "Hana Hill" in page(signed_in(app, portal.manager), f"/school?school={portal.hilltop}").words
    for email in (portal.legal, portal.admin):
        client = signed_in(app, email)
        for url in ("/school", "/school/cases", "/school/concerns/new", f"/school/concerns/{portal.ava_ref}"):
            assert client.get(f"{url}?school={portal.riverside}").status_code == 403, (email, url)
        assert client.post(f"/school/concerns/new?school={portal.riverside}").status_code in (400, 403)


# ---------------------------------------------------------------- the school's cases

def test_cases_list_open_first_then_closed_in_the_last_year_with_the_next_step(app, portal, pages_url):
    html = signed_in(app, portal.school_user).get("/school/cases").get_data(as_text=True)
    rows = table_rows(html)
    order = list(rows)
    assert portal.old_closed_ref not in rows, "closed more than a year ago"
    assert order.index(portal.ava_ref) < order.index(portal.recent_closed_ref)
    assert order[-1] == portal.recent_closed_ref
    assert rows[portal.ava_ref] == (f"{portal.ava_ref} Ava Brook Notice to improve 1 October 2026 "
                                    "Improvement period ends: 2 November 2026 Overdue")
    assert rows[portal.recent_closed_ref].endswith("Jack Recent Closed 10 September 2026 Closed on 1 October 2026")
    assert "Morning check-in" not in html and "Back in school" not in html, "no event data on the list"
    assert portal.riverside in audited(pages_url, portal.school_user, "read", "school_cases")


def test_the_case_a_school_user_opens_from_the_list_hides_the_las_notes(app, portal):
    client = signed_in(app, portal.school_user)
    link = re.search(r'href="(/cases/[^"]+)"', client.get("/school/cases").get_data(as_text=True)).group(1)
    words = page(client, link).words
    assert "Morning check-in" not in words and "Penalty notices" not in words


# ---------------------------------------------------------------- raising a concern

def _form(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


GOOD = {"concern": "Ava has missed most Mondays since half term.", "tried": ["letters_home", "parent_meetings"],
        "details": "Letters on 2 and 16 October; met mum on 6 November.", "last_action-day": "6",
        "last_action-month": "11", "last_action-year": "2026", "confirm": "y"}


def post_concern(client, school_urn: str, **fields):
    url = f"/school/concerns/new?school={school_urn}"
    data = {**GOOD, "csrf_token": _form(client, url), **fields}
    return client.post(url, data={k: v for k, v in data.items() if v is not None})


def _events(pages_url, upn: str) -> list[tuple[str, str, dict]]:
    with Session(get_engine(pages_url)) as session:
        rows = session.exec(select(Case.ref, CaseEvent.trigger, CaseEvent.to_state, CaseEvent.data)
                            .join(CaseEvent, CaseEvent.case_id == Case.id).join(Pupil, Pupil.id == Case.pupil_id)
                            .where(Pupil.upn == upn)).all()
    return [(ref, to_state, {**json.loads(data), "trigger": trigger}) for ref, trigger, to_state, data in rows]


def test_a_school_raises_a_concern_and_its_answers_reach_the_chronology(app, portal, pages_url):
    client = signed_in(app, portal.school_user)
    response = post_concern(client, portal.riverside, upn=portal.fresh["Eve"])
    assert response.status_code == 302
    [(ref, state, data)] = _events(pages_url, portal.fresh["Eve"])
    assert response.headers["Location"].endswith(f"/school/concerns/{ref}")
    assert state == "concern" and data["trigger"] == "raise_concern"
    assert data["reason"] == GOOD["concern"]
    assert data["actions"] == "The school had already tried: Letters home; Meetings with parents"
    assert data["note"] == (f"Details from the school: {GOOD['details']} "
                            "The school's most recent action was on 2026-11-06.")
    words = page(client, response.headers["Location"]).words
    assert f"Concern raised Case reference {ref}" in words and "written to 1 parent" in words
    assert ref in audited(pages_url, portal.school_user, "create", "case")
    chronology = page(signed_in(app, portal.aeo), f"/cases/{ref}").words
    assert f"The concern: {GOOD['concern']}" in chronology
    assert "What had been tried: The school had already tried: Letters home; Meetings with parents" in chronology
    assert "stepping down" not in chronology, "the concern is not labelled as another trigger's reason"


def test_choosing_the_pupil_from_the_list_and_nothing_tried_yet(app, portal, pages_url):
    client = signed_in(app, portal.school_user)
    response = post_concern(client, portal.riverside, pupil=portal.fresh["Hal"], tried=["nothing_yet"], details="",
                            **{"last_action-day": "", "last_action-month": "", "last_action-year": ""})
    assert response.status_code == 302, summary_of(response)
    [(_, _, data)] = _events(pages_url, portal.fresh["Hal"])
    assert data["actions"] == "The school had not yet tried anything" and "note" not in data


def test_a_upn_in_the_address_preselects_the_pupil(app, portal):
    html = signed_in(app, portal.school_user).get(
        f"/school/concerns/new?upn={portal.ben}").get_data(as_text=True)
    assert re.search(rf'<option value="{portal.ben}" selected>', html)
    assert re.search(rf'<option value="{portal.ava}">Brook, Ava \(year 5\) – open case {portal.ava_ref}</option>', html)


FUTURE = {"last_action-day": "24", "last_action-month": "11", "last_action-year": "2026"}
IMPOSSIBLE = {"last_action-day": "31", "last_action-month": "2", "last_action-year": "2026"}
NO_YEAR = {"last_action-day": "3", "last_action-month": "11", "last_action-year": ""}


@pytest.mark.parametrize("fields, field_id, message", [
    ({"upn": "", "pupil": ""}, "upn", "Enter the pupil's UPN or choose the pupil from the list"),
    ({"upn": "A999999999999"}, "upn", "There is no pupil with UPN A999999999999 on the roll of Riverside Primary"),
    ({"upn": "hana"}, "upn", "on the roll of Riverside Primary"),
    ({"upn": "ben", "pupil": "cara"}, "upn", "Enter a UPN or choose a pupil from the list, not both"),
    ({"upn": "ben", "concern": "  "}, "concern", "Enter your concern about the pupil's attendance"),
    ({"upn": "ben", **FUTURE}, "last_action-day", "must be today or in the past"),
    ({"upn": "ben", **IMPOSSIBLE}, "last_action-day", "must be a real date"),
    ({"upn": "ben", **NO_YEAR}, "last_action-day", "must include a year"),
    ({"upn": "ben", "tried": None}, "tried", "Select what the school has already tried, or select 'Nothing yet'"),
    ({"upn": "ben", "tried": ["letters_home", "nothing_yet"]}, "tried", "'Nothing yet' on its own"),
    ({"upn": "ben", "tried": ["other"], "details": ""}, "details", "Describe the other things the school has tried"),
    ({"upn": "ben", "last_action-day": "", "last_action-month": "", "last_action-year": ""}, "last_action-day",
     "Enter the date of the school's most recent action"),
    ({"upn": "ben", "confirm": None}, "confirm", "Confirm that you understand"),
])
def test_bad_input_is_explained_next_to_its_field_and_writes_nothing(app, portal, pages_url, fields, field_id,
                                                                     message):
    names = {"ben": portal.ben, "cara": portal.cara, "hana": portal.hana}
    fields = {key: names.get(value, value) if isinstance(value, str) else value for key, value in fields.items()}
    client = signed_in(app, portal.school_user)
    before = counts(pages_url)
    response = post_concern(client, portal.riverside, **fields)
    assert response.status_code == 200
    summary = summary_of(response)
    assert any(href == f"#{field_id}" and message in text for href, text in summary), summary
    assert f'id="{field_id}"' in response.get_data(as_text=True), "the summary links to a field on the page"
    assert counts(pages_url) == before


def test_a_concern_posted_twice_opens_one_case(app, portal, pages_url):
    client = signed_in(app, portal.school_user)
    url = f"/school/concerns/new?school={portal.riverside}"
    data = {**GOOD, "upn": portal.fresh["Finn"], "csrf_token": _form(client, url)}
    assert client.post(url, data=data).status_code == 302
    before = counts(pages_url)
    again = client.post(url, data=data)
    [(ref, _, _)] = _events(pages_url, portal.fresh["Finn"])
    assert again.status_code == 200
    assert summary_of(again) == [("#upn", f"The pupil already has an open case ({ref})")]
    assert counts(pages_url) == before


def test_a_pupil_with_an_open_case_is_refused(app, portal, pages_url):
    client = signed_in(app, portal.school_user)
    before = counts(pages_url)
    response = post_concern(client, portal.riverside, upn=portal.ava)
    assert summary_of(response) == [
        ("#upn", f"The pupil already has an open case ({portal.ava_ref})")]
    assert counts(pages_url) == before


def test_an_aeo_raises_a_concern_for_a_chosen_school(app, portal, pages_url):
    client = signed_in(app, portal.aeo)
    assert "Choose a school" in page(client, "/school/concerns/new").words
    response = post_concern(client, portal.riverside, upn=portal.fresh["Gus"])
    assert response.status_code == 302
    [(ref, state, _)] = _events(pages_url, portal.fresh["Gus"])
    assert state == "concern"
    with Session(get_engine(pages_url)) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        assert case.officer_id is not None, "the AEO who raised it is its officer"
    other_school = post_concern(client, portal.meadow, upn=portal.ben)
    assert ("#upn", f"There is no pupil with UPN {portal.ben} on the roll of Meadow Primary") in summary_of(other_school)
