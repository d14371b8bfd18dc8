"""Every guard of pathway.md on both sides of its boundary, at the level of pure facts."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

import workflows
from workflows import Facts, ParentFacts, PenaltyNoticeFacts, Threshold
from workflows.guards import GUARDS

PATHWAY = workflows.load()
ON = date(2026, 11, 23)
BASE = Facts(on=ON, actor_role="aeo", settings=PATHWAY.guard_settings())


def reasons(name, facts=BASE, **data):
    return GUARDS[name](facts, data)


def pn(ref="PN-1", status="issued", start=date(2026, 9, 7), end=date(2026, 11, 13), pay_by=ON, paid="0.00", on_case=True):
    return PenaltyNoticeFacts(ref, "P1", status, start, end, pay_by, on_case, Decimal(paid))


def test_school_user_must_have_the_pupil_on_roll():
    assert reasons("actor_school_has_pupil", replace(BASE, actor_role="school", actor_school_has_pupil=False))
    assert not reasons("actor_school_has_pupil", replace(BASE, actor_role="school", actor_school_has_pupil=True))
    assert not reasons("actor_school_has_pupil", replace(BASE, actor_role="aeo", actor_school_has_pupil=False))


def test_no_other_open_case():
    assert "CW-2026-00001" in reasons("no_other_open_case", replace(BASE, other_open_case_refs=("CW-2026-00001",)))[0]
    assert not reasons("no_other_open_case")


def test_review_date_the_day_of_is_refused_the_day_after_allowed():
    assert reasons("review_date_in_future", review_on=ON)
    assert not reasons("review_date_in_future", review_on=ON + timedelta(days=1))


def test_contract_needs_the_parents_agreement():
    assert reasons("parent_agreed", parent_agreed="no")
    assert not reasons("parent_agreed", parent_agreed="yes")


@pytest.mark.parametrize("weeks,ok", [(2, False), (3, True), (6, True), (7, False)])
def test_improvement_period_three_to_six_weeks(weeks, ok):
    assert (not reasons("improvement_weeks_in_range", improvement_weeks=weeks)) is ok


@pytest.mark.parametrize("count,ok", [(9, False), (10, True)])
def test_threshold_now_9_vs_10(count, ok):
    facts = replace(BASE, threshold_now=Threshold(count >= 10, date(2026, 9, 14), date(2026, 11, 22), count))
    assert (not reasons("pn_threshold_met", facts)) is ok


@pytest.mark.parametrize("count,ok", [(9, False), (10, True)])
def test_threshold_in_offence_period_9_vs_10(count, ok):
    facts = replace(BASE, offence_start=date(2026, 9, 7), offence_end=date(2026, 11, 13),
                    offence_threshold=Threshold(count >= 10, date(2026, 9, 7), date(2026, 11, 15), count))
    assert (not reasons("pn_threshold_met_in_offence_period", facts)) is ok


def test_support_must_have_been_offered():
    assert reasons("support_offered", replace(BASE, history_triggers=("raise_concern", "start_consultation")))
    assert not reasons("support_offered", replace(BASE, history_triggers=("raise_concern", "agree_action_plan")))
    assert not reasons("support_offered", replace(BASE, history_triggers=("offer_parenting_contract",)))


def test_offence_period_shape():
    assert reasons("offence_period_valid")
    assert reasons("offence_period_valid", replace(BASE, offence_start=ON, offence_end=ON - timedelta(days=1)))
    assert reasons("offence_period_valid", replace(BASE, offence_start=ON, offence_end=ON + timedelta(days=1)))
    assert not reasons("offence_period_valid", replace(BASE, offence_start=ON - timedelta(days=1), offence_end=ON))


def test_n_codes_in_the_offence_period_block():
    assert reasons("no_n_codes_in_offence_period", replace(BASE, n_codes_in_offence_period=((date(2026, 11, 2), "AM"),)))
    assert not reasons("no_n_codes_in_offence_period")


def test_compulsory_school_age_and_independent_school():
    assert reasons("compulsory_school_age_throughout", replace(BASE, compulsory_school_age_problem="not of CSA"))
    assert not reasons("compulsory_school_age_throughout")
    assert reasons("school_not_independent", replace(BASE, school_independent=True))
    assert not reasons("school_not_independent")


def test_improvement_period_day_before_end_refused_day_of_end_allowed():
    assert reasons("improvement_period_ended_or_early_reason", replace(BASE, improvement_period_ends=ON + timedelta(days=1)))
    assert not reasons("improvement_period_ended_or_early_reason", replace(BASE, improvement_period_ends=ON))
    assert not reasons("improvement_period_ended_or_early_reason",
                       replace(BASE, improvement_period_ends=ON + timedelta(days=1)), early_reason="no engagement")


@pytest.mark.parametrize("earlier,ok", [(0, True), (1, True), (2, False)])
def test_two_in_three_years_per_parent(earlier, ok):
    facts = replace(BASE, parents=(ParentFacts("P1", "Mrs A", earlier),))
    assert (not reasons("some_parent_eligible_for_pn", facts)) is ok


def test_one_parent_at_the_limit_does_not_block_the_other():
    facts = replace(BASE, parents=(ParentFacts("P1", "Mrs A", 2), ParentFacts("P2", "Mr B", 0)))
    assert not reasons("some_parent_eligible_for_pn", facts)


def test_overlapping_pn_for_the_same_parent_blocks_that_parent():
    facts = replace(BASE, parents=(ParentFacts("P1", "Mrs A", 0, ("PN-2026-00001",)),))
    assert "overlapping" in reasons("some_parent_eligible_for_pn", facts)[0]


def test_no_parent_on_record():
    assert reasons("some_parent_eligible_for_pn")


def test_payment_and_withdrawal_need_a_live_pn_of_this_case():
    facts = replace(BASE, penalty_notices=(pn("PN-1"), pn("PN-2", status="withdrawn"), pn("PN-3", on_case=False)))
    assert not reasons("pn_on_case_and_not_withdrawn", facts, pn="PN-1")
    assert "withdrawn" in reasons("pn_on_case_and_not_withdrawn", facts, pn="PN-2")[0]
    assert "does not belong" in reasons("pn_on_case_and_not_withdrawn", facts, pn="PN-3")[0]
    assert reasons("amount_positive", amount=Decimal("0.00"))
    assert not reasons("amount_positive", amount=Decimal("0.01"))


@pytest.mark.parametrize("guard,key,good,bad", [
    ("withdrawal_ground_valid", "ground", "wrong_person", "changed_mind"),
    ("section_valid", "section", "444(1A)", "444(2)"),
    ("court_outcome_valid", "outcome", "convicted", "fined"),
    ("close_outcome_valid", "outcome", "attendance_improved", "bored"),
])
def test_choices(guard, key, good, bad):
    assert not reasons(guard, **{key: good})
    assert reasons(guard, **{key: bad})


def test_paid_vs_unpaid_pn_over_the_offence_period():
    period = dict(offence_start=date(2026, 9, 1), offence_end=date(2026, 10, 31))
    paid = replace(BASE, **period, penalty_notices=(pn(status="paid", paid="80.00"),))
    unpaid = replace(BASE, **period, penalty_notices=(pn(status="unpaid", pay_by=ON - timedelta(days=1)),))
    assert "discharges" in reasons("no_paid_pn_covers_offence_period", paid)[0]
    assert not reasons("no_paid_pn_covers_offence_period", unpaid)
    late = replace(BASE, **period, penalty_notices=(pn(status="unpaid", paid="160.00"),))
    assert "reconcile" in reasons("no_paid_pn_covers_offence_period", late)[0]
    elsewhere = replace(BASE, offence_start=date(2026, 11, 14), offence_end=date(2026, 11, 20),
                        penalty_notices=(pn(status="paid", paid="80.00"),))
    assert not reasons("no_paid_pn_covers_offence_period", elsewhere)


def test_relied_pn_must_be_past_its_payment_period_day_of_vs_day_after():
    period = dict(offence_start=date(2026, 9, 1), offence_end=date(2026, 10, 31))
    assert reasons("relied_pns_past_payment_period", replace(BASE, **period, penalty_notices=(pn(pay_by=ON),)))
    assert not reasons("relied_pns_past_payment_period",
                       replace(BASE, **period, penalty_notices=(pn(pay_by=ON - timedelta(days=1)),)))


def test_health_review_needed_for_ehcp_or_health_flag():
    assert reasons("health_review_given_where_needed", replace(BASE, pupil_needs_health_review=True))
    assert not reasons("health_review_given_where_needed", replace(BASE, pupil_needs_health_review=True),
                       health_review="reviewed with SEND team")
    assert not reasons("health_review_given_where_needed")


def test_limitation_for_referral_day_before_vs_day_of():
    earliest = date(2026, 5, 23)
    assert not reasons("within_limitation", replace(BASE, earliest_absence_in_offence_period=earliest,
                                                    limitation_date=ON + timedelta(days=1)))
    assert reasons("within_limitation", replace(BASE, earliest_absence_in_offence_period=earliest, limitation_date=ON))


def test_laying_information_on_the_limitation_date_allowed_day_after_refused():
    assert not reasons("limitation_not_passed", replace(BASE, limitation_date=ON))
    assert reasons("limitation_not_passed", replace(BASE, limitation_date=ON - timedelta(days=1)))


def test_hearing_date_not_before_laying():
    assert reasons("hearing_after_laying", hearing_on=ON - timedelta(days=1))
    assert not reasons("hearing_after_laying", hearing_on=ON)


@pytest.mark.parametrize("months,outcome,ok", [(12, "convicted", True), (13, "convicted", False),
                                                (6, "acquitted", False), (None, "acquitted", True)])
def test_parenting_order_at_most_12_months_and_only_on_conviction(months, outcome, ok):
    data = {"outcome": outcome} if months is None else {"outcome": outcome, "parenting_order_months": months}
    assert (not reasons("parenting_order_within_limit", **data)) is ok


def test_case_cannot_close_with_an_issued_or_unpaid_pn():
    for status in ("issued", "unpaid"):
        assert reasons("no_outstanding_pn", replace(BASE, penalty_notices=(pn(status=status),)))
    for status in ("paid", "withdrawn", "prosecuted"):
        assert not reasons("no_outstanding_pn", replace(BASE, penalty_notices=(pn(status=status),)))
