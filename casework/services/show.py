"""Read a case: the JSON of `casework case show`, with every trigger of its state judged for a user."""
from __future__ import annotations

import json
from datetime import date
from functools import cache

from sqlalchemy import bindparam
from sqlmodel import Session, select

import workflows

from .. import chronology, clock
from ..models import Case, Contact, Letter, Payment, PenaltyNotice, Pupil, School, User
from . import facts as facts_mod
from .audit import audit
from .cases import amount_due_on
from .scope import can_see_pupil
from .errors import BadInput, PermissionDenied
from .users import get_user


def load_case(session: Session, ref: str, user: User | None) -> Case:
    """The case, checked against the user's scope, with the read written to the audit log."""
    return load_case_and_pupil(session, ref, user)[0]


def load_case_and_pupil(session: Session, ref: str, user: User | None) -> tuple[Case, Pupil]:
    """load_case, and the case's pupil read with it (for a caller that shows both: the session keeps only the
    objects its caller holds, so a pupil read here and let go would be read again)."""
    row = session.exec(_case_and_pupil_query(), params={"ref": ref}).first()
    if row is None:
        raise BadInput(f"case {ref}: no such case")
    case, pupil = row
    if user is not None and not can_see_pupil(session, user, pupil):
        raise PermissionDenied(f"{user.email} may not see case {ref}")
    audit(session, user.email if user else "cli", "read", "case", ref)
    return case, pupil


@cache
def _case_and_pupil_query():
    """Built once (see casework.services.facts)."""
    return select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id).where(Case.ref == bindparam("ref"))


@cache
def _letters_query():
    return select(Letter).where(Letter.case_id == bindparam("case_id")).order_by(Letter.id)


def _judging_user(session: Session, case: Case, actor_email: str | None) -> User:
    if actor_email:
        return get_user(session, actor_email)
    if case.officer_id:
        return session.get(User, case.officer_id)
    return User(email="(unassigned officer)", role="aeo")


def judge_triggers(session: Session, case: Case, user: User, on: date | None = None,
                   ctx: facts_mod.CaseContext | None = None) -> list[workflows.Decision]:
    """Every trigger of the case's state, judged now for this user with no trigger data (`ctx`: the case's
    context, when already loaded)."""
    on = on or clock.today()
    pathway = workflows.load_key(case.pathway)
    pupil = session.get(Pupil, case.pupil_id)
    ctx = ctx or facts_mod.load_context(session, pupil)
    decisions = []
    for t in pathway.transitions_from(case.state):
        facts = facts_mod.build(session, pathway, user=user, actor_has_pupil=can_see_pupil(session, user, pupil),
                                ctx=ctx, case=case, on=on, data={}, t=t)
        decisions.append(workflows.judge(pathway, case.state, t.trigger, facts, {}))
    return decisions


def case_json(session: Session, ref: str, actor_email: str | None = None, with_triggers: bool = True) -> dict:
    """The case as the JSON of spec/interfaces.md (`triggers` empty when not `with_triggers`: the case page judges
    them itself, for its forms)."""
    user = get_user(session, actor_email) if actor_email else None
    return case_view(session, load_case(session, ref, user), actor_email, with_triggers)


def case_view(session: Session, case: Case, actor_email: str | None = None, with_triggers: bool = True,
              ctx: facts_mod.CaseContext | None = None) -> dict:
    """case_json of a case already loaded with `load_case` (its scope checked and its read audited). The case's
    chronology, deadlines, parents and penalty notices come from its context (`ctx`, when the caller has loaded it,
    so that they are read once for the page and the guards)."""
    pupil = session.get(Pupil, case.pupil_id)
    ctx = ctx or facts_mod.load_context(session, pupil)
    school = session.get(School, case.school_id)
    officer = session.get(User, case.officer_id) if case.officer_id else None
    contacts = {p.contact.id: p.contact.contact_ref for p in ctx.parents}
    events = ctx.events(session, case)
    deadlines = sorted((d for d in ctx.deadlines(session, case) if d.done_at is None), key=lambda d: (d.due_on, d.id))
    pns = sorted((pn for pn, _paid in ctx.pns if pn.case_id == case.id), key=lambda pn: pn.id)
    letters = session.exec(_letters_query(), params={"case_id": case.id}).all()
    payments: dict[int, list[Payment]] = {pn.id: [] for pn in pns}
    if pns:
        for payment in session.exec(select(Payment).where(Payment.penalty_notice_id.in_(payments))
                                    .order_by(Payment.id)).all():
            payments[payment.penalty_notice_id].append(payment)
    today = clock.today()

    def contact_ref(contact_id: int) -> str:
        if contact_id not in contacts:  # a contact no longer the pupil's parent
            contacts[contact_id] = session.get(Contact, contact_id).contact_ref
        return contacts[contact_id]

    def pn_json(pn: PenaltyNotice) -> dict:
        return {"ref": pn.ref, "contact_ref": contact_ref(pn.contact_id), "issued_on": pn.issued_on.isoformat(),
                "offence_start": pn.offence_start.isoformat(), "offence_end": pn.offence_end.isoformat(),
                "amount_due": f"{amount_due_on(pn, today):.2f}", "status": pn.status,
                "receipt_on": pn.receipt_on.isoformat() if pn.receipt_on else None,
                "pay_by": pn.pay_by.isoformat() if pn.pay_by else None,
                "payments": [{"on": p.paid_on.isoformat(), "amount": f"{p.amount:.2f}"} for p in payments[pn.id]]}

    judged = (judge_triggers(session, case, _judging_user(session, case, actor_email), today, ctx)
              if with_triggers else [])
    return {
        "ref": case.ref, "state": case.state, "pathway": case.pathway, "upn": pupil.upn, "school_urn": school.urn,
        "officer": officer.email if officer else None,
        "limitation_date": case.limitation_date.isoformat() if case.limitation_date else None,
        "events": [{"on": e.on.isoformat(), "recorded_at": e.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "by": e.actor_email, "trigger": e.trigger, "from": e.from_state, "to": e.to_state,
                    "data": json.loads(e.data)} for e in events],
        "letters": [{"id": l.id, "kind": l.kind, "contact_ref": contact_ref(l.contact_id),
                     "issued_on": l.issued_on.isoformat(), "sha256": l.sha256} for l in letters],
        "penalty_notices": [pn_json(pn) for pn in pns],
        "deadlines": [{"kind": d.kind, "due_on": d.due_on.isoformat(), "raised": d.raised_at is not None}
                      for d in deadlines],
        "triggers": [{"trigger": d.trigger, "allowed": d.allowed, "reasons": list(d.reasons), "needs": list(d.needs),
                      "refused_by_guards": d.refused_by_guards} for d in judged],
        "chronology_intact": not chronology.verify(session, case, events),
    }
