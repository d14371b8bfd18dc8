"""The daily clock: raise every deadline that has passed (idempotent)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session, select

import workflows

from .. import chronology, clock
from ..models import Case, Deadline, PenaltyNotice
from .audit import audit


@dataclass
class TickResult:
    raised: list[str] = field(default_factory=list)
    unpaid: list[str] = field(default_factory=list)


def tick(session: Session, on: date | None = None, actor: str = "tick") -> TickResult:
    """Raise passed deadlines; a PN whose payment period has passed unpaid becomes `unpaid`."""
    on = on or clock.today()
    result = TickResult()
    warn_days = int(workflows.load().settings["limitation_warning_days"])
    due = session.exec(
        select(Deadline).where(Deadline.raised_at.is_(None), Deadline.done_at.is_(None),
                               Deadline.due_on < on + timedelta(days=warn_days + 1))
        .order_by(Deadline.case_id, Deadline.due_on, Deadline.id)
    ).all()
    for deadline in due:
        passed = deadline.due_on < on
        warning = deadline.kind == "limitation_date" and deadline.due_on - timedelta(days=warn_days) <= on
        if not (passed or warning):
            continue
        case = session.exec(select(Case).where(Case.id == deadline.case_id).with_for_update()).one()
        deadline.raised_at = clock.now()
        session.add(deadline)
        data = {"deadline": deadline.kind, "due_on": deadline.due_on}
        if deadline.kind == "pn_payment_period_ends" and deadline.penalty_notice_id:
            pn = session.get(PenaltyNotice, deadline.penalty_notice_id)
            if pn.status == "issued":
                pn.status = "unpaid"
                session.add(pn)
                data["penalty_notice"] = pn.ref
                data["status"] = "unpaid"
                result.unpaid.append(pn.ref)
        case.version += 1
        session.add(case)
        chronology.append(session, case, on=on, recorded_at=clock.now(), actor_id=None, actor_email=actor,
                          trigger="deadline_raised", from_state=case.state, to_state=case.state, data=data)
        result.raised.append(f"{case.ref} {deadline.kind} {deadline.due_on.isoformat()}")
    if result.raised:
        audit(session, actor, "update", "deadlines", on.isoformat(), {"raised": result.raised, "unpaid": result.unpaid})
    session.flush()
    return result
