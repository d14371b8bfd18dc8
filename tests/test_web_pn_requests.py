"""The penalty notice request pages as signed-in users see them, on committed data: the school's form with its marks
preview, CSV upload, the AEO's queue with bulk accept, one request's review and decisions, the school's outcomes and
the managers' figures."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date

import pytest
from sqlmodel import Session, select

from casework.db import get_engine
from casework.models import PenaltyNotice, PnRequest
from casework.pn_requests import conduct as conduct_mod
from casework.pn_requests import csvfile

from .factories import fill_register, make_parent, make_pupil, make_school, make_user
from .scenarios import HALF_TERM, HOLIDAY
from .web_support import audited, error_summary, page, signed_in

STATEMENTS = {"leave_request_statement": "Asked by email on 1 October",
              "leave_refusal_statement": "Refused by letter on 2 October",
              "warning_statement": "The refusal warned of a penalty notice",
              "registration_certificate_statement": "Signed register extract"}


@dataclass
class Lane:
    school_urn: str
    school_user: str
    other_school_user: str
    aeo: str
    manager: str
    families: dict[str, list[str]]  # surname -> UPNs of the children


@pytest.fixture(scope="module")
def lane(app, pages_url) -> Lane:
    """Meadow Primary with six families whose children were away for the week of 9 November, and its users."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        school = make_school(session, name="Meadow Primary")
        other = make_school(session, name="Oak Primary")
        families = {}
        for surname, children in (("Brook", 2), ("Cole", 1), ("Dunn", 1), ("Evans", 2), ("Ford", 1), ("Gray", 1)):
            pupils = [make_pupil(session, school, forename=f"Child{i}", surname=surname) for i in range(children)]
            mother = make_parent(session, pupils[0], forename="Sam", surname=surname, relationship="mother")
            father = make_parent(session, pupils[0], forename="Chris", surname=surname, title="Mr",
                                 relationship="father", lives=False)
            for pupil in pupils[1:]:
                make_parent(session, pupil, ref=mother.contact_ref, relationship="mother")
                make_parent(session, pupil, ref=father.contact_ref, relationship="father", lives=False)
            for pupil in pupils:
                absent = {**HOLIDAY, date(2026, 11, 9): ("N", "G")} if surname == "Ford" else HOLIDAY
                fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=absent,
                              closed=HALF_TERM)
            families[surname] = [p.upn for p in pupils]
        result = Lane(school.urn, make_user(session, "school", schools=[school]).email,
                      make_user(session, "school", schools=[other]).email, make_user(session, "aeo").email,
                      make_user(session, "manager").email, families)
        session.commit()
    return result


def _form(client, url: str = "/requests/new") -> dict:
    html = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    key = re.search(r'name="submission_key"[^>]*value="([^"]+)"', html)
    key = key or re.search(r'id="submission_key"[^>]*value="([^"]+)"', html)
    return {"csrf_token": token, "submission_key": key.group(1), "form": "request"}


def _answers(upns, **extra) -> dict:
    return {"upns": "\n".join(upns), "reason": "holiday", "first_day-day": "9", "first_day-month": "11",
            "first_day-year": "2026", "last_day-day": "13", "last_day-month": "11", "last_day-year": "2026",
            "headteacher": "Pat Head", "confirm": "y", **STATEMENTS, **extra}


def _requests(pages_url) -> list[PnRequest]:
    with Session(get_engine(pages_url)) as session:
        return list(session.exec(select(PnRequest).order_by(PnRequest.id)).all())


def _pdf() -> bytes:
    from pypdf import PdfWriter

    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.write(out)
    return out.getvalue()


def _submit(client, upns, **extra):
    data = {**_form(client), **_answers(upns), "action": "submit", **extra}
    return client.post("/requests/new", data=data, content_type="multipart/form-data")


def test_checking_the_marks_shows_what_the_authority_will_see_and_saves_nothing(app, lane, pages_url):
    client = signed_in(app, lane.school_user)
    before = len(_requests(pages_url))
    response = client.post("/requests/new", data={**_form(client), **_answers(lane.families["Cole"]),
                                                   "action": "check"}, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "What the attendance team will see" in html
    words = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "Meets the code of conduct: 10 sessions coded G; back at school on Mon 16 Nov 2026" in words
    assert "Mon 9 Nov 2026 G Holiday not authorised G Holiday not authorised" in words
    assert len(_requests(pages_url)) == before


def test_missing_evidence_and_an_n_code_are_shown_against_their_answers(app, lane, pages_url):
    client = signed_in(app, lane.school_user)
    before = len(_requests(pages_url))
    response = _submit(client, lane.families["Ford"], warning_statement="")
    html = response.get_data(as_text=True)
    summary = error_summary(html)
    assert ("#warning_statement", "Evidence missing: the warning the school gave the parents") in summary
    ford = lane.families["Ford"][0]
    assert any(href == f"#pupil-{ford}" and "still coded N" in text for href, text in summary)
    assert 'id="warning_statement-error"' in html, "the field shows its own error too"
    assert len(_requests(pages_url)) == before


def test_a_school_sends_a_request_with_a_file_and_a_repeated_post_does_nothing_more(app, lane, pages_url):
    client = signed_in(app, lane.school_user)
    data = {**_form(client), **_answers(lane.families["Brook"]), "action": "submit",
            "leave_refusal_file": (io.BytesIO(_pdf()), "refusal.pdf")}
    response = client.post("/requests/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    ref = response.headers["Location"].rsplit("/", 1)[1]
    again = client.post("/requests/new", data={**data, "leave_refusal_file": (io.BytesIO(_pdf()), "refusal.pdf")},
                        content_type="multipart/form-data")
    assert again.status_code == 302 and again.headers["Location"].endswith(ref)
    assert sum(1 for r in _requests(pages_url) if r.submission_key == data["submission_key"]) == 1
    shown = page(client, f"/requests/{ref}")
    assert f"Penalty notice request {ref}" in shown.words and "Waiting for a decision" in shown.words
    link = re.search(rf'/requests/{ref}/evidence/\d+', client.get(f"/requests/{ref}").get_data(as_text=True)).group(0)
    download = client.get(link)
    assert download.status_code == 200 and download.data == _pdf() and download.headers["Content-Type"] == \
        "application/pdf"
    assert ref in [r.split("/")[0] for r in audited(pages_url, lane.school_user, "export", "pn_request_evidence")]
    assert signed_in(app, lane.other_school_user).get(f"/requests/{ref}").status_code == 404


def test_a_csv_file_sends_many_requests_or_none(app, lane, pages_url):
    client = signed_in(app, lane.school_user)
    conduct = conduct_mod.code_of_conduct()
    header = ",".join(csvfile.columns(conduct))
    statements = [STATEMENTS.get(f"{kind}_statement", "") for kind in conduct.evidence]
    row = lambda label, upn, reason="holiday": ",".join([label, upn, reason, "2026-11-09", "2026-11-13", *statements, ""])
    evans = lane.families["Evans"]
    bad = "\n".join([header, row("Evans", evans[0]), row("Evans", evans[1], "late")]) + "\n"
    form = _form(client)
    data = {"csrf_token": form["csrf_token"], "form": "csv", "csv-submission_key": "csv-1", "csv-headteacher": "Pat Head",
            "csv-confirm": "y", "csv-file": (io.BytesIO(bad.encode()), "requests.csv")}
    response = client.post("/requests/new", data=data, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Line 3: reason differs from line 2 of request Evans" in html
    assert not [r for r in _requests(pages_url) if r.submission_key.startswith("csv-1")]
    good = "\n".join([header, row("Evans", evans[0]), row("Evans", evans[1])]) + "\n"
    data.update({"csv-file": (io.BytesIO(good.encode()), "requests.csv")})
    response = client.post("/requests/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith("/requests")
    assert [r.submission_key for r in _requests(pages_url) if r.submission_key.startswith("csv-1")] == ["csv-1/0"]
    assert "1 request sent to the attendance team" in page(client, "/requests").words
    template = client.get("/requests/template.csv")
    assert template.status_code == 200 and template.get_data(as_text=True).startswith(header)


def test_the_aeo_accepts_in_bulk_and_downloads_the_letters(app, lane, pages_url):
    school = signed_in(app, lane.school_user)
    response = _submit(school, lane.families["Dunn"])
    ref = response.headers["Location"].rsplit("/", 1)[1]
    aeo = signed_in(app, lane.aeo)
    queue = page(aeo, "/requests/queue")
    assert re.search(rf"{ref} Meadow Primary Child0 Dunn Holiday: Mon 9 Nov 2026 to Fri 13 Nov 2026 .* "
                     "Passes every check", queue.words)
    html = aeo.get("/requests/queue").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = aeo.post("/requests/queue", data={"csrf_token": token, "refs": [ref]})
    assert response.status_code == 302
    words = page(aeo, "/requests/queue").words
    assert "1 request accepted: 2 penalty notices issued." in words
    review = aeo.get(f"/requests/{ref}/review").get_data(as_text=True)
    letters = re.findall(r'href="(/cases/CW-\d{4}-\d{5}/letters/\d+)"', review)
    assert len(letters) == 2
    pdf = aeo.get(letters[0])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "2 issued" in page(school, "/requests").words
    shown = page(school, f"/requests/{ref}").words
    assert "Accepted" in shown and "A penalty notice has been posted to each parent" in shown
    assert shown.count("Issued: payment period running") == 2
    assert ref in audited(pages_url, lane.aeo, "update", "pn_request")


def test_returning_needs_a_reason_and_the_school_can_correct_and_send_again(app, lane, pages_url):
    school = signed_in(app, lane.school_user)
    ref = _submit(school, lane.families["Gray"]).headers["Location"].rsplit("/", 1)[1]
    aeo = signed_in(app, lane.aeo)
    html = aeo.get(f"/requests/{ref}/review").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = aeo.post(f"/requests/{ref}/review", data={"csrf_token": token, "decision": "returned", "reason": ""})
    assert ("#reason", "Give the reason the school will read") in error_summary(response.get_data(as_text=True))
    response = aeo.post(f"/requests/{ref}/review", data={"csrf_token": token, "decision": "returned",
                                                         "reason": "Attach the signed certificate"})
    assert response.status_code == 302
    shown = page(school, f"/requests/{ref}").words
    assert "Returned to the school" in shown and "Attach the signed certificate" in shown
    form = school.get(f"/requests/new?replaces={ref}").get_data(as_text=True)
    assert f"This request corrects {ref}" in form and lane.families["Gray"][0] in form
    corrected = _submit(school, lane.families["Gray"], replaces=ref)
    new_ref = corrected.headers["Location"].rsplit("/", 1)[1]
    assert f"It was corrected and sent again as {new_ref}" in page(school, f"/requests/{ref}").words
    response = aeo.post(f"/requests/{new_ref}/review", data={"csrf_token": token, "decision": "refused",
                                                             "reason": "Leave was granted after all"})
    assert response.status_code == 302
    assert "Refused" in page(school, f"/requests/{new_ref}").words


def test_the_manager_sees_the_figures_and_downloads_the_prm_return(app, lane, pages_url):
    manager = signed_in(app, lane.manager)
    words = page(manager, "/requests/figures").words
    assert "Requests from schools, by month received" in words and "Parental Responsibility Measures return" in words
    with Session(get_engine(pages_url)) as session:
        issued = len(session.exec(select(PenaltyNotice).where(PenaltyNotice.issued_on >= date(2026, 8, 1))).all())
    csv_text = manager.get("/requests/figures/prm.csv?year=2026").get_data(as_text=True)
    lines = csv_text.splitlines()
    assert lines[0].startswith("academic_year,reason,penalty_notices_issued,paid_within_21_days")
    assert lines[-1].startswith(f"2026/27,total,{issued},")
    assert manager.get("/requests/figures?year=1999").status_code == 404
    assert "2026" in audited(pages_url, lane.manager, "export", "pn_figures")
