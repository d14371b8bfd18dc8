"""Penalty notice requests from schools, on a real database: every code-of-conduct check on both sides of its
boundary, submission by form and CSV, the officers' decisions through the pathway's services, and the figures."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from casework import clock
from casework.models import Case, Letter, PenaltyNotice, PnRequest, PnRequestEvidence, PnRequestPupil
from casework.pn_requests import conduct as conduct_mod
from casework.pn_requests import csvfile, decide, figures, outcomes, submit
from casework.letters import storage
from casework.pn_requests.evidence import Upload, upload_problem
from casework.pn_requests.submit import Draft, EvidenceGiven
from casework.services.cases import fire, open_case
from casework.services.errors import BadInput, Blocked
from casework.services.users import get_user

from .factories import fill_register, make_parent, make_pupil, make_school, make_user
from .scenarios import HALF_TERM, HOLIDAY, holiday_siblings

HOLIDAY_START, HOLIDAY_END = date(2026, 11, 9), date(2026, 11, 13)  # Monday to Friday: 10 sessions
BACK_ON = date(2026, 11, 16)
LIMIT = date(2026, 11, 30)  # the 10th school day after the return
STATEMENTS = (EvidenceGiven("leave_request", "Mother asked by email on 1 October for a week away"),
              EvidenceGiven("leave_refusal", "Refused by letter on 2 October"),
              EvidenceGiven("warning", "The refusal warned that a penalty notice would be requested"),
              EvidenceGiven("registration_certificate", "Register extract signed by the headteacher"))


@dataclass
class Family:
    school: object
    ava: object
    ben: object
    mother: object
    father: object
    school_user: str
    aeo: str
    other_school_user: str


def register(session, pupil, school, absent=HOLIDAY):
    fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=absent, closed=HALF_TERM)


@pytest.fixture()
def family(session, storage):
    """Ava and Ben Brook at Riverside Primary, with the same mother and father, away for the week of 9 November."""
    school = make_school(session, name="Riverside Primary")
    other = make_school(session, name="Hilltop Primary")
    ava, ben, mother, father = holiday_siblings(session, school)
    return Family(school, ava, ben, mother, father, make_user(session, "school", schools=[school]).email,
                  make_user(session, "aeo").email, make_user(session, "school", schools=[other]).email)


def draft(*pupils, reason="holiday", start=HOLIDAY_START, end=HOLIDAY_END, evidence=STATEMENTS, **kw) -> Draft:
    return Draft(upns=tuple(p.upn for p in pupils), reason=reason, period_start=start, period_end=end,
                 evidence=evidence, headteacher=kw.pop("headteacher", "Pat Head"), confirmed=kw.pop("confirmed", True),
                 **kw)


def checked(session, family, d: Draft, user=None, today=None):
    user = get_user(session, user or family.school_user)
    return submit.check_drafts(session, user, family.school, [d], today)[0]


def submitted(session, family, *pupils, key="k1", replaces=None, **kw) -> PnRequest:
    return submit.submit(session, get_user(session, family.school_user), family.school, draft(*pupils, **kw), key,
                         replaces)


def conduct_check(session, family, pupil, made_on, reason="holiday", start=HOLIDAY_START, end=HOLIDAY_END):
    from casework.register import measures

    segments = measures.load_segments(session, [pupil.id])[pupil.id]
    return conduct_mod.check_pupil(conduct_mod.code_of_conduct(), reason, start, end, made_on,
                                   submit.pupil_facts(pupil, family.school, segments))


# ---------------------------------------------------------------- the code of conduct, boundary by boundary

def test_a_complete_holiday_request_passes_and_shows_the_marks(session, family):
    check = checked(session, family, draft(family.ava, family.ben))
    assert check.passes, check.all_problems
    ava = check.pupils[0]
    assert ava.qualifying_sessions == 10 and ava.returned_on == BACK_ON and ava.request_by == LIMIT
    assert [(m.day, m.am, m.pm) for m in ava.marks] == [(day, "G", "G") for day in sorted(HOLIDAY)]


def test_threshold_ten_sessions_pass_nine_fail(session, family):
    register(session, family.ava, family.school, {**HOLIDAY, HOLIDAY_END: ("G", "/")})
    nine = checked(session, family, draft(family.ava))
    assert not nine.passes
    assert any("has 9 sessions coded G in 10 school weeks" in p and "the threshold is 10" in p
               for p in nine.all_problems)
    assert checked(session, family, draft(family.ben)).passes, "ten sessions meet it"


def test_only_the_reasons_codes_count_and_other_unauthorised_codes_are_named(session, family):
    register(session, family.ava, family.school, {**HOLIDAY, HOLIDAY_END: "O"})
    check = checked(session, family, draft(family.ava))
    assert any("has 8 sessions coded G" in p for p in check.all_problems)
    assert any("sessions coded O, not G as a request for holiday in term time needs: Fri 13 Nov 2026 morning, "
               "Fri 13 Nov 2026 afternoon" in p for p in check.all_problems)
    assert checked(session, family, draft(family.ava, reason="other")).passes, "O, G and U qualify as other"


def test_a_remaining_n_code_fails_until_it_is_recoded(session, family):
    register(session, family.ava, family.school, {**HOLIDAY, HOLIDAY_START: ("N", "G")})
    check = checked(session, family, draft(family.ava))
    assert any("still coded N (reason not yet provided): Mon 9 Nov 2026 morning" in p for p in check.all_problems)
    register(session, family.ava, family.school, HOLIDAY)
    assert checked(session, family, draft(family.ava)).passes


def test_time_limit_the_day_before_the_day_of_and_the_day_after(session, family):
    assert conduct_check(session, family, family.ava, date(2026, 11, 27)).passes
    on_the_day = conduct_check(session, family, family.ava, LIMIT)
    assert on_the_day.passes and on_the_day.request_by == LIMIT
    late = conduct_check(session, family, family.ava, date(2026, 12, 1))
    assert late.problems == ("The request is too late for Ava Brook: back at school on Mon 16 Nov 2026, so it had "
                             "to reach the authority within 10 school days, by Mon 30 Nov 2026",)


def test_a_late_request_cannot_be_submitted(session, family):
    clock.freeze(date(2026, 12, 1))
    with pytest.raises(Blocked, match="too late for Ava Brook"):
        submitted(session, family, family.ava)
    assert session.exec(select(PnRequest)).all() == []


def test_missing_evidence_is_named_and_no_leave_request_is_an_alternative(session, family):
    without_warning = tuple(e for e in STATEMENTS if e.kind != "warning")
    check = checked(session, family, draft(family.ava, evidence=without_warning))
    assert check.problems == ["Evidence missing: the warning the school gave the parents"]
    only_request = tuple(e for e in STATEMENTS if e.kind != "leave_refusal")
    assert any(p.startswith("Evidence missing: the parents' request for leave")
               for p in checked(session, family, draft(family.ava, evidence=only_request)).problems)
    no_request = (EvidenceGiven("no_leave_request", "No request was made; the family told the class teacher"),
                  *(e for e in STATEMENTS if e.kind in ("warning", "registration_certificate")))
    assert checked(session, family, draft(family.ava, evidence=no_request)).passes
    late_needs_no_leave = tuple(e for e in STATEMENTS if e.kind in ("warning", "registration_certificate"))
    assert conduct_mod.evidence_problems(conduct_mod.code_of_conduct(), "late",
                                         {e.kind for e in late_needs_no_leave}) == []


def test_compulsory_school_age_independent_school_and_confirmation(session, family):
    young = make_pupil(session, family.school, forename="Cara", surname="Brook", dob=date(2022, 1, 10))
    register(session, young, family.school)
    check = checked(session, family, draft(young, headteacher=" ", confirmed=False))
    assert any(p.startswith("Cara Brook: the pupil is of compulsory school age only from") for p in check.all_problems)
    assert "Give the name of the headteacher confirming the request" in check.problems
    assert "The headteacher must confirm the request" in check.problems
    family.school.independent = True
    session.add(family.school)
    session.flush()
    assert any("is an independent school" in p for p in checked(session, family, draft(family.ava)).all_problems)


def test_pupils_of_another_school_are_not_found_and_their_existence_not_told(session, family):
    check = checked(session, family, draft(family.ava), user=family.other_school_user)
    assert check.problems[0] == f"There is no pupil with UPN {family.ava.upn} on the roll of Riverside Primary"


def test_the_code_of_conduct_is_the_authoritys_file(tmp_path, monkeypatch):
    text = conduct_mod.CONDUCT_FILE.read_text().replace("time_limit_school_days: 10", "time_limit_school_days: 15")
    own = tmp_path / "conduct.yaml"
    own.write_text(text)
    monkeypatch.setenv(conduct_mod.CONDUCT_ENV, str(own))
    assert conduct_mod.code_of_conduct().time_limit_school_days == 15
    own.write_text(text.replace("threshold_sessions: 10", "threshold_sessions: 9"))
    with pytest.raises(conduct_mod.ConductError, match="below the national 10"):
        conduct_mod.code_of_conduct()
    own.write_text(text.replace("codes: [G]", "codes: [G, N]"))
    with pytest.raises(conduct_mod.ConductError, match="codes must be among G, O, U"):
        conduct_mod.code_of_conduct()


# ---------------------------------------------------------------- submitting

def test_submitting_twice_with_the_same_key_makes_one_request(session, family):
    first = submitted(session, family, family.ava, family.ben)
    assert first.ref.startswith("PR-2026-") and first.status == "submitted"
    assert submitted(session, family, family.ava, family.ben).id == first.id
    assert len(session.exec(select(PnRequestPupil).where(PnRequestPupil.request_id == first.id)).all()) == 2
    with pytest.raises(Blocked, match=rf"Ava Brook is already in request {first.ref} \(submitted\)"):
        submitted(session, family, family.ava, key="k2")


def test_evidence_files_are_judged_by_content_and_size(session, family):
    pdf = _pdf_bytes()
    assert upload_problem(Upload("refusal.pdf", pdf), 5_000_000, "Refusal") is None
    assert upload_problem(Upload("logo.png", _png_bytes()), 5_000_000, "Refusal") is None
    assert upload_problem(Upload("refusal.pdf", b"%PDF-1.4 not really"), 5_000_000, "Refusal") == \
        "Refusal: refusal.pdf must be a PDF, PNG or JPEG file"
    assert upload_problem(Upload("notes.pdf", b"hello"), 5_000_000, "Refusal").endswith("must be a PDF, PNG or JPEG file")
    assert upload_problem(Upload("big.pdf", pdf), len(pdf) - 1, "Refusal") == "Refusal: big.pdf is larger than 0 MB"
    evidence = (*STATEMENTS[:1], EvidenceGiven("leave_refusal", upload=Upload("C:\\letters\\refusal.pdf", pdf)),
                *STATEMENTS[2:])
    request = submitted(session, family, family.ava, evidence=evidence)
    stored = session.exec(select(PnRequestEvidence).where(PnRequestEvidence.request_id == request.id,
                                                          PnRequestEvidence.kind == "leave_refusal")).one()
    assert (stored.filename, stored.media_type, stored.size) == ("refusal.pdf", "application/pdf", len(pdf))
    bad = (*STATEMENTS[:1], EvidenceGiven("leave_refusal", upload=Upload("x.pdf", b"GIF89a")), *STATEMENTS[2:])
    with pytest.raises(Blocked, match="x.pdf must be a PDF, PNG or JPEG file"):
        submitted(session, family, family.ben, evidence=bad, key="k2")


def _pdf_bytes() -> bytes:
    from pypdf import PdfWriter

    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.write(out)
    return out.getvalue()


def _png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, "PNG")
    return out.getvalue()


def _csv(*rows) -> str:
    conduct = conduct_mod.code_of_conduct()
    header = ",".join(csvfile.columns(conduct))
    lines = [header]
    for label, pupil, extra in rows:
        statements = {e.kind: e.statement for e in STATEMENTS} if extra else {}
        lines.append(",".join([label, pupil.upn, "holiday" if extra else "", "2026-11-09" if extra else "",
                               "13/11/2026" if extra else "",
                               *[statements.get(kind, "") for kind in conduct.evidence], ""]))
    return "\n".join(lines) + "\n"


def test_a_csv_file_makes_one_request_per_family_all_or_nothing(session, family):
    other = make_pupil(session, family.school, forename="Dan", surname="Cole")
    make_parent(session, other, forename="Jo", surname="Cole")
    register(session, other, family.school)
    user = get_user(session, family.school_user)
    conduct = conduct_mod.code_of_conduct()
    text = _csv(("Brook", family.ava, True), ("Brook", family.ben, False), ("", other, True))
    drafts = csvfile.parse(text, conduct, "Pat Head", True)
    assert [label for label, _ in drafts] == ["Request Brook (lines 2, 3)", "Line 4"]
    made = submit.submit_many(session, user, family.school, drafts, "upload-1")
    assert [len(session.exec(select(PnRequestPupil).where(PnRequestPupil.request_id == r.id)).all())
            for r in made] == [2, 1]
    assert [r.id for r in submit.submit_many(session, user, family.school, drafts, "upload-1")] == [r.id for r in made]


def test_a_csv_file_with_a_bad_line_writes_nothing_and_names_every_line(session, family):
    conduct = conduct_mod.code_of_conduct()
    text = _csv(("Brook", family.ava, True), ("Brook", family.ben, True)).replace(
        f"{family.ben.upn},holiday,2026-11-09", f"{family.ben.upn},late,2026-11-09")
    with pytest.raises(Blocked) as refused:
        csvfile.parse(text + "x,,holiday,9 Nov,,,,,,,\n", conduct, "Pat Head", True)
    assert "Line 3: reason differs from line 2 of request Brook; leave it blank or repeat it exactly" in refused.value.reasons
    assert "Line 4: upn is empty" in refused.value.reasons
    assert any(r.startswith("Line 4: first_day '9 Nov' is not a date") for r in refused.value.reasons)
    with pytest.raises(Blocked, match="Line 1: the header must be"):
        csvfile.parse("upn,reason\nX,holiday\n", conduct, "Pat Head", True)
    register(session, family.ben, family.school, {**HOLIDAY, HOLIDAY_START: "N"})
    drafts = csvfile.parse(_csv(("", family.ava, True), ("", family.ben, True)), conduct, "Pat Head", True)
    with pytest.raises(Blocked) as refused:
        submit.submit_many(session, get_user(session, family.school_user), family.school, drafts, "upload-2")
    assert any(r.startswith("Line 3: Ben Brook has sessions still coded N") for r in refused.value.reasons)
    assert session.exec(select(PnRequest)).all() == [], "the good line is not submitted either"


# ---------------------------------------------------------------- deciding

def test_siblings_with_two_parents_get_four_notices_and_letters(session, family):
    request = submitted(session, family, family.ava, family.ben)
    review = decide.review(session, request.ref, family.aeo)
    assert review.acceptable and [child.notices for child in review.children] == [2, 2]
    result = decide.accept(session, request.ref, family.aeo)
    assert request.status == "accepted" and request.decided_by == family.aeo
    notices = result.notices
    assert len(notices) == 4
    assert {(pn.pupil_id, pn.contact_id) for pn in notices} == {
        (p.id, c.id) for p in (family.ava, family.ben) for c in (family.mother, family.father)}
    assert {(pn.reason, pn.amount_reduced, pn.amount_full, pn.offence_start, pn.offence_end) for pn in notices} == {
        ("holiday", Decimal("80.00"), Decimal("160.00"), HOLIDAY_START, HOLIDAY_END)}
    assert sorted(letter.kind for letter in result.letters) == ["penalty_notice"] * 4
    cases = session.exec(select(Case).where(Case.pupil_id.in_([family.ava.id, family.ben.id]))).all()
    assert [c.state for c in cases] == ["penalty_notice", "penalty_notice"]
    view = outcomes.school_view(session, get_user(session, family.school_user), request.ref)
    assert view.notice_counts() == {"issued": 4}
    again = decide.accept(session, request.ref, family.aeo)
    assert again.already and len(session.exec(select(PenaltyNotice)).all()) == 4, "posting twice issues nothing more"


def test_a_parent_at_the_limit_is_routed_to_consider_prosecution_and_the_school_is_told(session, family):
    for issued_on in (date(2024, 3, 1), date(2025, 6, 1)):
        _old_notice(session, family.ava, family.mother, issued_on)
    request = submitted(session, family, family.ava, family.ben)
    review = decide.review(session, request.ref, family.aeo)
    ava = review.children[0]
    assert sorted((p.name, p.at_limit, p.refusal is None) for p in ava.parents) == [
        ("Mr Chris Brook", False, True), ("Ms Sam Brook", True, False)]
    assert review.acceptable and [child.notices for child in review.children] == [1, 2]
    result = decide.accept(session, request.ref, family.aeo)
    assert len(result.notices) == 3, "the mother gets none for Ava, both parents get one for Ben"
    assert any("consider prosecution" in note for note in result.consider_prosecution)
    row = session.exec(select(PnRequestPupil).where(PnRequestPupil.request_id == request.id,
                                                    PnRequestPupil.pupil_id == family.ava.id)).one()
    assert row.consider_prosecution and any("already has 2 penalty notices" in n for n in json.loads(row.notes))
    view = outcomes.school_view(session, get_user(session, family.school_user), request.ref)
    assert [child.consider_prosecution for child in view.children] == [True, False]


def test_the_limit_counts_the_three_years_ending_on_the_issue_date(session, family):
    oldest = _old_notice(session, family.ava, family.mother, date(2023, 11, 23))  # 3 years before today: outside
    _old_notice(session, family.ava, family.mother, date(2025, 6, 1))
    request = submitted(session, family, family.ava)
    plan = decide.review(session, request.ref, family.aeo).children[0]
    mother = next(p for p in plan.parents if "Sam" in p.name)
    assert mother.refusal is None and mother.amount_reduced is None and mother.amount_full == Decimal("160.00"), \
        "a second notice in 3 years: £160, no reduced rate"
    oldest.issued_on = date(2023, 11, 24)  # the first day of the 3 years ending today: at the limit
    session.add(oldest)
    session.flush()
    plan = decide.review(session, request.ref, family.aeo).children[0]
    mother = next(p for p in plan.parents if "Sam" in p.name)
    assert mother.at_limit and "consider prosecution" in mother.refusal


def test_every_parent_at_the_limit_means_no_notice_but_a_case_to_consider_prosecution(session, family):
    for parent in (family.mother, family.father):
        for issued_on in (date(2024, 3, 1), date(2025, 6, 1)):
            _old_notice(session, family.ava, parent, issued_on)
    request = submitted(session, family, family.ava)
    result = decide.accept(session, request.ref, family.aeo)
    assert result.notices == [] and request.status == "accepted" and len(result.consider_prosecution) == 2
    case = session.exec(select(Case).where(Case.pupil_id == family.ava.id)).one()
    assert case.state == "concern"


def _old_notice(session, pupil, contact, issued_on):
    session.add(PenaltyNotice(ref=f"OLD-{pupil.id}-{contact.id}-{issued_on:%Y%m%d}", pupil_id=pupil.id,
                              contact_id=contact.id, issued_on=issued_on, offence_start=issued_on,
                              offence_end=issued_on, reason="holiday", amount_full=Decimal("160.00"), status="paid",
                              source="import"))
    session.flush()
    return session.exec(select(PenaltyNotice).where(PenaltyNotice.contact_id == contact.id,
                                                    PenaltyNotice.issued_on == issued_on)).one()


def test_return_and_refuse_record_the_reason_and_cannot_be_undone_by_accepting(session, family):
    returned = submitted(session, family, family.ava)
    with pytest.raises(BadInput, match="Give the reason"):
        decide.send_back(session, returned.ref, family.aeo, "returned", "  ")
    decide.send_back(session, returned.ref, family.aeo, "returned", "Attach the signed registration certificate")
    assert (returned.status, returned.decision_reason) == ("returned", "Attach the signed registration certificate")
    assert decide.send_back(session, returned.ref, family.aeo, "returned", "again").decision_reason.startswith(
        "Attach"), "a repeated post changes nothing"
    with pytest.raises(Blocked, match=f"Request {returned.ref} was already returned"):
        decide.accept(session, returned.ref, family.aeo)
    corrected = submitted(session, family, family.ava, key="k2", replaces=returned)
    assert corrected.replaces_id == returned.id and corrected.status == "submitted"
    decide.send_back(session, corrected.ref, family.aeo, "refused", "The family had leave for a funeral")
    assert corrected.status == "refused"
    with pytest.raises(Blocked, match="already refused"):
        decide.send_back(session, corrected.ref, family.aeo, "returned", "x")
    assert session.exec(select(PenaltyNotice)).all() == [] and session.exec(select(Case)).all() == []


def test_only_officers_decide(session, family):
    from casework.services.errors import PermissionDenied

    request = submitted(session, family, family.ava)
    with pytest.raises(PermissionDenied):
        decide.accept(session, request.ref, family.school_user)


def test_an_open_case_takes_the_notices_early_in_the_pathway_and_holds_the_request_later(session, family):
    concern = open_case(session, family.ava.upn, family.aeo, date(2026, 10, 1)).case
    request = submitted(session, family, family.ava)
    decide.accept(session, request.ref, family.aeo)
    assert session.exec(select(Case).where(Case.pupil_id == family.ava.id)).all() == [concern]
    assert concern.state == "penalty_notice"
    ben_case = open_case(session, family.ben.upn, family.aeo, date(2026, 10, 1)).case
    fire(session, ben_case.ref, "start_consultation", family.aeo, date(2026, 10, 1))
    fire(session, ben_case.ref, "agree_action_plan", family.aeo, date(2026, 10, 2),
         {"actions": "Morning check-in", "review_on": "2026-10-30"})
    fire(session, ben_case.ref, "offer_parenting_contract", family.aeo, date(2026, 10, 5),
         {"requirements": "Attend daily", "support": "Breakfast club", "review_on": "2026-12-01",
          "parent_agreed": "yes"})
    held = submitted(session, family, family.ben, key="k2")
    assert any(f"has an open case {ben_case.ref} at Attendance contract" in p
               for p in decide.review(session, held.ref, family.aeo).problems)
    with pytest.raises(Blocked, match="deal with it on that case first"):
        decide.accept(session, held.ref, family.aeo)


def test_bulk_accept_skips_a_request_that_no_longer_passes(session, family):
    good = submitted(session, family, family.ava)
    spoiled = submitted(session, family, family.ben, key="k2")
    register(session, family.ben, family.school, {**HOLIDAY, HOLIDAY_START: "N"})
    assert decide.passing_refs(session) == [good.ref]
    result = decide.accept_many(session, [good.ref, spoiled.ref], family.aeo)
    assert [a.request.ref for a in result.accepted] == [good.ref] and result.notices == 2
    assert result.skipped[0][0] == spoiled.ref and any("still coded N" in r for r in result.skipped[0][1])
    assert spoiled.status == "submitted"
    page = decide.queue(session, get_user(session, family.aeo))
    assert [(row.request.ref, row.check.passes) for row in page.rows] == [(spoiled.ref, False)]


def test_bulk_accept_renders_every_letter_and_stores_it(session, family):
    requests = [submitted(session, family, family.ava), submitted(session, family, family.ben, key="k2")]
    before = len(session.exec(select(Letter)).all())
    result = decide.accept_many(session, [r.ref for r in requests], family.aeo)
    assert [a.request.ref for a in result.accepted] == [r.ref for r in requests] and result.notices == 4
    letters = session.exec(select(Letter).order_by(Letter.id)).all()[before:]
    assert [letter.kind for letter in letters] == ["penalty_notice"] * 4, "one letter per parent per child"
    for letter in letters:
        assert letter.pages >= 1 and storage.verify(letter.path, letter.sha256), letter.kind
        assert storage.load(letter.path).startswith(b"%PDF-")


def test_a_letter_failing_preflight_in_a_bulk_accept_skips_only_its_request(session, family):
    """The chunk's letters are rendered together; when one fails, the chunk is accepted again request by request."""
    cal = make_pupil(session, family.school, forename="Cal", surname="Reed")
    mother = make_parent(session, cal, forename="Jo", surname="Reed", relationship="mother")
    mother.address_line1 = "Flat 3, " + "The Old Mill House at the End of the Very Long Lane, " * 6 + "Mill Road"
    session.add(mother)
    register(session, cal, family.school)
    good, bad = submitted(session, family, family.ava), submitted(session, family, cal, key="k2")
    before = len(session.exec(select(Letter)).all())
    result = decide.accept_many(session, [good.ref, bad.ref], family.aeo)
    assert [a.request.ref for a in result.accepted] == [good.ref]
    [(ref, reasons)] = result.skipped
    assert ref == bad.ref and any("letter to Jo Reed cannot be posted" in r for r in reasons), reasons
    assert bad.status == "submitted" and good.status == "accepted"
    letters = session.exec(select(Letter)).all()[before:]
    assert len(letters) == 2 and all(letter.sha256 and letter.pages for letter in letters), "no letter half-made"
    assert not session.exec(select(Case).where(Case.pupil_id == cal.id)).all(), "no case opened for Cal"


# ---------------------------------------------------------------- what the school sees, and the figures

def test_the_school_sees_only_its_own_requests(session, family):
    request = submitted(session, family, family.ava)
    own = outcomes.school_requests(session, get_user(session, family.school_user))
    assert [row.request.ref for row in own.rows] == [request.ref] and own.counts == {"submitted": 1}
    assert outcomes.school_requests(session, get_user(session, family.other_school_user)).rows == []
    from casework.services.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        outcomes.school_view(session, get_user(session, family.other_school_user), request.ref)


def test_request_figures_per_school_and_month(session, family):
    clock.freeze(date(2026, 11, 20))
    returned = submitted(session, family, family.ava)
    clock.freeze(date(2026, 11, 23))
    decide.send_back(session, returned.ref, family.aeo, "returned", "Add the warning")
    submitted(session, family, family.ben, key="k2")
    report = figures.request_figures(session, 2026)
    assert (report.total.received, report.total.returned, report.total.waiting) == (2, 1, 1)
    assert report.total.median_days == 3.0
    assert [(m.label, m.received) for m in report.by_month] == [("November 2026", 2)]
    assert [s.label for s in report.by_school] == [f"Riverside Primary ({family.school.urn})"]


def test_the_prm_return_counts_notices_by_reason_and_where_they_stand(session, family):
    holiday = submitted(session, family, family.ava, family.ben)
    late = make_pupil(session, family.school, forename="Eli", surname="Dunn")
    make_parent(session, late, forename="Kim", surname="Dunn")
    register(session, late, family.school, {date(2026, 11, d): ("U", "/") for d in range(2, 14)} | {
        date(2026, 11, d): ("/", "U") for d in range(9, 14)})
    late_request = submitted(session, family, late, reason="late", start=date(2026, 11, 2), end=date(2026, 11, 13),
                             key="k2", evidence=STATEMENTS[2:])
    clock.freeze(date(2026, 11, 24))
    notices = decide.accept(session, holiday.ref, family.aeo).notices + \
        decide.accept(session, late_request.ref, family.aeo).notices
    ava_mother, ava_father, ben_mother, _ = sorted(
        (pn for pn in notices if pn.reason == "holiday"), key=lambda pn: (pn.pupil_id, pn.contact_id))
    case_ref = session.get(Case, ava_mother.case_id).ref
    ben_case = session.get(Case, ben_mother.case_id).ref
    clock.freeze(date(2026, 12, 16))  # receipt 26 Nov: day 20
    fire(session, case_ref, "record_payment", family.aeo, None, {"pn": ava_mother.ref, "amount": "80"})
    clock.freeze(date(2026, 12, 20))  # day 24: the full amount
    fire(session, case_ref, "record_payment", family.aeo, None, {"pn": ava_father.ref, "amount": "160"})
    fire(session, ben_case, "withdraw_penalty_notice", family.aeo, None,
         {"pn": ben_mother.ref, "ground": "wrong_person"})
    rows = {row.reason: row for row in figures.prm_return(session, 2026)}
    assert [(r, rows[r].issued, rows[r].paid_21, rows[r].paid_28, rows[r].withdrawn, rows[r].unresolved)
            for r in ("holiday", "late", "other", "total")] == [
        ("holiday", 4, 1, 1, 1, 1), ("late", 1, 0, 0, 0, 1), ("other", 0, 0, 0, 0, 0), ("total", 5, 1, 1, 1, 2)]
    text = figures.prm_csv(2026, list(rows.values()))
    assert text.splitlines()[0] == ",".join(figures.CSV_HEADER)
    assert "2026/27,holiday,4,1,1,1,0,1" in text.splitlines()


def test_letters_of_an_accepted_request_are_on_its_cases(session, family):
    request = submitted(session, family, family.ava)
    decide.accept(session, request.ref, family.aeo)
    issued = decide.issued_notices(session, [request.id])[request.id]
    assert len(issued) == 2 and all(len(i.letters) == 1 and i.letters[0].kind == "penalty_notice" for i in issued)
    assert session.exec(select(Letter).where(Letter.kind != "penalty_notice")).all() == [], \
        "one letter per parent per child: the case opened for the request writes no concern letter"
    case = session.exec(select(Case).where(Case.pupil_id == family.ava.id)).one()
    assert case.state == "penalty_notice"


# ---------------------------------------------------------------- the command line

def test_the_command_line_imports_accepts_and_exports_the_return(tmp_path, monkeypatch, capsys):
    """`casework requests import / accept / prm` on a database of their own, as an authority would script them."""
    from casework.cli import main
    from casework.db import get_engine, upgrade
    from sqlmodel import Session

    from .conftest import fresh_database

    with fresh_database(tmp_path) as url:
        upgrade(url)
        monkeypatch.setenv("CASEWORK_DATABASE_URL", url)
        monkeypatch.setenv("CASEWORK_STORAGE", str(tmp_path / "files"))
        with Session(get_engine(url), expire_on_commit=False) as session:
            school = make_school(session, name="Riverside Primary")
            pupil = make_pupil(session, school, forename="Ava", surname="Brook")
            make_parent(session, pupil, forename="Sam", surname="Brook")
            register(session, pupil, school)
            users = {role: make_user(session, role, schools=[school] if role == "school" else []).email
                     for role in ("school", "aeo", "manager")}
            session.commit()
        path = tmp_path / "requests.csv"
        path.write_text(_csv(("", pupil, True)))
        assert main(["requests", "import", str(path), "--school", school.urn, "--as", users["school"],
                     "--headteacher", "Pat Head", "--confirm"]) == 0
        ref = capsys.readouterr().out.strip()
        assert ref.startswith("PR-2026-")
        assert main(["requests", "import", str(path), "--school", school.urn, "--as", users["school"],
                     "--headteacher", "Pat Head", "--confirm"]) == 0, "the same file again submits nothing more"
        assert capsys.readouterr().out.strip() == ref
        assert main(["requests", "accept", "--as", users["aeo"]]) == 0
        assert capsys.readouterr().out.startswith(f"{ref} accepted: PN-2026-")
        assert main(["requests", "prm", "--year", "2026", "--as", users["aeo"]]) == 1
        assert main(["requests", "prm", "--year", "2026", "--as", users["manager"]]) == 0
        assert "2026/27,holiday,1,0,0,0,0,1" in capsys.readouterr().out.splitlines()
        get_engine(url).dispose()
