"""Guards: pure predicates over (facts, data) that return the reasons a trigger is refused (empty = allowed)."""
from __future__ import annotations

from datetime import date
from typing import Callable

from .facts import Facts

Guard = Callable[[Facts, dict], list[str]]
GUARDS: dict[str, Guard] = {}

COUNTING_PN_STATUSES = {"issued", "paid", "unpaid", "prosecuted"}
OUTSTANDING_PN_STATUSES = {"issued", "unpaid"}


def guard(fn: Guard) -> Guard:
    GUARDS[fn.__name__] = fn
    return fn


def _fmt(d: date | None) -> str:
    return d.strftime("%-d %b %Y") if d else "—"


def _setting(f: Facts, key: str, default):
    return f.settings.get(key, default)


@guard
def actor_school_has_pupil(f: Facts, d: dict) -> list[str]:
    """School users may only raise concerns about pupils on their own school's roll."""
    if f.actor_role == "school" and not f.actor_school_has_pupil:
        return ["the pupil is not on the roll of your school"]
    return []


@guard
def no_other_open_case(f: Facts, d: dict) -> list[str]:
    if f.other_open_case_refs:
        return [f"the pupil already has an open case ({', '.join(f.other_open_case_refs)})"]
    return []


@guard
def review_date_in_future(f: Facts, d: dict) -> list[str]:
    review_on = d.get("review_on")
    if review_on is not None and review_on <= f.on:
        return [f"the review date ({_fmt(review_on)}) must be after {_fmt(f.on)}"]
    return []


@guard
def parent_agreed(f: Facts, d: dict) -> list[str]:
    """An attendance contract cannot be agreed in the parent's absence."""
    if d.get("parent_agreed") == "no":
        return ["the parent has not agreed: an attendance contract cannot be made without the parent"]
    return []


@guard
def improvement_weeks_in_range(f: Facts, d: dict) -> list[str]:
    lo, hi = _setting(f, "improvement_weeks_min", 3), _setting(f, "improvement_weeks_max", 6)
    weeks = d.get("improvement_weeks", _setting(f, "improvement_weeks_default", 6))
    if not lo <= weeks <= hi:
        return [f"the improvement period must be {lo} to {hi} school weeks (given {weeks})"]
    return []


def _threshold_reason(t, what: str) -> list[str]:
    if t is None:
        return [f"the penalty-notice threshold cannot be judged {what}: no register marks"]
    if not t.met:
        return [
            f"the penalty-notice threshold is not met {what}: {t.unauthorised_sessions} unauthorised "
            f"session{'s' if t.unauthorised_sessions != 1 else ''} in 10 school weeks, 10 needed"
        ]
    return []


@guard
def pn_threshold_met(f: Facts, d: dict) -> list[str]:
    return _threshold_reason(f.threshold_now, f"as of {_fmt(f.on)}")


@guard
def support_offered(f: Facts, d: dict) -> list[str]:
    if not {"agree_action_plan", "offer_parenting_contract"} & set(f.history_triggers):
        return ["no support has been offered: agree a support plan or an attendance contract first"]
    return []


@guard
def offence_period_valid(f: Facts, d: dict) -> list[str]:
    start, end = f.offence_start, f.offence_end
    if start is None or end is None:
        return ["the offence period is not given (offence_start and offence_end)"]
    if start > end:
        return [f"the offence period starts ({_fmt(start)}) after it ends ({_fmt(end)})"]
    if end > f.on:
        return [f"the offence period ends ({_fmt(end)}) after {_fmt(f.on)}"]
    return []


@guard
def pn_threshold_met_in_offence_period(f: Facts, d: dict) -> list[str]:
    if f.offence_start is None or f.offence_end is None:
        return []
    return _threshold_reason(
        f.offence_threshold, f"in the offence period {_fmt(f.offence_start)} to {_fmt(f.offence_end)}"
    )


@guard
def no_n_codes_in_offence_period(f: Facts, d: dict) -> list[str]:
    if not f.n_codes_in_offence_period:
        return []
    listed = ", ".join(f"{_fmt(day)} {session}" for day, session in f.n_codes_in_offence_period[:5])
    more = len(f.n_codes_in_offence_period) - 5
    return [f"sessions in the offence period are still coded N (reason not yet provided): {listed}"
            + (f" and {more} more" if more > 0 else "")]


@guard
def compulsory_school_age_throughout(f: Facts, d: dict) -> list[str]:
    return [f.compulsory_school_age_problem] if f.compulsory_school_age_problem else []


@guard
def school_not_independent(f: Facts, d: dict) -> list[str]:
    if f.school_independent:
        return ["penalty notices cannot be issued for pupils of independent schools"]
    return []


@guard
def improvement_period_ended_or_early_reason(f: Facts, d: dict) -> list[str]:
    if d.get("early_reason"):
        return []
    ends = f.improvement_period_ends
    if ends is not None and f.on < ends:
        return [f"the improvement period runs until {_fmt(ends)}; give early_reason to issue before then"]
    return []


def pn_refusal_for_parent(f: Facts, parent) -> str | None:
    """Why this parent may not receive a PN for this child now (None if they may)."""
    limit = _setting(f, "pn_limit_per_parent_child", 2)
    years = _setting(f, "pn_limit_years", 3)
    if parent.counting_pns_in_limit_window >= limit:
        return (f"{parent.name} ({parent.contact_ref}) already has {parent.counting_pns_in_limit_window} penalty "
                f"notices for this child in the {years} years ending {_fmt(f.on)}: consider prosecution or another route")
    if parent.overlapping_pn_refs:
        return (f"{parent.name} ({parent.contact_ref}) already has a penalty notice for an overlapping period "
                f"({', '.join(parent.overlapping_pn_refs)})")
    return None


@guard
def some_parent_eligible_for_pn(f: Facts, d: dict) -> list[str]:
    if not f.parents:
        return ["the pupil has no parent on record (parental responsibility or living with the pupil)"]
    refusals = [pn_refusal_for_parent(f, p) for p in f.parents]
    if all(refusals):
        return [r for r in refusals if r]
    return []


@guard
def pn_on_case_and_not_withdrawn(f: Facts, d: dict) -> list[str]:
    ref = d.get("pn")
    if not ref:
        return []
    match = [pn for pn in f.penalty_notices if pn.ref == ref and pn.on_this_case]
    if not match:
        return [f"penalty notice {ref} does not belong to this case"]
    if match[0].status == "withdrawn":
        return [f"penalty notice {ref} has been withdrawn"]
    return []


@guard
def amount_positive(f: Facts, d: dict) -> list[str]:
    amount = d.get("amount")
    if amount is not None and amount <= 0:
        return [f"the amount must be more than £0.00 (given £{amount})"]
    return []


def _choice(f: Facts, d: dict, key: str, choices_key: str, default: tuple) -> list[str]:
    value = d.get(key)
    choices = f.settings.get("choices", {}).get(choices_key, default)
    if value is not None and value not in choices:
        return [f"{key} must be one of {', '.join(choices)} (given {value})"]
    return []


@guard
def withdrawal_ground_valid(f: Facts, d: dict) -> list[str]:
    return _choice(f, d, "ground", "withdrawal_ground", ("ought_not_to_have_been_issued", "wrong_person", "material_error"))


@guard
def section_valid(f: Facts, d: dict) -> list[str]:
    return _choice(f, d, "section", "section", ("444(1)", "444(1A)"))


@guard
def court_outcome_valid(f: Facts, d: dict) -> list[str]:
    return _choice(f, d, "outcome", "court_outcome", ("convicted", "acquitted", "withdrawn", "discharged"))


@guard
def close_outcome_valid(f: Facts, d: dict) -> list[str]:
    return _choice(f, d, "outcome", "close_outcome", ())


@guard
def unauthorised_absence_in_offence_period(f: Facts, d: dict) -> list[str]:
    if f.offence_start and f.offence_end and f.offence_start <= f.offence_end and not f.offence_unauthorised_sessions:
        return [f"there is no unauthorised absence between {_fmt(f.offence_start)} and {_fmt(f.offence_end)}"]
    return []


@guard
def no_paid_pn_covers_offence_period(f: Facts, d: dict) -> list[str]:
    """Payment discharges liability: a paid PN (or any payment) over the offence period blocks prosecution."""
    if f.offence_start is None or f.offence_end is None:
        return []
    reasons = []
    for pn in f.penalty_notices:
        if pn.status == "withdrawn" or not pn.overlaps(f.offence_start, f.offence_end):
            continue
        if pn.status == "paid":
            reasons.append(f"penalty notice {pn.ref} covering {_fmt(pn.offence_start)} to {_fmt(pn.offence_end)} "
                           f"is paid: payment discharges liability for that period")
        elif pn.has_payment:
            reasons.append(f"a payment of £{pn.payments_total} was received on penalty notice {pn.ref}: "
                           f"reconcile it before any prosecution for that period")
    return reasons


@guard
def relied_pns_past_payment_period(f: Facts, d: dict) -> list[str]:
    if f.offence_start is None or f.offence_end is None:
        return []
    return [
        f"penalty notice {pn.ref} is still within its payment period (until {_fmt(pn.pay_by)})"
        for pn in f.penalty_notices
        if pn.status == "issued" and pn.overlaps(f.offence_start, f.offence_end) and pn.pay_by and f.on <= pn.pay_by
    ]


@guard
def health_review_given_where_needed(f: Facts, d: dict) -> list[str]:
    if f.pupil_needs_health_review and not d.get("health_review"):
        return ["the pupil has an EHC plan or a health flag: record a health and s.19 review (health_review)"]
    return []


@guard
def within_limitation(f: Facts, d: dict) -> list[str]:
    """s.127 MCA 1980: the earliest absence relied on must be less than 6 months before today."""
    if f.earliest_absence_in_offence_period is None or f.limitation_date is None:
        return []
    if f.on >= f.limitation_date:
        return [f"the earliest absence relied on ({_fmt(f.earliest_absence_in_offence_period)}) is 6 months or more "
                f"before {_fmt(f.on)}: the information had to be laid by {_fmt(f.limitation_date)}"]
    return []


@guard
def limitation_not_passed(f: Facts, d: dict) -> list[str]:
    if f.limitation_date is not None and f.on > f.limitation_date:
        return [f"the limitation date ({_fmt(f.limitation_date)}) has passed: the information can no longer be laid"]
    return []


@guard
def hearing_after_laying(f: Facts, d: dict) -> list[str]:
    hearing = d.get("hearing_on")
    if hearing is not None and hearing < f.on:
        return [f"the hearing date ({_fmt(hearing)}) is before {_fmt(f.on)}"]
    return []


@guard
def parenting_order_within_limit(f: Facts, d: dict) -> list[str]:
    months = d.get("parenting_order_months")
    limit = _setting(f, "parenting_order_max_months", 12)
    if months is not None and d.get("outcome") != "convicted":
        return ["a parenting order can only follow a conviction"]
    if months is not None and not 1 <= months <= limit:
        return [f"a parenting order lasts at most {limit} months (given {months})"]
    return []


@guard
def no_outstanding_pn(f: Facts, d: dict) -> list[str]:
    return [
        f"penalty notice {pn.ref} is {pn.status}: it must be paid, withdrawn or prosecuted before the case closes"
        for pn in f.penalty_notices
        if pn.on_this_case and pn.status in OUTSTANDING_PN_STATUSES
    ]
