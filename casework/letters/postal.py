"""Service records: each letter (one per parent) is generated → posted (date, class) → deemed served → and perhaps
returned undelivered, with the posting and any return written to the case chronology.

A posted letter is deemed served on the n-th working day after posting (first class: 2, the pathway's
`deemed_receipt_working_days`; second class: 4; settings `deemed_service_days_first` / `_second` override them),
counted with the bank holidays of `casework.register.calendar`. A penalty notice's payment periods run from its
deemed receipt: the notice is issued assuming posting on its date of issue, and when it is posted later, its
receipt date, reduced-rate period and payment period move later with it (never earlier).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

import workflows

from .. import chronology, clock
from ..models import POSTAL_CLASSES, Case, Deadline, Letter, PenaltyNotice, Setting, User
from ..register import calendar
from ..services.audit import audit
from ..services.errors import BadInput, Blocked, PermissionDenied
from ..services.users import get_user

DEFAULT_SECOND_CLASS_DAYS = 4
OFFICER_ROLES = ("aeo", "manager")


def officer(session: Session, email: str, what: str) -> User:
    """The acting user, who must be an AEO or a manager to post letters or record their return."""
    user = get_user(session, email)
    if user.role not in OFFICER_ROLES:
        raise PermissionDenied(f"{user.email} ({user.role}) may not {what}")
    return user


def service_days(session: Session, postal_class: str) -> int:
    """Working days from posting to deemed service for a postal class."""
    if postal_class not in POSTAL_CLASSES:
        raise BadInput(f"postal class {postal_class!r}: expected first or second")
    row = session.get(Setting, f"deemed_service_days_{postal_class}")
    if row and row.value.strip():
        return int(row.value)
    if postal_class == "first":
        return int(workflows.load().settings["deemed_receipt_working_days"])
    return DEFAULT_SECOND_CLASS_DAYS


def deemed_served(session: Session, posted_on: date, postal_class: str) -> date:
    return calendar.add_working_days(posted_on, service_days(session, postal_class))


def service_status(letter: Letter, today: date | None = None) -> str:
    """Where the letter's service stands, in words: waiting to be posted, posted, deemed served, returned."""
    today = today or clock.today()
    if letter.status == "generated":
        return "in a print run" if letter.print_run_id else "waiting to be posted"
    if letter.status == "posted":
        return "deemed served" if letter.served_on and letter.served_on <= today else "posted"
    return {"returned": "returned undelivered", "untracked": "issued before service records"}[letter.status]


def _check_date(on: date, what: str) -> None:
    if on > clock.today():
        raise BadInput(f"{what} {on.isoformat()} is in the future")


def mark_posted(session: Session, letters: list[Letter], posted_on: date, postal_class: str,
                actor: User) -> list[str]:
    """Record that these letters (all waiting) were posted; one chronology event per case. Returns notes."""
    _check_date(posted_on, "posting date")
    served_on = deemed_served(session, posted_on, postal_class)
    problems = [f"letter {l.id} is {service_status(l)}, not waiting to be posted" for l in letters
                if l.status != "generated"]
    problems += [f"letter {l.id} was issued on {l.issued_on.isoformat()}, after {posted_on.isoformat()}"
                 for l in letters if l.issued_on > posted_on]
    if problems:
        raise Blocked(problems)
    by_case: dict[int, list[Letter]] = defaultdict(list)
    notes = []
    for letter in letters:
        letter.status, letter.posted_on, letter.postal_class, letter.served_on = (
            "posted", posted_on, postal_class, served_on)
        session.add(letter)
        by_case[letter.case_id].append(letter)
        if letter.kind == "penalty_notice" and letter.penalty_notice_id:
            notes += _serve_penalty_notice(session, letter.penalty_notice_id, served_on)
    cases = {c.id: c for c in session.exec(select(Case).where(Case.id.in_(list(by_case))))}
    for case_id, posted in by_case.items():
        case = cases[case_id]
        chronology.append(session, case, on=posted_on, recorded_at=clock.now(), actor_id=actor.id,
                          actor_email=actor.email, trigger="letters_posted", from_state=case.state, to_state=case.state,
                          data={"letters": [l.id for l in posted], "class": postal_class,
                                "deemed_served": served_on.isoformat()})
    session.flush()
    return notes


def _serve_penalty_notice(session: Session, pn_id: int, served_on: date) -> list[str]:
    """Payment periods run from deemed receipt: move them later when the notice was posted after its issue date."""
    pn = session.get(PenaltyNotice, pn_id)
    if pn.status != "issued" or pn.receipt_on is None or served_on <= pn.receipt_on:
        return []
    settings = workflows.load().settings
    pn.receipt_on = served_on
    if pn.reduced_until is not None:
        pn.reduced_until = served_on + timedelta(days=int(settings["pn_reduced_period_days"]))
    pn.pay_by = served_on + timedelta(days=int(settings["pn_payment_period_days"]))
    session.add(pn)
    for kind, due in (("pn_reduced_period_ends", pn.reduced_until), ("pn_payment_period_ends", pn.pay_by)):
        if due is not None:
            session.execute(update(Deadline).where(Deadline.penalty_notice_id == pn.id, Deadline.kind == kind,
                                                   Deadline.done_at.is_(None)).values(due_on=due))
    return [f"{pn.ref} is deemed served on {served_on.isoformat()}, later than the notice assumed: its payment "
            f"period now ends on {pn.pay_by.isoformat()}"]


def mark_returned(session: Session, letter_id: int, returned_on: date, actor_email: str, note: str = "") -> Letter:
    """Record a letter returned undelivered: an event on its case (a penalty notice returned was not served)."""
    actor = officer(session, actor_email, "record a returned letter")
    _check_date(returned_on, "return date")
    letter = session.exec(select(Letter).where(Letter.id == letter_id).with_for_update()).first()
    if letter is None:
        raise BadInput(f"letter {letter_id}: no such letter")
    if letter.status not in ("posted", "untracked"):
        raise Blocked([f"letter {letter_id} is {service_status(letter)}: only a posted letter can come back"])
    if letter.posted_on and returned_on < letter.posted_on:
        raise BadInput(f"letter {letter_id} was posted on {letter.posted_on.isoformat()}, after "
                       f"{returned_on.isoformat()}")
    letter.status, letter.returned_on = "returned", returned_on
    session.add(letter)
    case = session.get(Case, letter.case_id)
    data = {"letter": letter.id, "kind": letter.kind, "note": note}
    if letter.penalty_notice_id:
        pn = session.get(PenaltyNotice, letter.penalty_notice_id)
        data["penalty_notice"] = pn.ref
        data["warning"] = (f"{pn.ref} came back undelivered, so it has not been served: serve it again or "
                           "withdraw it")
    chronology.append(session, case, on=returned_on, recorded_at=clock.now(), actor_id=actor.id,
                      actor_email=actor.email, trigger="letter_returned", from_state=case.state, to_state=case.state,
                      data=data)
    audit(session, actor.email, "update", "letter", str(letter.id), {"returned_on": returned_on, "note": note})
    session.flush()
    return letter
