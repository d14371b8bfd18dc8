"""Service records and print runs: deemed service from the working-day calendar, runs in postcode order, posting a run
updates every letter (and a penalty notice's payment periods), returns are events on the case; from the services,
the command line and the web."""
from __future__ import annotations

import io
import re
import time
from datetime import date

import pytest
from pypdf import PdfReader
from sqlmodel import Session, select

from casework.db import get_engine
from casework.letters import postal, runs, storage
from casework.models import Case, CaseEvent, Deadline, Letter, PrintRun, Setting
from casework.services.cases import fire, open_case
from casework.services.errors import BadInput, Blocked, PermissionDenied

from .factories import fill_register, make_parent, make_pupil
from . import test_cli
from .scenarios import ABSENT, HALF_TERM, to_notice_to_improve
from .web_support import error_summary, page, signed_in


cli, county, make_upn = test_cli.cli, test_cli.county, test_cli.make_upn  # the command line's fixtures


def page_texts(pdf: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages]


# Deemed service ---------------------------------------------------------------------------------------

def test_deemed_service_counts_working_days_past_weekends_and_bank_holidays(session):
    # Thursday 24 December 2026: Christmas Day and the substitute Boxing Day (Monday 28th) are not working days
    assert postal.deemed_served(session, date(2026, 12, 24), "first") == date(2026, 12, 30)
    assert postal.deemed_served(session, date(2026, 12, 24), "second") == date(2027, 1, 4)
    assert postal.deemed_served(session, date(2026, 11, 20), "first") == date(2026, 11, 24)  # Friday → Tuesday
    session.add(Setting(key="deemed_service_days_first", value="1"))
    session.flush()
    assert postal.deemed_served(session, date(2026, 12, 24), "first") == date(2026, 12, 29)
    with pytest.raises(BadInput, match="first or second"):
        postal.deemed_served(session, date(2026, 12, 24), "express")


# Print runs -------------------------------------------------------------------------------------------

@pytest.fixture()
def three_families(session, world):
    """Concerns raised for three pupils whose parents live at different postcodes (letters waiting to be posted)."""
    refs = [open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1)).case.ref]
    for forename, postcode in (("Zoe", "AB1 2DE"), ("Max", "PE30 1AB")):
        pupil = make_pupil(session, world.school, forename=forename)
        parent = make_parent(session, pupil, forename=f"{forename}'s mum")
        parent.postcode = postcode
        session.add(parent)
        fill_register(session, pupil, world.school, date(2026, 9, 3), date(2026, 11, 20), absent=ABSENT,
                      closed=HALF_TERM)
        refs.append(open_case(session, pupil.upn, world.school_user, date(2026, 10, 2)).case.ref)
    return refs


def test_a_run_gathers_the_waiting_letters_in_postcode_order(session, world, three_families):
    run = runs.create_run(session, world.aeo)
    assert run.letter_count == 4 and run.status == "building"
    runs.assemble(session, run)
    assert run.status == "ready" and run.done == 4
    letters = session.exec(runs.run_letters(session, run.id)).all()
    assert [l.postcode for l in letters] == ["AB1 2DE", "IP24 1AA", "IP24 1AA", "PE30 1AB"]
    texts = page_texts(storage.load_verified(run.path, run.sha256))
    assert len(texts) == run.pages == sum(l.pages for l in letters)
    firsts = [t for t in texts if "Page 1 of" in t]
    assert [re.search(r"(AB1 2DE|IP24 1AA|PE30 1AB)", t).group(1) for t in firsts] == [l.postcode for l in letters]
    with pytest.raises(BadInput, match="no letters are waiting to be posted"):
        runs.create_run(session, world.aeo)


def test_a_run_can_take_one_kind_and_letters_issued_up_to_a_day(session, world, three_families):
    fire(session, three_families[0], "agree_action_plan", world.aeo, date(2026, 10, 5),
         {"actions": "Morning check-in", "review_on": "2026-11-30"})
    run = runs.create_run(session, world.aeo, kind="action_plan")
    assert {l.kind for l in session.exec(runs.run_letters(session, run.id))} == {"action_plan"}
    early = runs.create_run(session, world.aeo, on=date(2026, 10, 1))
    assert {l.issued_on for l in session.exec(runs.run_letters(session, early.id))} == {date(2026, 10, 1)}
    assert [w.letters for w in runs.waiting_summary(session)] == [2]
    with pytest.raises(PermissionDenied):
        runs.create_run(session, world.school_user)
    with pytest.raises(BadInput, match="letter kind"):
        runs.create_run(session, world.aeo, kind="postcard")


def test_marking_a_run_posted_updates_every_letter_once(session, world, three_families):
    run = runs.assemble(session, runs.create_run(session, world.aeo))
    runs.mark_run_posted(session, run.id, date(2026, 11, 20), "first", world.aeo)
    letters = session.exec(runs.run_letters(session, run.id)).all()
    assert {(l.status, l.posted_on, l.postal_class, l.served_on) for l in letters} == {
        ("posted", date(2026, 11, 20), "first", date(2026, 11, 24))}
    assert {postal.service_status(l, date(2026, 11, 23)) for l in letters} == {"posted"}
    assert {postal.service_status(l, date(2026, 11, 24)) for l in letters} == {"deemed served"}
    posted_events = session.exec(select(CaseEvent).where(CaseEvent.trigger == "letters_posted")).all()
    assert len(posted_events) == 3, "one event on each case"
    with pytest.raises(Blocked, match="already marked as posted on 2026-11-20"):
        runs.mark_run_posted(session, run.id, date(2026, 11, 21), "first", world.aeo)


def test_a_run_cannot_be_posted_before_its_letters_were_issued_or_in_the_future(session, world, three_families):
    run = runs.assemble(session, runs.create_run(session, world.aeo))
    with pytest.raises(Blocked, match="issued on 2026-10-02, after 2026-10-01"):
        runs.mark_run_posted(session, run.id, date(2026, 10, 1), "first", world.aeo)
    with pytest.raises(BadInput, match="in the future"):
        runs.mark_run_posted(session, run.id, date(2026, 12, 1), "first", world.aeo)
    assert session.get(PrintRun, run.id).status == "ready"


def test_a_penalty_notice_posted_late_has_its_payment_periods_run_from_deemed_receipt(session, world):
    ref = to_notice_to_improve(session, world)
    outcome = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2))
    sam = next(pn for pn in outcome.penalty_notices if pn.contact_id == world.mother.id)
    assert (sam.receipt_on, sam.reduced_until, sam.pay_by) == (date(2026, 11, 4), date(2026, 11, 25),
                                                               date(2026, 12, 2))
    run = runs.assemble(session, runs.create_run(session, world.aeo, kind="penalty_notice"))
    notes = runs.mark_run_posted(session, run.id, date(2026, 11, 6), "first", world.aeo)  # posted Friday
    assert (sam.receipt_on, sam.reduced_until, sam.pay_by) == (date(2026, 11, 10), date(2026, 12, 1),
                                                               date(2026, 12, 8))
    due = {d.kind: d.due_on for d in session.exec(select(Deadline).where(Deadline.penalty_notice_id == sam.id))}
    assert due == {"pn_reduced_period_ends": date(2026, 12, 1), "pn_payment_period_ends": date(2026, 12, 8)}
    assert any(sam.ref in note and "2026-12-08" in note for note in notes)


def test_a_penalty_notice_posted_on_its_issue_day_keeps_its_dates(session, world):
    ref = to_notice_to_improve(session, world)
    outcome = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2))
    run = runs.assemble(session, runs.create_run(session, world.aeo, kind="penalty_notice"))
    assert runs.mark_run_posted(session, run.id, date(2026, 11, 2), "first", world.aeo) == []
    assert {pn.pay_by for pn in outcome.penalty_notices} == {date(2026, 12, 2)}


def test_a_returned_letter_is_an_event_on_its_case(session, world):
    ref = to_notice_to_improve(session, world)
    outcome = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2))
    letter = outcome.letters[0]
    with pytest.raises(Blocked, match="waiting to be posted: only a posted letter can come back"):
        postal.mark_returned(session, letter.id, date(2026, 11, 10), world.aeo)
    run = runs.assemble(session, runs.create_run(session, world.aeo))
    runs.mark_run_posted(session, run.id, date(2026, 11, 2), "first", world.aeo)
    postal.mark_returned(session, letter.id, date(2026, 11, 10), world.aeo, "Not known at this address")
    assert (letter.status, letter.returned_on) == ("returned", date(2026, 11, 10))
    event = session.exec(select(CaseEvent).join(Case).where(Case.ref == ref).order_by(CaseEvent.seq.desc())).first()
    assert event.trigger == "letter_returned" and "has not been served" in event.data
    assert "Not known at this address" in event.data
    with pytest.raises(Blocked, match="returned undelivered"):
        postal.mark_returned(session, letter.id, date(2026, 11, 11), world.aeo)


def test_a_run_whose_letter_file_is_damaged_fails_and_releases_its_letters(session, world, three_families,
                                                                            storage):
    run = runs.create_run(session, world.aeo)
    letter = session.exec(runs.run_letters(session, run.id)).first()
    target = storage / letter.path
    target.chmod(0o644)
    target.write_bytes(b"%PDF- tampered")
    with pytest.raises(Exception, match="altered"):
        runs.assemble(session, run)


# Command line -----------------------------------------------------------------------------------------

def test_print_runs_through_the_command_line(county):
    ref = county("case", "open", make_upn(1), "--as", "head@queensway.example", "--on", "2026-10-01").stdout.strip()
    county("case", "fire", ref, "agree_action_plan", "--as", "aeo@example.org", "--on", "2026-10-02",
           "--set", "actions=Morning check-in", "--set", "review_on=2026-10-30")
    out = county.dir / "run.pdf"
    assert "may not make a print run" in county("letters", "run", "--out", str(out), "--as",
                                                 "head@queensway.example", check=1).stderr
    run_id = county("letters", "run", "--kind", "attendance_concern", "--out", str(out), "--as",
                    "aeo@example.org").stdout.strip()
    texts = page_texts(out.read_bytes())
    assert "We are concerned about Ava" in " ".join(texts) and "Support plan" not in " ".join(texts)
    posted = county("letters", "posted", run_id, "--on", "2026-11-20", "--class", "second", "--as",
                    "aeo@example.org").stdout
    assert posted.strip() == f"print run {run_id}: 1 letter(s) posted on 2026-11-20 (second class)"
    again = county("letters", "posted", run_id, "--on", "2026-11-20", "--as", "aeo@example.org", check=3)
    assert again.stderr.startswith(f"blocked: print run {run_id} was already marked as posted")
    county("letters", "run", "--kind", "attendance_concern", "--out", str(out), "--as", "aeo@example.org", check=2)

    shown = county("case", "show", ref, "--json").stdout
    letter_id = re.search(r'"id": (\d+),\s+"kind": "attendance_concern"', shown).group(1)
    returned = county("letters", "returned", letter_id, "--on", "2026-11-23", "--note", "gone away", "--as",
                      "aeo@example.org").stdout
    assert returned.strip() == f"letter {letter_id} (attendance_concern) returned undelivered on 2026-11-23"
    assert '"trigger": "letter_returned"' in county("case", "show", ref, "--json").stdout
    county("letters", "returned", "99999", "--as", "aeo@example.org", check=2)


def test_a_meeting_invitation_through_the_command_line(county):
    ref = county("case", "open", make_upn(1), "--as", "head@queensway.example", "--on", "2026-10-01").stdout.strip()
    ids = county("letters", "issue", ref, "meeting_invitation", "--as", "aeo@example.org", "--on", "2026-10-02",
                 "--set", "meeting_on=2026-10-08 09:30", "--set", "meeting_place=Queensway Primary").stdout.split()
    assert len(ids) == 1
    assert "meeting_place is required" in county("letters", "issue", ref, "meeting_invitation", "--as",
                                                 "aeo@example.org", "--set", "meeting_on=2026-12-08",
                                                 check=2).stderr


# Web --------------------------------------------------------------------------------------------------

def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _wait_until_built(client, url: str) -> str:
    for _ in range(200):
        html = client.get(url).get_data(as_text=True)
        if "data-cw-progress" not in html:
            return html
        assert "Building the PDF" in html
        time.sleep(0.05)
    raise AssertionError("the print run was not built in 10 seconds")


def test_print_runs_on_the_web(app, web_world, pages_url):
    client = signed_in(app, web_world.aeo)
    words = page(client, "/letters").words
    assert "Letters waiting to be posted" in words and "Notice to improve 1" in words
    html = client.get("/letters").get_data(as_text=True)
    response = client.post("/letters/runs", data={"csrf_token": _token(html), "kind": ""})
    assert response.status_code == 302
    run_url = response.headers["Location"]
    again = client.post("/letters/runs", data={"csrf_token": _token(html), "kind": ""})
    assert again.headers["Location"] == run_url, "the form posted twice shows the same run"

    html = _wait_until_built(client, run_url)
    assert "Ready to print and post" in page(client, run_url).words
    run_id = int(run_url.rsplit("/", 1)[1])
    pdf = client.get(f"/letters/runs/{run_id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(pdf.data)).pages) > 1

    refused = client.post(f"/letters/runs/{run_id}/posted", data={"csrf_token": _token(html),
                                                                   "posted_on-day": "31", "posted_on-month": "2",
                                                                   "posted_on-year": "2026"})
    assert refused.status_code == 400
    assert error_summary(refused.get_data(as_text=True)) == [
        ("#posted_on-day", "The date the letters were posted must be a real date, like 23 11 2026"),
        ("#postal_class", "Select first class or second class")]
    posted = client.post(f"/letters/runs/{run_id}/posted", data={
        "csrf_token": _token(html), "posted_on-day": "20", "posted_on-month": "11", "posted_on-year": "2026",
        "postal_class": "first"})
    assert posted.status_code == 302
    words = page(client, run_url).words
    assert "marked as posted on 20 November 2026" in words and "Posted (deemed served 2026-11-24)" in words
    twice = client.post(f"/letters/runs/{run_id}/posted", data={
        "csrf_token": _token(html), "posted_on-day": "20", "posted_on-month": "11", "posted_on-year": "2026",
        "postal_class": "first"})
    assert twice.status_code == 400 and "already marked as posted" in twice.get_data(as_text=True)
    with Session(get_engine(pages_url)) as session:
        letters = session.exec(select(Letter).where(Letter.print_run_id == run_id)).all()
        assert letters and {l.status for l in letters} == {"posted"}


def test_print_runs_refuse_other_roles_and_an_empty_queue(app, web_world):
    assert signed_in(app, web_world.school_user).get("/letters").status_code == 403
    client = signed_in(app, web_world.aeo)
    html = client.get("/letters").get_data(as_text=True)
    if "No letters are waiting to be posted" in html:
        response = client.post("/letters/runs", data={"csrf_token": _token(html), "kind": "penalty_notice"})
        assert response.status_code == 400
        assert error_summary(response.get_data(as_text=True)) == [
            ("#kind", "No letters are waiting to be posted (penalty notice)")]
    assert client.get("/letters/runs/99999").status_code == 404
