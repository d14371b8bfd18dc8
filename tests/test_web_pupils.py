"""Pupil search, the pupil page (measures, the sessions behind the threshold, the register heat-map) and the family
view, as each role sees them, on committed data."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
import tinyhtml5
from sqlmodel import Session, select

from casework import clock
from casework.db import get_engine
from casework.models import Contact, Pupil, PupilContact, School
from casework.register import measures

from .factories import fill_register, make_parent, make_pupil, make_user
from .scenarios import ABSENT
from .web_support import Outline, audited, error_summary, page, signed_in

HIDDEN_ADDRESS = "7 Hidden Lane"


@dataclass
class Pupils:
    world: object
    ava: str  # UPNs
    ben: str
    cara: str
    avery: str
    zed: str
    ids: dict[str, int]
    admin: str
    legal: str


@pytest.fixture(scope="module")
def pupils(web_world, pages_url) -> Pupils:
    """Ava (Riverside) with a sister Cara at Riverside and a brother Ben at Hilltop sharing her mother, a father whose
    address is confidential, last year's register and more marks; Avery (Riverside) and Zed Brookes (Hilltop)."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        riverside, hilltop = session.get(School, web_world.school_id), session.get(School, web_world.other_school_id)
        ava = session.get(Pupil, web_world.pupil_id)
        mother = session.exec(select(Contact).join(PupilContact, PupilContact.contact_id == Contact.id)
                              .where(PupilContact.pupil_id == ava.id)).one()
        ben = make_pupil(session, hilltop, forename="Ben", surname="Brook")
        cara = make_pupil(session, riverside, forename="Cara", surname="Brook-Hall")
        for child in (ben, cara):
            make_parent(session, child, ref=mother.contact_ref, relationship="mother")
        make_parent(session, ava, ref="HIDDEN-1", forename="Alex", surname="Brook", title="Mr", relationship="father",
                    lives=False, confidential=True)
        session.exec(select(Contact).where(Contact.contact_ref == "HIDDEN-1")).one().address_line1 = HIDDEN_ADDRESS
        avery = make_pupil(session, riverside, forename="Avery", surname="Stone")
        zed = make_pupil(session, hilltop, forename="Zed", surname="Brookes")
        fill_register(session, ava, riverside, date(2026, 11, 2), date(2026, 11, 2),
                      absent={date(2026, 11, 2): ("I", "M")})
        fill_register(session, ava, riverside, date(2026, 6, 1), date(2026, 6, 5), absent={date(2026, 6, 3): "N"})
        fill_register(session, ben, hilltop, date(2026, 9, 7), date(2026, 11, 20),
                      absent={date(2026, 9, d): "O" for d in (7, 8, 9, 10, 11, 14)})
        admin, legal = make_user(session, "admin").email, make_user(session, "legal").email
        session.commit()
        people = {"ava": ava, "ben": ben, "cara": cara, "avery": avery, "zed": zed}
        return Pupils(web_world, *(p.upn for p in people.values()), {k: p.id for k, p in people.items()}, admin,
                       legal)


def html_of(client, url: str) -> str:
    """The page's HTML, checked as `page` checks it: 200, one h1, the skip link first."""
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.get_data(as_text=True)
    outline = Outline(html)
    assert outline.h1s == 1 and outline.first_link.get("href") == "#main-content", url
    return html


def tree(html: str):
    return tinyhtml5.parse(html, namespace_html_elements=False)


def text(element) -> str:
    return " ".join("".join(element.itertext()).split())


def table(html: str, caption_start: str) -> list[list[str]]:
    """The body rows (cell texts) of the table whose caption starts with `caption_start`."""
    for candidate in tree(html).iter("table"):
        caption = candidate.find("caption")
        if caption is not None and text(caption).startswith(caption_start):
            return [[text(cell) for cell in row] for row in candidate.find("tbody").iter("tr")]
    raise AssertionError(f"no table captioned {caption_start!r}")


def heatmap(html: str) -> dict[str, list[tuple[str, str]]]:
    """Week beginning -> the ten (code, kind) cells Monday AM to Friday PM, in column order."""
    (grid,) = [t for t in tree(html).iter("table") if "cw-heatmap" in t.get("class", "")]
    weeks = {}
    for row in grid.find("tbody").iter("tr"):
        header, *cells = list(row)
        assert header.tag == "th" and len(cells) == 10
        weeks[text(header)] = [(text(cell.find("span[@class='cw-mark__code']")),
                                cell.get("class").split("cw-mark--")[1].split()[0]) for cell in cells]
    return weeks


def row_of(html: str, caption_start: str, name: str) -> list[str]:
    (row,) = [r for r in table(html, caption_start) if r[0].startswith(name)]
    return row


# Search.


def test_search_by_upn_finds_the_one_pupil_with_attendance_flags_and_open_case(app, pupils, pages_url):
    client = signed_in(app, pupils.world.aeo)
    html = html_of(client, f"/pupils?q={pupils.ava.lower()}")
    rows = table(html, "Pupils found")
    assert [r[:2] for r in rows] == [["Ava Brook", pupils.ava]]
    with Session(get_engine(pages_url)) as session:
        segments = measures.load_segments(session, [pupils.ids["ava"]])[pupils.ids["ava"]]
        urn = session.get(School, pupils.world.school_id).urn
    figures = measures.pupil_measures(segments, clock.today(), urn)
    name, upn, born, year, school, rate, flags, cases = rows[0]
    assert (born, year, school) == ("1 March 2016", "5", "Riverside Primary")
    assert rate == f"{100 - figures['absence_rate']:.1f}%"
    assert ("Persistent absence" in flags) == figures["persistent_absence"] and "PN threshold met" in flags
    assert cases == pupils.world.ref
    by_prefix = table(html_of(client, f"/pupils?q={pupils.ava[:8]}"), "Pupils found")
    assert [pupils.ava] == [r[1] for r in by_prefix if r[1] == pupils.ava]
    assert all(r[1].startswith(pupils.ava[:8]) for r in by_prefix)


def test_search_by_surname_prefix_finds_every_school_for_la_staff(app, pupils):
    rows = table(html_of(signed_in(app, pupils.world.aeo), "/pupils?q=BRO"), "Pupils found")
    assert [r[0] for r in rows] == ["Ava Brook", "Ben Brook", "Cara Brook-Hall", "Zed Brookes"]


@pytest.mark.parametrize("q", ["ava bro", "Ava Brook", "brook ava", "Brook, Av", "  ava   brook "])
def test_search_by_forename_and_surname_in_either_order(app, pupils, q):
    rows = table(html_of(signed_in(app, pupils.world.aeo), f"/pupils?q={q}"), "Pupils found")
    assert [r[0] for r in rows] == ["Ava Brook"]


def test_a_single_word_matches_forenames_too_and_wildcards_are_literal(app, pupils):
    client = signed_in(app, pupils.world.aeo)
    assert [r[0] for r in table(html_of(client, "/pupils?q=av"), "Pupils found")] == ["Ava Brook", "Avery Stone"]
    assert "No pupils found" in page(client, "/pupils?q=%25").words
    assert "No pupils found" in page(client, "/pupils?q=a_a").words


def test_school_users_find_only_their_own_schools_pupils(app, pupils):
    riverside = signed_in(app, pupils.world.school_user)
    assert [r[0] for r in table(html_of(riverside, "/pupils?q=brook"), "Pupils found")] == [
        "Ava Brook", "Cara Brook-Hall"]
    assert "No pupils found" in page(riverside, f"/pupils?q={pupils.ben}").words
    everyone = [r[0] for r in table(html_of(riverside, "/pupils"), "Pupils found")]
    assert everyone == ["Ava Brook", "Cara Brook-Hall", "Avery Stone"], "a school sees its roll without searching"
    hilltop = signed_in(app, pupils.world.other_school_user)
    assert "No pupils found" in page(hilltop, "/pupils?q=ava").words
    assert hilltop.get(f"/pupils/{pupils.ids['ava']}").status_code == 404
    assert hilltop.get(f"/pupils/{pupils.ids['ava']}/family").status_code == 404


def test_a_school_filter_outside_the_users_reach_is_refused(app, pupils):
    response = signed_in(app, pupils.world.other_school_user).get(f"/pupils?q=a&school={pupils.world.school_id}")
    assert error_summary(response.get_data(as_text=True)) == [("#school", "Choose a school from the list")]
    assert "Pupils found" not in response.get_data(as_text=True)


def test_the_school_filter_limits_la_staff_to_one_school(app, pupils):
    html = html_of(signed_in(app, pupils.world.aeo), f"/pupils?q=brook&school={pupils.world.other_school_id}")
    assert [r[0] for r in table(html, "Pupils found")] == ["Ben Brook", "Zed Brookes"]


def test_la_staff_are_asked_for_a_name_before_any_list_and_a_long_query_is_refused(app, pupils):
    client = signed_in(app, pupils.world.aeo)
    assert "Enter a name or UPN, or choose a school, to see matching pupils" in page(client, "/pupils").words
    response = client.get("/pupils?q=" + "x" * 101)
    assert error_summary(response.get_data(as_text=True)) == [("#q", "Name or UPN must be 100 characters or fewer")]


def test_results_come_fifty_a_page(app, pupils, pages_url):
    with Session(get_engine(pages_url)) as session:
        hilltop = session.get(School, pupils.world.other_school_id)
        for n in range(51):
            make_pupil(session, hilltop, forename=f"Pupil{n:02d}", surname="Pagination")
        session.commit()
    client = signed_in(app, pupils.world.aeo)
    first = html_of(client, "/pupils?q=pagination")
    assert len(table(first, "Pupils found")) == 50 and 'href="/pupils?page=2&amp;q=pagination"' in first
    second = table(html_of(client, "/pupils?q=pagination&page=2"), "Pupils found")
    assert [r[0] for r in second] == ["Pupil50 Pagination"]
    assert client.get("/pupils?q=pagination&page=0").status_code == 404


def test_the_search_is_audited(app, pupils, pages_url):
    page(signed_in(app, pupils.world.aeo), "/pupils?q=stone")
    assert pupils.world.aeo in audited(pages_url, pupils.world.aeo, "read", "pupil_search")


# The pupil page.


def test_pupil_page_shows_the_record_contacts_and_cases_and_is_audited(app, pupils, pages_url):
    html = html_of(signed_in(app, pupils.world.aeo), f"/pupils/{pupils.ids['ava']}")
    words = text(tree(html))
    assert f"UPN {pupils.ava} Date of birth 1 March 2016 Year group 5 School Riverside Primary" in words
    assert "Address 1 Mill Road, Thetford, IP24 1AA" in words
    assert row_of(html, "Cases", pupils.world.ref)[1] == "Notice to improve"
    assert row_of(html, "Contacts", "Ms Sam Tester")[1:4] == ["Mother", "Yes", "Yes"]
    father = row_of(html, "Contacts", "Mr Alex Brook")
    assert father[1:4] == ["Father", "Yes", "No"] and HIDDEN_ADDRESS in father[4] and "Confidential" in father[4]
    assert f'href="/pupils/{pupils.ids["ava"]}/family"' in html
    assert pupils.ava in audited(pages_url, pupils.world.aeo, "read", "pupil")


def test_school_users_do_not_see_confidential_addresses(app, pupils):
    html = html_of(signed_in(app, pupils.world.school_user), f"/pupils/{pupils.ids['ava']}")
    assert HIDDEN_ADDRESS not in html
    assert row_of(html, "Contacts", "Mr Alex Brook")[4] == "Withheld (confidential)"
    assert "1 Mill Road" in row_of(html, "Contacts", "Ms Sam Tester")[4]


def test_attendance_measures_are_shown(app, pupils, pages_url):
    words = page(signed_in(app, pupils.world.aeo), f"/pupils/{pupils.ids['ava']}").words
    # 52 school days from 3 Sep to 20 Nov less the half term: 104 sessions; 12 unauthorised, 2 authorised.
    assert "Attendance 86.5% (90 of 104 possible sessions)" in words
    assert "Authorised absence 1.9% (2 sessions) Unauthorised absence 11.5% (12 sessions)" in words
    assert "Persistent absence (10% or more) Yes Severe absence (50% or more) No" in words
    assert "Penalty notice threshold Met" in words


def test_the_sessions_behind_the_threshold_are_those_of_threshold_at(app, pupils, pages_url):
    html = html_of(signed_in(app, pupils.world.aeo), f"/pupils/{pupils.ids['ava']}")
    with Session(get_engine(pages_url)) as session:
        segments = measures.load_segments(session, [pupils.ids["ava"]])[pupils.ids["ava"]]
    expected = measures.threshold_at(segments, clock.today())
    assert expected.met and len(expected.sessions) == 12
    shown = table(html, "Unauthorised sessions, 7 September 2026 to 22 November 2026")
    assert [(row[0], row[1], row[2]) for row in shown] == [
        (f"{day:%a} {day.day} {day:%b %Y}", session, code) for day, session, code in expected.sessions]
    assert shown[0] == ["Mon 14 Sep 2026", "AM", "O", "Absent in other or unknown circumstances"]
    assert "12 unauthorised sessions in the latest 10 school weeks" in text(tree(html))


def test_the_heatmap_puts_each_code_in_its_week_day_and_session(app, pupils):
    cells = heatmap(html_of(signed_in(app, pupils.world.aeo), f"/pupils/{pupils.ids['ava']}"))
    assert list(cells)[0] == "31 Aug 2026" and list(cells)[-1] == "16 Nov 2026"
    assert cells["31 Aug 2026"][:6] == [("", "none")] * 6, "nothing before Thursday 3 September"
    assert cells["31 Aug 2026"][6:] == [("/", "present"), ("\\", "present")] * 2
    assert cells["14 Sep 2026"] == [("O", "unauthorised")] * 4 + [("G", "unauthorised")] * 4 + [("O", "unauthorised")] * 2
    assert cells["21 Sep 2026"][:3] == [("U", "unauthorised"), ("U", "unauthorised"), ("/", "present")]
    assert cells["2 Nov 2026"][:2] == [("I", "authorised"), ("M", "authorised")]
    assert cells["26 Oct 2026"] == [("", "none")] * 10, "half term has no marks"


def test_heatmap_cells_explain_themselves_and_absences_take_focus(app, pupils):
    html = html_of(signed_in(app, pupils.world.aeo), f"/pupils/{pupils.ids['ava']}")
    (cell,) = [td for td in tree(html).iter("td")
               if td.get("data-date") == "2026-09-16" and td.get("data-session") == "PM"]
    assert cell.get("tabindex") == "0"
    assert text(cell.find("span[@class='cw-mark__tip']")) == (
        "Wed 16 Sep 2026, afternoon: unauthorised absence (G: Holiday not authorised)")
    (present,) = [td for td in tree(html).iter("td")
                  if td.get("data-date") == "2026-09-03" and td.get("data-session") == "AM"]
    assert present.get("tabindex") is None and "present" in text(present)
    legend = [text(li) for li in tree(html).iter("li") if li.get("class") == "cw-legend__item"]
    assert legend == ["Present", "Approved educational activity", "Authorised absence", "Unauthorised absence",
                      "Not required to attend, or school closed", "No mark"]


def test_the_text_equivalent_lists_every_mark_but_present(app, pupils):
    html = html_of(signed_in(app, pupils.world.aeo), f"/pupils/{pupils.ids['ava']}")
    marks = {**ABSENT, date(2026, 11, 2): ("I", "M")}
    expected = [[f"{day:%a} {day.day} {day:%b %Y}", session, code]
                for day, mark in sorted(marks.items())
                for session, code in zip(("AM", "PM"), mark if isinstance(mark, tuple) else (mark, mark))]
    assert [row[:3] for row in table(html, "Marks other than present")] == expected
    cells = heatmap(html)
    assert sum(code in ("/", "\\") for week in cells.values() for code, _ in week) == 90
    assert "90 sessions marked present" in text(tree(html))


def test_another_academic_year_can_be_chosen(app, pupils):
    client = signed_in(app, pupils.world.aeo)
    html = html_of(client, f"/pupils/{pupils.ids['ava']}")
    assert f'href="/pupils/{pupils.ids["ava"]}?year=2025#register"' in html
    last_year = html_of(client, f"/pupils/{pupils.ids['ava']}?year=2025")
    assert "Register marks by week, 2025 to 2026" in text(tree(last_year))
    assert heatmap(last_year) == {"1 Jun 2026": [("/", "present"), ("\\", "present")] * 2
                                  + [("N", "unauthorised")] * 2 + [("/", "present"), ("\\", "present")] * 2}
    assert "As of 31 July 2026" in text(tree(last_year))
    assert client.get(f"/pupils/{pupils.ids['ava']}?year=2019").status_code == 404


def test_a_pupil_without_marks_or_contacts_has_a_plain_page(app, pupils):
    words = page(signed_in(app, pupils.world.aeo), f"/pupils/{pupils.ids['avery']}").words
    assert "No register marks have been recorded for 2026 to 2027" in words
    assert "No contacts recorded" in words and "No cases" in words and "Attendance No sessions yet" in words


def test_raise_a_concern_is_offered_only_where_the_form_exists_and_the_role_may_use_it(app, pupils):
    link = f"upn={pupils.ava}"
    aeo = signed_in(app, pupils.world.aeo).get(f"/pupils/{pupils.ids['ava']}").get_data(as_text=True)
    legal = signed_in(app, pupils.legal).get(f"/pupils/{pupils.ids['ava']}").get_data(as_text=True)
    assert (link in aeo) == ("schools.new_concern" in app.view_functions)
    assert link not in legal


def test_missing_pupils_are_not_found_and_admins_are_refused(app, pupils):
    client = signed_in(app, pupils.world.aeo)
    assert client.get("/pupils/999999").status_code == 404
    assert client.get("/pupils/999999/family").status_code == 404
    admin = signed_in(app, pupils.admin)
    for url in ("/pupils", f"/pupils/{pupils.ids['ava']}", f"/pupils/{pupils.ids['ava']}/family"):
        assert admin.get(url).status_code == 403, url


# The family.


def test_la_staff_see_siblings_across_schools_and_the_shared_contact(app, pupils, pages_url):
    html = html_of(signed_in(app, pupils.world.aeo), f"/pupils/{pupils.ids['ava']}/family")
    children = table(html, "Children in the family")
    assert [(r[0], r[4]) for r in children] == [
        ("Ava Brook (this pupil)", "Riverside Primary"), ("Ben Brook", "Hilltop Primary"),
        ("Cara Brook-Hall", "Riverside Primary")]
    ben = children[1]
    assert (ben[5], ben[6], ben[7]) == ("89.1%", "Persistent absence", "None")
    assert children[0][7] == pupils.world.ref
    assert table(html, "Contacts linked") == [
        ["Ms Sam Tester", "Ava Brook (mother) Ben Brook (mother) Cara Brook-Hall (mother)"]]
    assert "Alex" not in text(tree(html)), "a contact of Ava alone is not shared"
    assert audited(pages_url, pupils.world.aeo, "read", "family") == [pupils.ava]


def test_a_school_user_sees_only_siblings_on_its_own_roll(app, pupils):
    html = html_of(signed_in(app, pupils.world.school_user), f"/pupils/{pupils.ids['ava']}/family")
    assert [r[0] for r in table(html, "Children in the family")] == ["Ava Brook (this pupil)", "Cara Brook-Hall"]
    assert "Ben" not in html and "Hilltop" not in html and pupils.ben not in html
    assert table(html, "Contacts linked") == [["Ms Sam Tester", "Ava Brook (mother) Cara Brook-Hall (mother)"]]
    hilltop = html_of(signed_in(app, pupils.world.other_school_user), f"/pupils/{pupils.ids['ben']}/family")
    assert [r[0] for r in table(hilltop, "This pupil")] == ["Ben Brook (this pupil)"]
    assert "Ava" not in hilltop and "Cara" not in hilltop
    assert "No other children share a parent, carer or contact with Ben on your school’s roll" in text(tree(hilltop))
