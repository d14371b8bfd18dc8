"""Case services: open a case, fire a trigger, show a case. Each is one unit of work in the caller's transaction."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

import workflows
from workflows import InvalidTrigger, StateAdapter
from workflows.data import DataError, parse
from workflows.definition import Pathway, TransitionDef
from workflows.guards import pn_refusal_for_parent

from .. import chronology, clock
from ..checks import record_evidence
from ..models import Case, CaseEvent, Counter, Deadline, Letter, Payment, PenaltyNotice, Pupil, User
from ..register import calendar, measures
from . import facts as facts_mod
from .audit import audit
from .errors import BadInput, Blocked, PermissionDenied, StaleCase
from .scope import can_see_pupil
from .users import get_user

DEFAULT_PATHWAY = "england-2024"
STAGE_DEADLINES = {"consultation_due", "plan_review_due", "contract_review_due", "improvement_period_ends"}


# ---------------------------------------------------------------- references and scope

def next_ref(session: Session, prefix: str, year: int) -> str:
    """The next reference like CW-2026-00017, from a counter row locked for the transaction."""
    name = f"{prefix}-{year}"
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Counter).values(name=name, value=0)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    counter = session.exec(select(Counter).where(Counter.name == name).with_for_update()).one()
    counter.value += 1
    session.add(counter)
    session.flush()
    return f"{prefix}-{year}-{counter.value:05d}"


def _require_role(user: User, roles: tuple[str, ...], what: str) -> None:
    if user.role not in roles:
        raise PermissionDenied(f"{user.email} ({user.role}) may not {what}")


# ---------------------------------------------------------------- firing

@dataclass
class Outcome:
    """What a trigger did: the case, its new event, letters and PNs created, and per-parent notes."""

    case: Case
    event: CaseEvent
    letters: list[Letter] = field(default_factory=list)
    penalty_notices: list[PenaltyNotice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _parse(raw: dict[str, str]) -> dict:
    try:
        return parse(raw)
    except DataError as exc:
        raise BadInput(str(exc)) from None


def _apply_defaults(pathway: Pathway, t: TransitionDef, on: date, data: dict) -> dict:
    data = dict(data)
    for key, spec in t.defaults.items():
        if key in t.requires or key in data:
            continue
        if "weeks" in spec:
            data[key] = on + timedelta(weeks=int(pathway.settings[spec["weeks"]]))
    if t.trigger == "issue_notice_to_improve":
        data.setdefault("improvement_weeks", int(pathway.settings["improvement_weeks_default"]))
    return data


def _check_on(on: date) -> None:
    if on > clock.today():
        raise BadInput(f"--on {on.isoformat()} is in the future")


def open_case(session: Session, upn: str, actor_email: str, on: date | None = None,
              raw: dict[str, str] | None = None) -> Outcome:
    """Fire `raise_concern` for a pupil: a new case in the pathway's first state."""
    user = get_user(session, actor_email)
    on = on or clock.today()
    _check_on(on)
    data = _parse(raw or {})
    # the pupil's row is locked for the transaction, so two concerns raised at once cannot both pass the guard
    # "no other open case for the pupil" (PostgreSQL; SQLite's writers are serialised already)
    pupil = session.exec(select(Pupil).where(Pupil.upn == upn).with_for_update()).first()
    if pupil is None:
        raise BadInput(f"upn {upn}: no such pupil")
    if not can_see_pupil(session, user, pupil):
        raise Blocked(["the pupil is not on the roll of your school"])
    if pupil.school_id is None:
        raise Blocked([f"pupil {upn} is not on any school's roll"])
    pathway = workflows.load(DEFAULT_PATHWAY)
    case = Case(ref="", pupil_id=pupil.id, school_id=pupil.school_id, state=pathway.states[0], pathway=pathway.key,
                officer_id=user.id if user.role in ("aeo", "manager") else None, opened_on=on)
    return _run(session, pathway, case, "raise_concern", user, on, data, new=True)


def fire(session: Session, ref: str, trigger: str, actor_email: str, on: date | None = None,
         raw: dict[str, str] | None = None, expected_version: int | None = None) -> Outcome:
    """Fire a pathway trigger on a case: lock, check version, judge guards, write state, event, PNs, letters."""
    user = get_user(session, actor_email)
    on = on or clock.today()
    _check_on(on)
    data = _parse(raw or {})
    case = session.exec(select(Case).where(Case.ref == ref).with_for_update()).first()
    if case is None:
        raise BadInput(f"case {ref}: no such case")
    session.refresh(case)
    if expected_version is not None and case.version != expected_version:
        raise StaleCase([f"case {ref} changed since you opened it (version {expected_version}, now {case.version}): "
                         "reload it and try again"])
    pupil = session.get(Pupil, case.pupil_id)
    if not can_see_pupil(session, user, pupil):
        raise Blocked(["the pupil is not on the roll of your school"])
    pathway = workflows.load_key(case.pathway)
    if trigger not in pathway.triggers:
        raise BadInput(f"{trigger!r} is not a trigger of pathway {pathway.key}")
    return _run(session, pathway, case, trigger, user, on, data, new=False)


def _run(session: Session, pathway: Pathway, case: Case, trigger: str, user: User, on: date, data: dict,
         new: bool) -> Outcome:
    state = None if new else case.state
    t = pathway.find(trigger, state)
    if t is None:
        where = "a new case" if new else f"{pathway.label(case.state)} ({case.state})"
        raise Blocked([f"{trigger} cannot be fired from {where}"])
    data = _apply_defaults(pathway, t, on, data)
    pupil = session.get(Pupil, case.pupil_id)
    ctx = facts_mod.load_context(session, pupil)
    facts = facts_mod.build(session, pathway, user=user, actor_has_pupil=can_see_pupil(session, user, pupil),
                            ctx=ctx, case=None if new else case, on=on, data=data, t=t)
    holder = {"state": state}
    adapter = StateAdapter(lambda: holder["state"], lambda value: holder.__setitem__("state", value))
    try:
        decision = workflows.fire(pathway, adapter, trigger, facts, data)
    except InvalidTrigger as exc:
        raise Blocked([str(exc)]) from None
    if not decision.allowed:
        raise Blocked(decision.reasons)
    _preflight_recipients(session, pathway, t, case, ctx, facts, data)
    savepoint = session.begin_nested()  # a letter refused by preflight after the effects leaves nothing written
    try:
        outcome = _write(session, pathway, t, case, trigger, user, on, data, new, (state, holder["state"]), ctx,
                         facts)
    except Exception:
        savepoint.rollback()
        raise
    savepoint.commit()
    return outcome


def _write(session: Session, pathway: Pathway, t: TransitionDef, case: Case, trigger: str, user: User, on: date,
           data: dict, new: bool, states: tuple[str | None, str], ctx, facts) -> Outcome:
    """The trigger's writes: state, effects, deadlines, evidence, chronology, letters and audit."""
    from_state, to_state = states
    if new:
        case.ref = next_ref(session, "CW", on.year)
    case.state = to_state
    case.version = (case.version or 0) + (0 if new else 1)
    if user.role in ("aeo", "manager") and case.officer_id is None:
        case.officer_id = user.id
    session.add(case)
    session.flush()

    outcome_notes: list[str] = []
    pns = EFFECTS.get(trigger, _no_effect)(session, pathway, case, ctx, facts, user, on, data, outcome_notes)
    if case.state != from_state:
        _finish_deadlines(session, case, STAGE_DEADLINES if case.state != "closed" else None)
    if case.state == "closed":
        case.closed_on = on
        case.outcome = data.get("outcome", "")
    _set_deadlines(session, pathway, t, case, ctx, facts, on, data, pns)
    evidence_start, evidence_end = _evidence_period(trigger, facts, on)
    record_evidence(session, case, trigger, evidence_start, evidence_end)

    event_data = {k: v for k, v in data.items()}
    if pns:
        event_data["penalty_notices"] = [pn.ref for pn in pns]
    if outcome_notes:
        event_data["notes"] = outcome_notes
    event = chronology.append(session, case, on=on, recorded_at=clock.now(), actor_id=user.id, actor_email=user.email,
                              trigger=trigger, from_state=from_state, to_state=case.state, data=event_data)
    from ..letters.issue import issue_letters  # the letters package imports services: import it when used

    letters = issue_letters(session, pathway, t, case, ctx, facts, user, on, data, pns, event)
    audit(session, user.email, "create" if new else "update", "case", case.ref,
          {"trigger": trigger, "from": from_state, "to": case.state, "on": on,
           "letters": [letter.id for letter in letters], "penalty_notices": [pn.ref for pn in pns]})
    session.flush()
    return Outcome(case, event, letters, pns, outcome_notes)


def _preflight_recipients(session, pathway, t, case, ctx, facts, data) -> None:
    """Refuse the trigger, before anything is written, when a letter it issues could not be posted."""
    from ..letters.issue import recipient_problems, trigger_recipients

    problems = recipient_problems(trigger_recipients(session, pathway, t, case, ctx, facts, data))
    if problems:
        raise Blocked([f"letters cannot be issued: {problem}" for problem in problems])


def _evidence_period(trigger: str, facts, on: date) -> tuple[date | None, date | None]:
    """The register sessions the trigger relies on: the threshold window for an NTI, else the offence period."""
    if trigger == "issue_notice_to_improve" and facts.threshold_now is not None:
        return facts.threshold_now.window_start, min(facts.threshold_now.window_end, on)
    return facts.offence_start, facts.offence_end


# ---------------------------------------------------------------- letters sent on request

def issue_letter(session: Session, ref: str, kind: str, actor_email: str, on: date | None = None,
                 raw: dict[str, str] | None = None) -> Outcome:
    """Send a letter the pathway has no trigger for (a meeting invitation, a missed meeting) to every parent,
    preflighted like a trigger's letters and recorded in the chronology; the case's state does not change."""
    from ..letters import issue

    user = get_user(session, actor_email)
    _require_role(user, ("aeo", "manager"), "send letters")
    on = on or clock.today()
    _check_on(on)
    data = issue.request_data(kind, raw or {}, on)
    spec = issue.ON_REQUEST[kind]
    case = session.exec(select(Case).where(Case.ref == ref).with_for_update()).first()
    if case is None:
        raise BadInput(f"case {ref}: no such case")
    session.refresh(case)
    pathway = workflows.load_key(case.pathway)
    if case.state not in spec.states:
        raise Blocked([f"a letter '{spec.label}' cannot be sent on a case at {pathway.label(case.state)}"])
    ctx = facts_mod.load_context(session, session.get(Pupil, case.pupil_id))
    if not ctx.parents:
        raise Blocked(["the pupil has no parent on record (parental responsibility or living with the pupil)"])
    problems = issue.recipient_problems([p.contact for p in ctx.parents])
    if problems:
        raise Blocked([f"letters cannot be issued: {problem}" for problem in problems])
    savepoint = session.begin_nested()
    try:
        event = chronology.append(session, case, on=on, recorded_at=clock.now(), actor_id=user.id,
                                  actor_email=user.email, trigger="issue_letter", from_state=case.state,
                                  to_state=case.state, data={"letter": spec.label, **data})
        authority = issue.authority_context(session)
        planned = [issue.Planned(kind, case, event, p.contact, None, issue.build_context(
            session, kind, case, ctx, user, on, data, p.contact, p, None,
            f"{case.ref}-{event.seq:02d}-{p.contact.contact_ref}", authority)) for p in ctx.parents]
        letters = issue.store_letters(session, on, planned)
        audit(session, user.email, "update", "case", case.ref,
              {"letter": kind, "on": on, "letters": [letter.id for letter in letters]})
        session.flush()
    except Exception:
        savepoint.rollback()
        raise
    savepoint.commit()
    return Outcome(case, event, letters)


# ---------------------------------------------------------------- effects of triggers

def _no_effect(*_args) -> list[PenaltyNotice]:
    return []


def pn_amounts(pathway: Pathway, counting_before: int) -> tuple[Decimal | None, Decimal]:
    """(reduced amount or None, full amount): a second PN in 3 years has no reduced rate."""
    full = Decimal(pathway.settings["pn_full_amount"])
    if counting_before >= 1:
        return None, full
    return Decimal(pathway.settings["pn_first_reduced_amount"]), full


def _issue_penalty_notices(session, pathway, case, ctx, facts, user, on, data, notes) -> list[PenaltyNotice]:
    s = pathway.settings
    receipt = calendar.add_working_days(on, int(s["deemed_receipt_working_days"]))
    given = (data.get("support_inappropriate") or "").lower()
    reason = next((r for r in ("holiday", "late") if given.startswith(r)), "other")  # the PRM return's reasons
    created = []
    by_ref = {p.contact_ref: p for p in facts.parents}
    for parent in ctx.parents:
        parent_facts = by_ref[parent.contact.contact_ref]
        refusal = pn_refusal_for_parent(facts, parent_facts)
        if refusal:
            notes.append(refusal)
            continue
        reduced, full = pn_amounts(pathway, parent_facts.counting_pns_in_limit_window)
        pn = PenaltyNotice(
            ref=next_ref(session, "PN", on.year), case_id=case.id, pupil_id=ctx.pupil.id, contact_id=parent.contact.id,
            issued_on=on, offence_start=facts.offence_start, offence_end=facts.offence_end, reason=reason,
            amount_reduced=reduced, amount_full=full, receipt_on=receipt,
            reduced_until=receipt + timedelta(days=int(s["pn_reduced_period_days"])) if reduced else None,
            pay_by=receipt + timedelta(days=int(s["pn_payment_period_days"])), status="issued")
        session.add(pn)
        session.flush()
        created.append(pn)
    case.offence_start, case.offence_end = facts.offence_start, facts.offence_end
    return created


def _pn_on_case(session: Session, case: Case, ref: str) -> PenaltyNotice:
    pn = session.exec(select(PenaltyNotice).where(PenaltyNotice.ref == ref, PenaltyNotice.case_id == case.id)
                      .with_for_update()).first()
    if pn is None:
        raise Blocked([f"penalty notice {ref} does not belong to this case"])
    return pn


def amount_due_on(pn: PenaltyNotice, day: date) -> Decimal:
    """What the recipient must pay on `day`: the reduced rate while it runs, the full amount after."""
    if pn.amount_reduced is not None and pn.reduced_until and day <= pn.reduced_until:
        return pn.amount_reduced
    return pn.amount_full


def _record_payment(session, pathway, case, ctx, facts, user, on, data, notes) -> list:
    pn = _pn_on_case(session, case, data["pn"])
    session.add(Payment(penalty_notice_id=pn.id, paid_on=on, amount=data["amount"], recorded_at=clock.now(),
                        recorded_by=user.email))
    session.flush()
    total = facts_mod.paid_total(session, pn)
    due = amount_due_on(pn, on)
    in_time = pn.pay_by is None or on <= pn.pay_by
    if total >= due and in_time and pn.status in ("issued", "unpaid"):
        pn.status = "paid"
        _finish_deadlines(session, case, {"pn_reduced_period_ends", "pn_payment_period_ends"}, pn.id)
        notes.append(f"{pn.ref} paid in full (£{total} of £{due})")
    elif not in_time:
        notes.append(f"{pn.ref}: payment of £{data['amount']} received after the payment period ended on "
                     f"{pn.pay_by.isoformat()}; the notice stays {pn.status} until it is withdrawn or prosecuted")
    else:
        notes.append(f"{pn.ref}: £{total} received of £{due} due; a penalty is only discharged when paid in full")
    session.add(pn)
    return []


def _withdraw(session, pathway, case, ctx, facts, user, on, data, notes) -> list:
    pn = _pn_on_case(session, case, data["pn"])
    pn.status, pn.withdrawn_on, pn.withdrawal_ground = "withdrawn", on, data["ground"]
    session.add(pn)
    _finish_deadlines(session, case, {"pn_reduced_period_ends", "pn_payment_period_ends"}, pn.id)
    paid = facts_mod.paid_total(session, pn)
    if paid > 0:
        session.add(Deadline(case_id=case.id, kind="refund_due", due_on=on + timedelta(days=14), penalty_notice_id=pn.id,
                             note=f"refund £{paid} paid on {pn.ref}"))
        notes.append(f"refund of £{paid} due on {pn.ref}")
    return [pn]


def _refer(session, pathway, case, ctx, facts, user, on, data, notes) -> list:
    case.offence_start, case.offence_end = facts.offence_start, facts.offence_end
    case.limitation_date = facts.limitation_date
    for pn, _paid in ctx.pns:
        overlaps = pn.offence_start <= facts.offence_end and facts.offence_start <= pn.offence_end
        lapsed = pn.status == "unpaid" or (pn.status == "issued" and pn.pay_by is not None and on > pn.pay_by)
        if lapsed and overlaps:
            pn.status, pn.prosecuted = "prosecuted", True
            session.add(pn)
            _finish_deadlines(session, case, {"pn_reduced_period_ends", "pn_payment_period_ends"}, pn.id)
            notes.append(f"{pn.ref} relied on for prosecution")
    return []


def _close(session, pathway, case, ctx, facts, user, on, data, notes) -> list:
    _finish_deadlines(session, case, None)
    return []


EFFECTS = {
    "issue_penalty_notice": _issue_penalty_notices,
    "record_payment": _record_payment,
    "withdraw_penalty_notice": _withdraw,
    "refer_for_prosecution": _refer,
    "record_outcome": _close,
    "close": _close,
}


# ---------------------------------------------------------------- deadlines

def _finish_deadlines(session: Session, case: Case, kinds: set[str] | None, pn_id: int | None = None) -> None:
    """Mark open deadlines done (of these kinds, or all; of one PN when given)."""
    stmt = update(Deadline).where(Deadline.case_id == case.id, Deadline.done_at.is_(None))
    if kinds is not None:
        stmt = stmt.where(Deadline.kind.in_(kinds))
    if pn_id is not None:
        stmt = stmt.where(Deadline.penalty_notice_id == pn_id)
    session.execute(stmt.values(done_at=clock.now()))


def _set_deadlines(session, pathway, t, case, ctx, facts, on, data, pns) -> None:
    s = pathway.settings
    known = measures.school_days(ctx.segments)
    for spec in t.deadlines:
        kind = spec["kind"]
        if "school_days" in spec:
            due = calendar.add_school_days(on, int(s[spec["school_days"]]), known)
        elif "from_data" in spec:
            due = data.get(spec["from_data"])
        elif "school_weeks_from_data" in spec:
            due = calendar.add_school_weeks(on, int(data[spec["school_weeks_from_data"]]), known)
        elif "from_facts" in spec:
            due = getattr(facts, spec["from_facts"])
        elif "per_penalty_notice" in spec:
            for pn in pns:
                if pn.status == "issued" and getattr(pn, spec["per_penalty_notice"]):
                    session.add(Deadline(case_id=case.id, kind=kind, due_on=getattr(pn, spec["per_penalty_notice"]),
                                         penalty_notice_id=pn.id, note=pn.ref))
            continue
        else:
            raise ValueError(f"deadline {kind}: no rule for its date")
        if due is not None:
            session.add(Deadline(case_id=case.id, kind=kind, due_on=due))
    session.flush()
