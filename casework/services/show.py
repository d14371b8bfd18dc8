"""Read a case: the JSON of `casework case show`, with every trigger of its state judged for a user."""
from __future__ import annotations

import json
from datetime import date

from sqlmodel import Session, select

import workflows

from .. import chronology, clock
from ..models import Case, CaseEvent, Contact, Deadline, Letter, Payment, PenaltyNotice, Pupil, School, User
from . import facts as facts_mod
from .audit import audit
from .cases import amount_due_on
from .scope import can_see_pupil
from .errors import BadInput, PermissionDenied
from .users import get_user


def load_case(session: Session, ref: str, user: User | None) -> Case:
    """The case, checked against the user's scope, with the read written to the audit log."""
    case = session.exec(select(Case).where(Case.ref == ref)).first()
    if case is None:
        raise BadInput(f"case {ref}: no such case")
    if user is not None and not can_see_pupil(session, user, session.get(Pupil, case.pupil_id)):
        raise PermissionDenied(f"{user.email} may not see case {ref}")
    audit(session, user.email if user else "cli", "read", "case", ref)
    return case


def _judging_user(session: Session, case: Case, actor_email: str | None) -> User:
    if actor_email:
        return get_user(session, actor_email)
    if case.officer_id:
        return session.get(User, case.officer_id)
    return User(email="(unassigned officer)", role="aeo")


def judge_triggers(session: Session, case: Case, user: User, on: date | None = None) -> list[workflows.Decision]:
    """Every trigger of the case's state, judged now for this user with no trigger data."""
    on = on or clock.today()
    pathway = workflows.load_key(case.pathway)
    pupil = session.get(Pupil, case.pupil_id)
    ctx = facts_mod.load_context(session, pupil)
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


def case_view(session: Session, case: Case, actor_email: str | None = None, with_triggers: bool = True) -> dict:
    """case_json of a case already loaded with `load_case` (its scope checked and its read audited)."""
    pupil = session.get(Pupil, case.pupil_id)
    school = session.get(School, case.school_id)
    officer = session.get(User, case.officer_id) if case.officer_id else None
    contacts: dict[int, str] = {}
    events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
    letters = session.exec(select(Letter).where(Letter.case_id == case.id).order_by(Letter.id)).all()
    pns = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id).order_by(PenaltyNotice.id)).all()
    deadlines = session.exec(select(Deadline).where(Deadline.case_id == case.id, Deadline.done_at.is_(None))
                             .order_by(Deadline.due_on, Deadline.id)).all()
    today = clock.today()

    def contact_ref(contact_id: int) -> str:
        if contact_id not in contacts:
            contacts[contact_id] = session.get(Contact, contact_id).contact_ref
        return contacts[contact_id]

    def pn_json(pn: PenaltyNotice) -> dict:
        payments = session.exec(select(Payment).where(Payment.penalty_notice_id == pn.id).order_by(Payment.id)).all()
        return {"ref": pn.ref, "contact_ref": contact_ref(pn.contact_id), "issued_on": pn.issued_on.isoformat(),
                "offence_start": pn.offence_start.isoformat(), "offence_end": pn.offence_end.isoformat(),
                "amount_due": f"{amount_due_on(pn, today):.2f}", "status": pn.status,
                "receipt_on": pn.receipt_on.isoformat() if pn.receipt_on else None,
                "pay_by": pn.pay_by.isoformat() if pn.pay_by else None,
                "payments": [{"on": p.paid_on.isoformat(), "amount": f"{p.amount:.2f}"} for p in payments]}

    judged = judge_triggers(session, case, _judging_user(session, case, actor_email), today) if with_triggers else []
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
