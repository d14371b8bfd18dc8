"""The case services end to end on a real database: guards at their boundaries, PNs, letters, deadlines, tick."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from casework import clock
from casework.chronology import verify
from casework.models import Case, CaseEvent, Contact, Deadline, PenaltyNotice
from casework.services.cases import fire, open_case
from casework.services.errors import BadInput, Blocked, StaleCase
from casework.services.show import case_json
from casework.services.tick import tick

from .factories import fill_register, make_parent, make_pupil, make_school, make_user
from .scenarios import ABSENT, HALF_TERM, letters_of, to_notice_to_improve

# ---------------------------------------------------------------- raising a concern

def test_school_raises_a_concern_with_one_letter_per_parent(session, world):
    outcome = open_case(session, world.pupil.upn, world.school_user, date(2026, 10, 1))
    assert outcome.case.state == "concern"
    assert outcome.case.ref.startswith("CW-2026-")
    letters = letters_of(session, outcome.case.ref, "attendance_concern")
    recipients = {session.get(Contact, l.contact_id).forename for l in letters}
    assert recipients == {"Sam", "Chris"}, "one letter to each s.576 parent, none to the grandmother"
    deadline = session.exec(select(Deadline).where(Deadline.case_id == outcome.case.id)).one()
    assert deadline.kind == "consultation_due"
    assert deadline.due_on == date(2026, 10, 15)  # the 10th school day after 1 Oct


@pytest.mark.parametrize("lane, letters", [("pn_request", 0), ("other", 2)])
def test_a_case_opened_for_a_penalty_notice_request_writes_no_concern_letter(session, world, lane, letters):
    """The pathway's letters_unless: only lane=pn_request leaves the concern letter out; the deadline is set as ever."""
    outcome = open_case(session, world.pupil.upn, world.aeo, date(2026, 10, 1), {"lane": lane})
    assert len(letters_of(session, outcome.case.ref, "attendance_concern")) == letters
    assert len(outcome.letters) == letters
    assert session.exec(select(Deadline).where(Deadline.case_id == outcome.case.id)).one().kind == "consultation_due"


def test_school_user_of_another_school_is_refused(session, world):
    with pytest.raises(Blocked, match="not on the roll of your school"):
        open_case(session, world.pupil.upn, world.other_school_user, date(2026, 10, 1))


def test_only_one_open_case_per_pupil(session, world):
    ref = open_case(session, world.pupil.upn, world.aeo, date(2026, 10, 1)).case.ref
    with pytest.raises(Blocked, match=ref):
        open_case(session, world.pupil.upn, world.aeo, date(2026, 10, 2))


def test_unknown_pupil_and_future_date_are_bad_input(session, world):
    with pytest.raises(BadInput, match="no such pupil"):
        open_case(session, "A000000000000", world.aeo)
    with pytest.raises(BadInput, match="in the future"):
        open_case(session, world.pupil.upn, world.aeo, date(2026, 11, 24))
    with pytest.raises(BadInput, match="not a date"):
        open_case(session, world.pupil.upn, world.aeo, raw={"review_on": "31/12/2026"})


def test_refused_trigger_writes_nothing(session, world):
    ref = open_case(session, world.pupil.upn, world.aeo, date(2026, 10, 1)).case.ref
    before = session.exec(select(CaseEvent)).all()
    with pytest.raises(Blocked) as refused:
        fire(session, ref, "agree_action_plan", world.aeo, date(2026, 10, 2), {"actions": "x"})
    assert refused.value.reasons == ["review_on is required"]
    assert session.exec(select(CaseEvent)).all() == before


def test_parenting_contract_cannot_be_agreed_without_the_parent(session, world):
    ref = open_case(session, world.pupil.upn, world.aeo, date(2026, 10, 1)).case.ref
    fire(session, ref, "start_consultation", world.aeo, date(2026, 10, 1))
    data = {"requirements": "attend daily", "support": "family worker", "review_on": "2026-11-30"}
    with pytest.raises(Blocked, match="cannot be made without the parent"):
        fire(session, ref, "offer_parenting_contract", world.aeo, date(2026, 10, 2), {**data, "parent_agreed": "no"})
    assert fire(session, ref, "offer_parenting_contract", world.aeo, date(2026, 10, 2),
                {**data, "parent_agreed": "yes"}).case.state == "parenting_contract"


def test_stale_version_is_refused(session, world):
    case = open_case(session, world.pupil.upn, world.aeo, date(2026, 10, 1)).case
    version = case.version
    fire(session, case.ref, "start_consultation", world.aeo, date(2026, 10, 1), expected_version=version)
    with pytest.raises(StaleCase, match="changed since you opened it"):
        fire(session, case.ref, "close", world.aeo, date(2026, 10, 2),
             {"outcome": "no_further_action", "note": "x"}, expected_version=version)


# ---------------------------------------------------------------- notice to improve and penalty notices

def test_notice_to_improve_needs_support_first_and_the_threshold(session, world):
    ref = open_case(session, world.pupil.upn, world.aeo, date(2026, 10, 1)).case.ref
    fire(session, ref, "start_consultation", world.aeo, date(2026, 10, 1))
    with pytest.raises(Blocked, match="no support has been offered"):
        fire(session, ref, "issue_notice_to_improve", world.aeo, date(2026, 10, 5))


def test_threshold_9_sessions_refused_10_allowed(session, storage):
    school = make_school(session)
    aeo = make_user(session, "aeo").email
    results = {}
    for sessions in (9, 10):
        pupil = make_pupil(session, school)
        make_parent(session, pupil)
        days = [date(2026, 9, 14), date(2026, 9, 15), date(2026, 9, 16), date(2026, 9, 17), date(2026, 9, 18)]
        absent = {d: "O" for d in days[: sessions // 2]}
        if sessions % 2:
            absent[days[sessions // 2]] = ("O", "\\")
        fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=absent, closed=HALF_TERM)
        ref = open_case(session, pupil.upn, aeo, date(2026, 10, 1)).case.ref
        fire(session, ref, "agree_action_plan", aeo, date(2026, 10, 1), {"actions": "a", "review_on": "2026-10-30"})
        try:
            fire(session, ref, "issue_notice_to_improve", aeo, date(2026, 10, 5))
            results[sessions] = "allowed"
        except Blocked as exc:
            results[sessions] = exc.reasons[0]
    assert results[10] == "allowed"
    assert "9 unauthorised sessions" in results[9]


def test_improvement_period_skips_half_term_and_pn_day_before_vs_day_of(session, world):
    ref = to_notice_to_improve(session, world, weeks=3)
    ends = session.exec(select(Deadline).where(Deadline.kind == "improvement_period_ends")).one().due_on
    assert ends == date(2026, 11, 2), "3 school weeks from Mon 5 Oct, not counting half term"
    assert len(letters_of(session, ref, "notice_to_improve")) == 2
    with pytest.raises(Blocked, match="improvement period runs until 2 Nov 2026"):
        fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 1))
    outcome = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2))
    assert outcome.case.state == "penalty_notice"
    pns = {session.get(Contact, pn.contact_id).forename: pn for pn in outcome.penalty_notices}
    assert set(pns) == {"Sam", "Chris"}
    sam = pns["Sam"]
    assert (sam.amount_reduced, sam.amount_full) == (Decimal("80.00"), Decimal("160.00"))
    assert sam.receipt_on == date(2026, 11, 4)  # posted Monday, deemed received 2 working days later
    assert sam.reduced_until == date(2026, 11, 25) and sam.pay_by == date(2026, 12, 2)
    assert len(letters_of(session, ref, "penalty_notice")) == 2


def test_early_reason_allows_a_pn_before_the_period_ends(session, world):
    ref = to_notice_to_improve(session, world, weeks=3)
    outcome = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 10, 20),
                   {"early_reason": "parent told the officer the absences will continue"})
    assert outcome.case.state == "penalty_notice"


def _earlier_pn(session, pupil, contact, ref, issued_on, status="paid"):
    session.add(PenaltyNotice(ref=ref, pupil_id=pupil.id, contact_id=contact.id, issued_on=issued_on,
                              offence_start=issued_on.replace(day=1), offence_end=issued_on, amount_full=Decimal("160"),
                              status=status, source="import"))
    session.flush()


def test_second_pn_in_three_years_is_160_with_no_reduced_rate(session, world):
    _earlier_pn(session, world.pupil, world.father, "OLD-1", date(2024, 11, 20))
    ref = to_notice_to_improve(session, world)
    pns = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 20)).penalty_notices
    chris = next(pn for pn in pns if pn.contact_id == world.father.id)
    assert chris.amount_reduced is None and chris.amount_full == Decimal("160.00") and chris.reduced_until is None


def test_parent_with_two_pns_in_three_years_gets_none_and_a_note(session, world):
    _earlier_pn(session, world.pupil, world.father, "OLD-1", date(2024, 11, 21))
    _earlier_pn(session, world.pupil, world.father, "OLD-2", date(2025, 6, 1), status="unpaid")
    ref = to_notice_to_improve(session, world)
    outcome = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 20))
    assert [pn.contact_id for pn in outcome.penalty_notices] == [world.mother.id]
    assert any("consider prosecution or another route" in n for n in outcome.notes)


def test_pn_issued_exactly_three_years_before_no_longer_counts(session, world):
    _earlier_pn(session, world.pupil, world.father, "OLD-1", date(2023, 11, 20))
    _earlier_pn(session, world.pupil, world.father, "OLD-2", date(2025, 6, 1))
    ref = to_notice_to_improve(session, world)
    pns = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 20)).penalty_notices
    assert world.father.id in [pn.contact_id for pn in pns]


def test_withdrawn_pns_do_not_count_and_both_parents_at_limit_blocks(session, world):
    for contact in (world.mother, world.father):
        _earlier_pn(session, world.pupil, contact, f"W-{contact.id}", date(2025, 1, 10), status="withdrawn")
    ref = to_notice_to_improve(session, world)
    assert len(fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 20)).penalty_notices) == 2

    pupil2 = make_pupil(session, world.school)
    for n, contact in enumerate((make_parent(session, pupil2), make_parent(session, pupil2))):
        _earlier_pn(session, pupil2, contact, f"A-{n}", date(2025, 1, 10))
        _earlier_pn(session, pupil2, contact, f"B-{n}", date(2025, 3, 10))
    fill_register(session, pupil2, world.school, date(2026, 9, 3), date(2026, 11, 20), absent=ABSENT, closed=HALF_TERM)
    ref2 = open_case(session, pupil2.upn, world.aeo, date(2026, 10, 1)).case.ref
    with pytest.raises(Blocked) as refused:
        fire(session, ref2, "issue_penalty_notice", world.aeo, date(2026, 11, 20), {"support_inappropriate": "holiday"})
    assert len(refused.value.reasons) == 2


def test_pn_refused_for_independent_school_and_with_n_codes(session, storage):
    aeo = make_user(session, "aeo").email
    independent = make_school(session, independent=True, phase="all_through")
    pupil = make_pupil(session, independent)
    make_parent(session, pupil)
    fill_register(session, pupil, independent, date(2026, 9, 3), date(2026, 11, 20),
                  absent={**ABSENT, date(2026, 11, 5): "N"}, closed=HALF_TERM)
    ref = open_case(session, pupil.upn, aeo, date(2026, 10, 1)).case.ref
    with pytest.raises(Blocked) as refused:
        fire(session, ref, "issue_penalty_notice", aeo, date(2026, 11, 20), {"support_inappropriate": "holiday"})
    text = " ".join(refused.value.reasons)
    assert "independent" in text and "still coded N" in text


# ---------------------------------------------------------------- payments, withdrawal, tick

def _with_pns(session, w):
    ref = to_notice_to_improve(session, w)
    pns = fire(session, ref, "issue_penalty_notice", w.aeo, date(2026, 11, 2)).penalty_notices
    return ref, {session.get(Contact, pn.contact_id).forename: pn for pn in pns}


def test_payment_withdrawal_and_close(session, world):
    ref, pns = _with_pns(session, world)
    fire(session, ref, "record_payment", world.aeo, date(2026, 11, 20), {"pn": pns["Sam"].ref, "amount": "80.00"})
    assert pns["Sam"].status == "paid"
    with pytest.raises(Blocked, match=f"{pns['Chris'].ref} is issued"):
        fire(session, ref, "close", world.aeo, date(2026, 11, 20), {"outcome": "penalty_paid", "note": "paid"})
    with pytest.raises(Blocked, match="ground must be one of"):
        fire(session, ref, "withdraw_penalty_notice", world.aeo, date(2026, 11, 20),
             {"pn": pns["Chris"].ref, "ground": "sympathy"})
    fire(session, ref, "withdraw_penalty_notice", world.aeo, date(2026, 11, 20),
         {"pn": pns["Chris"].ref, "ground": "wrong_person"})
    assert pns["Chris"].status == "withdrawn"
    assert len(letters_of(session, ref, "penalty_notice_withdrawal")) == 1
    with pytest.raises(Blocked, match="has been withdrawn"):
        fire(session, ref, "record_payment", world.aeo, date(2026, 11, 20), {"pn": pns["Chris"].ref, "amount": "80"})
    assert fire(session, ref, "close", world.aeo, date(2026, 11, 20),
                {"outcome": "penalty_paid", "note": "paid"}).case.state == "closed"


def test_part_payment_does_not_discharge(session, world):
    ref, pns = _with_pns(session, world)
    outcome = fire(session, ref, "record_payment", world.aeo, date(2026, 11, 20), {"pn": pns["Sam"].ref, "amount": "40"})
    assert pns["Sam"].status == "issued"
    assert any("paid in full" in n for n in outcome.notes)


def test_withdrawing_a_paid_pn_creates_a_refund_task(session, world):
    ref, pns = _with_pns(session, world)
    fire(session, ref, "record_payment", world.aeo, date(2026, 11, 20), {"pn": pns["Sam"].ref, "amount": "80.00"})
    fire(session, ref, "withdraw_penalty_notice", world.aeo, date(2026, 11, 23),
         {"pn": pns["Sam"].ref, "ground": "material_error"})
    refund = session.exec(select(Deadline).where(Deadline.kind == "refund_due")).one()
    assert "£80.00" in refund.note


def test_tick_makes_a_pn_unpaid_the_day_after_its_payment_period(session, world):
    ref, pns = _with_pns(session, world)
    clock.freeze(date(2026, 12, 3))
    assert tick(session, date(2026, 12, 2)).unpaid == []
    assert pns["Sam"].status == "issued"
    result = tick(session, date(2026, 12, 3))
    assert sorted(result.unpaid) == sorted(pn.ref for pn in pns.values())
    assert tick(session, date(2026, 12, 3)).raised == [], "tick is idempotent"
    assert not verify(session, session.exec(select(Case).where(Case.ref == ref)).one())


# ---------------------------------------------------------------- prosecution

REFERRAL = {"section": "444(1)", "offence_start": "2026-08-31", "offence_end": "2026-11-02",
            "eso_considered": "considered; not needed", "decision": "evidence and options recorded"}


def test_referral_blocked_by_a_paid_pn_and_during_the_payment_period(session, world):
    ref, pns = _with_pns(session, world)
    clock.freeze(date(2026, 12, 2))
    with pytest.raises(Blocked, match="still within its payment period"):
        fire(session, ref, "refer_for_prosecution", world.aeo, date(2026, 12, 2), REFERRAL)
    fire(session, ref, "record_payment", world.aeo, date(2026, 12, 2), {"pn": pns["Sam"].ref, "amount": "160.00"})
    clock.freeze(date(2026, 12, 3))
    tick(session, date(2026, 12, 3))
    with pytest.raises(Blocked, match="is paid: payment discharges liability"):
        fire(session, ref, "refer_for_prosecution", world.aeo, date(2026, 12, 3), REFERRAL)


def test_referral_after_unpaid_period_sets_limitation_and_prosecutes_pns(session, world):
    ref, pns = _with_pns(session, world)
    clock.freeze(date(2026, 12, 3))
    tick(session, date(2026, 12, 3))
    outcome = fire(session, ref, "refer_for_prosecution", world.aeo, date(2026, 12, 3), REFERRAL)
    assert outcome.case.state == "prosecution"
    assert outcome.case.limitation_date == date(2027, 3, 14)  # earliest absence 14 Sep 2026 + 6 months
    assert {pn.status for pn in pns.values()} == {"prosecuted"}
    assert len(letters_of(session, ref, "prosecution_warning")) == 2
    data = case_json(session, ref, world.legal)
    assert data["limitation_date"] == "2027-03-14"
    assert "limitation_date" in [d["kind"] for d in data["deadlines"]]


def test_referral_needs_health_review_for_ehcp(session, world):
    world.pupil.sen = "ehcp"
    session.add(world.pupil)
    ref, _ = _with_pns(session, world)
    clock.freeze(date(2026, 12, 3))
    tick(session, date(2026, 12, 3))
    with pytest.raises(Blocked, match="health and s.19 review"):
        fire(session, ref, "refer_for_prosecution", world.aeo, date(2026, 12, 3), REFERRAL)


def test_referral_limitation_day_before_vs_day_of(session, world):
    ref, _ = _with_pns(session, world)
    clock.freeze(date(2027, 3, 14))
    tick(session, date(2027, 3, 13))
    with pytest.raises(Blocked, match="6 months or more"):
        fire(session, ref, "refer_for_prosecution", world.aeo, date(2027, 3, 14), REFERRAL)
    assert fire(session, ref, "refer_for_prosecution", world.aeo, date(2027, 3, 13), REFERRAL).case.state == "prosecution"


def test_laying_information_on_and_after_the_limitation_date(session, world):
    ref, _ = _with_pns(session, world)
    clock.freeze(date(2027, 3, 15))
    tick(session, date(2026, 12, 3))
    fire(session, ref, "refer_for_prosecution", world.aeo, date(2026, 12, 3), REFERRAL)
    hearing = {"court": "Norwich Magistrates' Court", "hearing_on": "2027-04-20"}
    with pytest.raises(Blocked, match="your role \\(aeo\\)"):
        fire(session, ref, "lay_information", world.aeo, date(2027, 3, 14), hearing)
    with pytest.raises(Blocked, match="limitation date \\(14 Mar 2027\\) has passed"):
        fire(session, ref, "lay_information", world.legal, date(2027, 3, 15), hearing)
    fire(session, ref, "lay_information", world.legal, date(2027, 3, 14), hearing)
    fire(session, ref, "record_interview", world.legal, date(2027, 3, 14), {"invite": "yes"})
    assert len(letters_of(session, ref, "interview_invitation")) == 2
    with pytest.raises(Blocked, match="at most 12 months"):
        fire(session, ref, "record_outcome", world.legal, date(2027, 3, 15),
             {"outcome": "convicted", "parenting_order_months": "13"})
    closed = fire(session, ref, "record_outcome", world.legal, date(2027, 3, 15),
                  {"outcome": "convicted", "fine": "120", "parenting_order_months": "12"})
    assert closed.case.state == "closed" and closed.case.outcome == "convicted"


# ---------------------------------------------------------------- show and chronology

def test_case_json_shape_and_triggers(session, world):
    ref, pns = _with_pns(session, world)
    data = case_json(session, ref, world.aeo)
    assert data["state"] == "penalty_notice" and data["pathway"] == "england-2024@1"
    assert data["upn"] == world.pupil.upn and data["school_urn"] == world.school.urn
    assert [e["trigger"] for e in data["events"]] == ["raise_concern", "start_consultation", "agree_action_plan",
                                                      "issue_notice_to_improve", "issue_penalty_notice"]
    assert data["events"][0]["recorded_at"].endswith("Z")
    pn_json = {p["contact_ref"]: p for p in data["penalty_notices"]}[world.mother.contact_ref]
    assert pn_json["amount_due"] == "80.00" and pn_json["status"] == "issued" and pn_json["payments"] == []
    assert {d["kind"] for d in data["deadlines"]} == {"pn_reduced_period_ends", "pn_payment_period_ends"}
    triggers = {t["trigger"]: t for t in data["triggers"]}
    assert set(triggers) == {"record_payment", "withdraw_penalty_notice", "refer_for_prosecution", "step_down", "close"}
    assert not triggers["close"]["allowed"] and any("is issued" in r for r in triggers["close"]["reasons"])
    assert all(len(letter["sha256"]) == 64 for letter in data["letters"])
    json.dumps(data)


def test_case_json_gives_each_notice_its_own_payments_and_only_open_deadlines(session, world):
    """The case JSON reads the case's notices, payments, deadlines and events once (for the page and the guards):
    each payment under its own notice in order, open deadlines by date, every letter's parent named."""
    ref, pns = _with_pns(session, world)
    fire(session, ref, "record_payment", world.aeo, date(2026, 11, 10), {"pn": pns["Sam"].ref, "amount": "30"})
    fire(session, ref, "record_payment", world.aeo, date(2026, 11, 12), {"pn": pns["Chris"].ref, "amount": "20"})
    fire(session, ref, "record_payment", world.aeo, date(2026, 11, 13), {"pn": pns["Sam"].ref, "amount": "50"})
    data = case_json(session, ref, world.aeo)
    by_ref = {p["ref"]: p for p in data["penalty_notices"]}
    assert by_ref[pns["Sam"].ref]["payments"] == [{"on": "2026-11-10", "amount": "30.00"},
                                                  {"on": "2026-11-13", "amount": "50.00"}]
    assert by_ref[pns["Sam"].ref]["status"] == "paid"
    assert by_ref[pns["Chris"].ref]["payments"] == [{"on": "2026-11-12", "amount": "20.00"}]
    assert [p["ref"] for p in data["penalty_notices"]] == sorted(by_ref)  # in the order they were issued
    deadlines = session.exec(select(Deadline).where(Deadline.case_id == pns["Sam"].case_id)).all()
    open_ones = sorted((d for d in deadlines if d.done_at is None), key=lambda d: (d.due_on, d.id))
    assert any(d.done_at is not None for d in deadlines)  # the paid notice's deadlines are done, and not shown
    assert [(d["kind"], d["due_on"]) for d in data["deadlines"]] == [(d.kind, d.due_on.isoformat()) for d in open_ones]
    assert {letter["contact_ref"] for letter in data["letters"]} == {world.mother.contact_ref,
                                                                     world.father.contact_ref}
    assert [e["trigger"] for e in data["events"]][-3:] == ["record_payment"] * 3


def test_tampering_with_the_chronology_is_detected(session, world):
    ref = to_notice_to_improve(session, world)
    case = session.exec(select(Case).where(Case.ref == ref)).one()
    assert verify(session, case) == []
    event = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == 2)).one()
    event.data = json.dumps({"note": "edited later"})
    session.add(event)
    session.flush()
    problems = verify(session, case)
    assert len(problems) == 1 and "event 2" in problems[0] and "altered" in problems[0]
    assert case_json(session, ref)["chronology_intact"] is False


def test_issued_letter_is_addressed_to_one_named_parent(session, world):
    from io import BytesIO

    from pypdf import PdfReader

    from casework.letters import storage

    ref = open_case(session, world.pupil.upn, world.aeo, date(2026, 10, 1)).case.ref
    letter = next(l for l in letters_of(session, ref) if l.contact_id == world.mother.id)
    assert storage.verify(letter.path, letter.sha256)
    text = PdfReader(BytesIO(storage.load(letter.path))).pages[0].extract_text()
    assert "Ms Sam Tester" in text and "Ms Ms" not in text
    assert "parents of" not in text.lower()
    assert ref in text
