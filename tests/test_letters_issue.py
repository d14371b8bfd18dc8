"""Issuing letters on a real database: preflight refuses a trigger with reasons and writes nothing; every letter keeps
a snapshot of its inputs and its template set, so it can be rendered again, or redacted; the authority's logo;
letters sent on request."""
from __future__ import annotations

import io
import shutil
from datetime import date

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func
from sqlmodel import select

from casework.letters import render, storage
from casework.letters.issue import load_templates, rerender
from casework.letters.snapshot import loads
from casework.models import Case, CaseEvent, Contact, Letter, PenaltyNotice, Setting
from casework.services.cases import fire, issue_letter, open_case
from casework.services.errors import BadInput, Blocked

from .scenarios import letters_of, to_notice_to_improve


def text_of(pdf: bytes) -> list[str]:
    return [" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def counts(session) -> tuple[int, int, int, int]:
    return tuple(session.exec(select(func.count()).select_from(model)).one()
                 for model in (Case, CaseEvent, Letter, PenaltyNotice))


def set_setting(session, key: str, value: str) -> None:
    session.add(Setting(key=key, value=value))
    session.flush()


@pytest.fixture()
def templates_copy(tmp_path, monkeypatch):
    """An authority's own copy of the templates (CASEWORK_LETTER_TEMPLATES), to change in a test."""
    copy = tmp_path / "templates"
    shutil.copytree(render.TEMPLATE_DIR, copy)
    monkeypatch.setenv(render.TEMPLATES_ENV, str(copy))
    return copy


def add_css(folder, css: str) -> None:
    path = folder / "print.css"
    path.write_text(path.read_text() + "\n" + css + "\n")


# Snapshots and reproduction ---------------------------------------------------------------------------

def test_an_issued_letter_keeps_its_inputs_and_template_set(session, world):
    outcome = open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1))
    letter = next(l for l in outcome.letters if l.contact_id == world.mother.id)
    kind, version, context = loads(letter.snapshot)
    assert (kind, version) == ("attendance_concern", letter.template_version)
    assert version == render.template_version("attendance_concern")
    assert context["recipient"]["contact_id"] == world.mother.id
    assert context["letter"]["issued_on"] == date(2026, 10, 1)  # dates keep their type through JSON
    assert context["recipient"]["address_lines"] == ["1 Mill Road", "Thetford", "IP24 1AA"]
    assert load_templates(version).version == version
    assert (letter.status, letter.postcode, letter.posted_on) == ("generated", "IP24 1AA", None)


def test_rendering_again_from_the_snapshot_reproduces_the_same_text(session, world):
    ref = open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1)).case.ref
    for letter in letters_of(session, ref):
        assert text_of(rerender(letter)) == text_of(storage.load(letter.path))


def test_the_stored_template_set_reproduces_a_letter_after_the_templates_change(session, world, templates_copy):
    ref = open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1)).case.ref
    before = letters_of(session, ref)[0]
    concern = templates_copy / "attendance_concern.html"
    concern.write_text(concern.read_text().replace("Why this matters", "Why school matters"))
    assert render.template_version("attendance_concern") != before.template_version
    assert text_of(rerender(before)) == text_of(storage.load(before.path))
    assert "Why school matters" not in " ".join(text_of(rerender(before)))

    fire(session, ref, "close", world.aeo, date(2026, 10, 2), {"outcome": "attendance_improved", "note": "ok"})
    other = open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 5)).letters[0]
    assert other.template_version == render.template_version("attendance_concern")
    assert "Why school matters" in " ".join(text_of(storage.load(other.path)))


def _penalty_notices(session, world):
    ref = to_notice_to_improve(session, world)
    outcome = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2))
    return ref, outcome


def test_a_redacted_copy_withholds_the_address_and_marks_every_page_with_the_original_hash(session, world):
    _, outcome = _penalty_notices(session, world)
    letter = next(l for l in outcome.letters if l.contact_id == world.mother.id)
    original = " ".join(text_of(storage.load(letter.path)))
    assert "1 Mill Road" in original and "IP24 1AA" in original

    pages = text_of(rerender(letter, {world.mother.id}))
    redacted = " ".join(pages)
    assert "1 Mill Road" not in redacted and "IP24 1AA" not in redacted
    assert "Address withheld (redacted copy)" in redacted
    for page in pages:
        assert "Redacted copy" in page and letter.sha256 in page.replace(" ", "")
    assert "the recipient's address and the child's address withheld" in redacted
    assert "PN-2026-" in redacted and "£80.00" in redacted  # everything else is as issued


def test_redacting_another_parents_address_withholds_the_childs_address_they_share(session, world):
    _, outcome = _penalty_notices(session, world)
    father_letter = next(l for l in outcome.letters if l.contact_id == world.father.id)
    original = " ".join(text_of(storage.load(father_letter.path)))
    redacted = " ".join(text_of(rerender(father_letter, {world.mother.id})))
    assert "the child's address withheld" in redacted
    # the factory gives the father the same address: his own stays (window and "issued to"), the child's goes
    assert (original.count("1 Mill Road"), redacted.count("1 Mill Road")) == (3, 2)


def test_a_letter_without_a_snapshot_cannot_be_rendered_again(session, world):
    letter = open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1)).letters[0]
    letter.snapshot = ""
    with pytest.raises(render.LetterError, match="before snapshots were kept"):
        rerender(letter)


# The letterhead logo ---------------------------------------------------------------------------------

def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (240, 60), (0, 80, 160)).save(out, format="PNG")
    return out.getvalue()


def test_the_authoritys_logo_is_printed_on_the_letterhead(session, world):
    _, path = storage.store(_png())
    set_setting(session, "logo", path)
    set_setting(session, "logo_type", "image/png")
    letter = open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1)).letters[0]
    _, _, context = loads(letter.snapshot)
    assert context["authority"]["logo"] == {"path": path, "media_type": "image/png"}
    first = PdfReader(io.BytesIO(storage.load(letter.path))).pages[0]
    assert first["/Resources"]["/XObject"], "the logo is an image on page 1"
    assert text_of(rerender(letter)) == text_of(storage.load(letter.path))


def test_a_logo_that_cannot_be_loaded_refuses_the_trigger_and_writes_nothing(session, world):
    set_setting(session, "logo", "ab/" + "ab" * 32 + ".png")
    set_setting(session, "logo_type", "image/png")
    before = counts(session)
    with pytest.raises(Blocked, match="logo cannot be loaded"):
        open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1))
    assert counts(session) == before


def test_a_damaged_logo_is_fatal_not_silently_left_out(session, world):
    _, path = storage.store(b"\x89PNG\r\n\x1a\n not really a png")
    set_setting(session, "logo", path)
    set_setting(session, "logo_type", "image/png")
    with pytest.raises(Blocked, match="Failed to load image"):
        open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1))


def test_a_template_may_not_read_files_or_the_network(templates_copy):
    letterhead = templates_copy / "_letterhead.html"
    letterhead.write_text(letterhead.read_text() + '<img src="file:///etc/hostname" alt="">')
    from casework.letters.samples import sample_context

    with pytest.raises(render.LetterError, match="not an image in the file store"):
        render.render_pdf("action_plan", sample_context("action_plan"))


# Preflight: recipients --------------------------------------------------------------------------------

@pytest.mark.parametrize("address, reason", [
    (("1 Mill Road", "", "Thetford", ""), "does not end with a valid UK postcode"),
    (("1 Mill Road", "", "Thetford", "IP24 1A"), "does not end with a valid UK postcode ('IP24 1A')"),
    (("No fixed abode", "", "", "IP24 1AA"), "has no fixed abode"),
    (("", "", "", "IP24 1AA"), "needs at least 3"),
])
def test_a_parent_without_a_postal_address_refuses_the_trigger_and_nothing_is_written(session, world, address,
                                                                                      reason):
    father = session.get(Contact, world.father.id)
    father.address_line1, father.address_line2, father.town, father.postcode = address
    session.add(father)
    session.flush()
    before = counts(session)
    with pytest.raises(Blocked) as refused:
        open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1))
    assert any(reason in r and "Chris Tester" in r for r in refused.value.reasons), refused.value.reasons
    assert all(r.startswith("letters cannot be issued") for r in refused.value.reasons)
    assert counts(session) == before


def test_a_pn_trigger_checks_only_the_parents_who_would_get_a_notice(session, world):
    ref = to_notice_to_improve(session, world)
    father = session.get(Contact, world.father.id)
    father.postcode = ""
    session.add(father)
    session.flush()
    with pytest.raises(Blocked, match="Chris Tester does not end with a valid UK postcode"):
        fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2))


# Preflight: layout (WeasyPrint's boxes) ---------------------------------------------------------------

def test_a_letter_over_the_page_limit_refuses_the_trigger_after_its_effects_and_writes_nothing(session, world):
    ref = to_notice_to_improve(session, world)
    set_setting(session, "letter_max_pages", "1")
    before = counts(session)
    with pytest.raises(Blocked) as refused:
        fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2))
    assert any("penalty notice letter to Sam Tester cannot be posted: it runs to 3 pages; a letter may have "
               "at most 1" in r for r in refused.value.reasons), refused.value.reasons
    assert counts(session) == before, "no PN, event or letter is left behind"
    assert session.exec(select(Case).where(Case.ref == ref)).one().state == "notice_to_improve"
    session.get(Setting, "letter_max_pages").value = "3"
    assert fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2)).case.state == "penalty_notice"


@pytest.mark.parametrize("css, reason", [
    (".address-window { top: 62mm; }", "does not fit inside the envelope window"),
    (".letterhead { top: 40mm; }", "is printed across the envelope window"),
    ("@page { margin: 4mm; }", "outside the printable area"),
    ("@page { size: letter; }", "must be A4 portrait"),
])
def test_layout_problems_refuse_the_trigger(session, world, templates_copy, css, reason):
    add_css(templates_copy, css)
    with pytest.raises(Blocked) as refused:
        open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1))
    assert any(reason in r for r in refused.value.reasons), refused.value.reasons


# Letters sent on request -------------------------------------------------------------------------------

def test_an_officer_sends_a_meeting_invitation_to_each_parent_recorded_in_the_chronology(session, world):
    ref = open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1)).case.ref
    outcome = issue_letter(session, ref, "meeting_invitation", world.aeo, date(2026, 10, 2),
                           {"meeting_on": "2026-10-08 09:30", "meeting_place": "Riverside Primary, reception"})
    assert outcome.case.state == "concern"
    assert {l.contact_id for l in outcome.letters} == {world.mother.id, world.father.id}
    assert outcome.event.trigger == "issue_letter" and outcome.event.from_state == outcome.event.to_state == "concern"
    text = " ".join(text_of(storage.load(outcome.letters[0].path)))
    assert "Thursday 8 October 2026" in text and "9:30am" in text and "Riverside Primary, reception" in text

    follow_up = issue_letter(session, ref, "meeting_not_attended", world.aeo, date(2026, 10, 9),
                             {"missed_on": "2026-10-08"})
    text = " ".join(text_of(storage.load(follow_up.letters[0].path)))
    assert "8 October 2026" in text and "will contact you to arrange another meeting" in text
    assert [e.trigger for e in session.exec(select(CaseEvent).join(Case).where(Case.ref == ref)
                                            .order_by(CaseEvent.seq))] == ["raise_concern", "issue_letter",
                                                                           "issue_letter"]


def test_letters_on_request_are_refused_where_they_make_no_sense_or_lack_details(session, world):
    ref = to_notice_to_improve(session, world)
    with pytest.raises(Blocked, match="cannot be sent on a case at Notice to improve"):
        issue_letter(session, ref, "meeting_invitation", world.aeo, date(2026, 10, 6),
                     {"meeting_on": "2026-10-08", "meeting_place": "School"})
    with pytest.raises(BadInput, match="meeting_place is required"):
        issue_letter(session, ref, "meeting_invitation", world.aeo, date(2026, 10, 6), {"meeting_on": "2026-10-08"})
    with pytest.raises(BadInput, match="not a letter sent on request"):
        issue_letter(session, ref, "penalty_notice", world.aeo, date(2026, 10, 6))
    with pytest.raises(BadInput, match="is not a date"):
        issue_letter(session, ref, "meeting_not_attended", world.aeo, date(2026, 10, 6), {"missed_on": "Tuesday"})
    with pytest.raises(Exception, match="may not send letters"):
        issue_letter(session, ref, "meeting_not_attended", world.school_user, date(2026, 10, 6),
                     {"missed_on": "2026-10-05"})
