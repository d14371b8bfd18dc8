"""Issue a trigger's letters: one per recipient, rendered together, stored content-addressed, recorded immutably."""
from __future__ import annotations

import json
from datetime import date

from sqlmodel import Session, select

from workflows.definition import Pathway, TransitionDef

from .. import clock
from ..models import Case, CaseEvent, Contact, Deadline, Letter, PenaltyNotice, User
from ..register import codes, measures
from ..services.facts import CaseContext, Parent, paid_total
from ..services.settings import authority_settings
from . import render, storage

WITHDRAWAL_GROUNDS = {
    "ought_not_to_have_been_issued": "the notice ought not to have been issued",
    "wrong_person": "the notice was issued to the wrong person",
    "material_error": "the notice contains a material error",
}

EVENT_DESCRIPTIONS = {
    "raise_concern": "Attendance concern raised",
    "start_consultation": "Consultation with the school started",
    "agree_action_plan": "Support plan agreed",
    "offer_parenting_contract": "Attendance contract agreed",
    "issue_notice_to_improve": "Notice to improve issued",
    "issue_penalty_notice": "Penalty notice issued",
    "step_down": "Stepped down to a support plan",
}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _address(obj) -> list[str]:
    return [v for v in (obj.address_line1, obj.address_line2, obj.town, obj.postcode) if v]


def _pupil_address_withheld(ctx: CaseContext, recipient: Contact) -> bool:
    """Withhold the child's address from a parent who does not live there when a parent living there is confidential."""
    confidential_home = any(p.contact.address_confidential and p.link.lives_with_pupil for p in ctx.parents)
    recipient_lives_there = any(p.contact.id == recipient.id and p.link.lives_with_pupil for p in ctx.parents)
    return confidential_home and not recipient_lives_there


def _recipients(t_kind_to: str, ctx: CaseContext, pns: list[PenaltyNotice], session: Session):
    """(contact, link or None, penalty notice or None) for each letter of this kind."""
    links = {p.contact.id: p for p in ctx.parents}
    if t_kind_to == "parents":
        return [(p.contact, p, None) for p in ctx.parents]
    out = []
    for pn in pns:
        contact = session.get(Contact, pn.contact_id)
        out.append((contact, links.get(contact.id), pn))
    return out


def _attendance(ctx: CaseContext, on: date, start: date | None, end: date | None) -> dict:
    m = ctx.measures(on)
    if start is None or end is None:
        window = m["pn_threshold"]
        start = date.fromisoformat(window["window_start"]) if window["window_start"] else on
        end = min(date.fromisoformat(window["window_end"]), on) if window["window_end"] else on
    unauthorised = [
        {"date": day, "session": session, "code": code, "description": codes.description(code)}
        for day, session, code in measures.unauthorised_sessions(ctx.segments, start, end)
    ]
    rate = m["absence_rate"]
    return {
        "as_of": on, "possible_sessions": m["possible_sessions"], "present_sessions": m["present_sessions"],
        "authorised_absence": m["authorised_absence"], "unauthorised_absence": m["unauthorised_absence"],
        "absence_rate": None if rate is None else f"{rate:.1f}",
        "attendance_rate": None if rate is None else f"{100 - rate:.1f}",
        "period_start": start, "period_end": end, "unauthorised": unauthorised,
    }


def _support_history(session: Session, case: Case) -> list[dict]:
    events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
    out = []
    for e in events:
        if e.trigger not in EVENT_DESCRIPTIONS:
            continue
        data = json.loads(e.data)
        detail = data.get("actions") or data.get("requirements") or data.get("reason") or ""
        what = EVENT_DESCRIPTIONS[e.trigger] + (f": {detail}" if detail else "")
        out.append({"on": e.on, "what": what})
    return out


def build_context(session: Session, pathway: Pathway, kind: str, case: Case, ctx: CaseContext, facts, user: User,
                  on: date, data: dict, contact: Contact, parent: Parent | None, pn: PenaltyNotice | None,
                  letter_ref: str, authority: dict) -> dict:
    """The full context contract of `casework.letters.samples` for one letter to one recipient."""
    pupil = ctx.pupil
    name = " ".join(v for v in (contact.forename, contact.surname) if v)
    context = {
        "authority": {
            "name": authority["authority_name"], "address_lines": _lines(authority["authority_address"]),
            "phone": authority["authority_phone"], "email": authority["authority_email"],
            "website": authority["authority_website"], "signatory_name": authority["signatory_name"],
            "signatory_title": authority["signatory_title"], "payee_name": authority["payee_name"],
            "payee_address_lines": _lines(authority["payee_address"]),
            "payment_methods": _lines(authority["payment_methods"]),
            "payment_reference_hint": authority["payment_reference_hint"],
        },
        "letter": {"kind": kind, "ref": letter_ref, "issued_on": on, "case_ref": case.ref},
        "recipient": {
            "title": contact.title, "forename": contact.forename, "surname": contact.surname, "full_name": name,
            "address_lines": _address(contact), "relationship": parent.link.relationship if parent else "",
            "s576_basis": parent.link.s576_basis if parent else "",
        },
        "pupil": {
            "forename": pupil.forename, "surname": pupil.surname, "full_name": f"{pupil.forename} {pupil.surname}",
            "date_of_birth": pupil.date_of_birth, "year_group": pupil.year_group,
            "address_lines": None if _pupil_address_withheld(ctx, contact) else _address(pupil),
        },
        "school": {"name": ctx.school.name if ctx.school else "", "urn": ctx.school.urn if ctx.school else ""},
        "officer": {
            "name": user.name, "email": user.email, "phone": authority["authority_phone"],
            "title": "Attendance and Entitlement Officer" if user.role in ("aeo", "manager") else "Legal Officer",
            "authorisation": f"Authorised officer of {authority['authority_name']} under section 444A of the "
                             "Education Act 1996",
        },
        "attendance": _attendance(ctx, on, facts.offence_start, facts.offence_end),
        "data": data,
        "case": {"support_history": _support_history(session, case)},
    }
    if kind == "notice_to_improve":
        ends = session.exec(select(Deadline.due_on).where(Deadline.case_id == case.id,
                                                          Deadline.kind == "improvement_period_ends")
                            .order_by(Deadline.id.desc())).first()
        context["improvement"] = {
            "starts_on": on, "ends_on": ends, "weeks": data["improvement_weeks"],
            "target": data.get("improvement_target")
            or "no unauthorised absence, and every absence explained to the school on the first day, "
               "for the whole improvement period",
        }
    if pn is not None:
        paid = paid_total(session, pn)
        context["pn"] = {
            "ref": pn.ref, "issued_on": pn.issued_on, "offence_start": pn.offence_start,
            "offence_end": pn.offence_end, "receipt_on": pn.receipt_on, "reduced_until": pn.reduced_until,
            "pay_by": pn.pay_by, "amount_reduced": pn.amount_reduced, "amount_full": pn.amount_full,
            "second_notice": pn.amount_reduced is None,
            "unauthorised_sessions": facts.offence_threshold.unauthorised_sessions if facts.offence_threshold else 0,
            "withdrawn_on": pn.withdrawn_on, "ground": pn.withdrawal_ground,
            "ground_text": WITHDRAWAL_GROUNDS.get(pn.withdrawal_ground, ""), "amount_paid": paid,
            "refund_due": paid > 0,
        }
    if kind in ("prosecution_warning", "interview_invitation"):
        context["prosecution"] = _prosecution(session, case, data)
    return context


def _prosecution(session: Session, case: Case, data: dict) -> dict:
    """The charged section and offence period: from this trigger's data, else from the referral on the case."""
    if "section" not in data:
        referral = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                        CaseEvent.trigger == "refer_for_prosecution")
                                .order_by(CaseEvent.seq.desc())).first()
        data = json.loads(referral.data) if referral else {}
    return {"section": data.get("section", ""), "offence_start": case.offence_start, "offence_end": case.offence_end}


def issue_letters(session: Session, pathway: Pathway, t: TransitionDef, case: Case, ctx: CaseContext, facts,
                  user: User, on: date, data: dict, pns: list[PenaltyNotice], event: CaseEvent) -> list[Letter]:
    """Render, store and record every letter the trigger issues (one per recipient)."""
    if any(data.get(key) != value for key, value in t.letters_when.items()):
        return []
    authority = authority_settings(session)
    planned = []
    for kind in t.letters:
        for contact, parent, pn in _recipients(pathway.letters[kind]["to"], ctx, pns, session):
            letter_ref = f"{case.ref}-{event.seq:02d}-{contact.contact_ref}"
            planned.append((kind, contact, pn, build_context(session, pathway, kind, case, ctx, facts, user, on, data,
                                                             contact, parent, pn, letter_ref, authority)))
    if not planned:
        return []
    pdfs = render.render_pdfs([(kind, context) for kind, _, _, context in planned])
    letters = []
    for (kind, contact, pn, _), pdf in zip(planned, pdfs):
        pages = render.validate_pdf(pdf)
        sha, path = storage.store(pdf)
        letter = Letter(case_id=case.id, event_id=event.id, kind=kind, contact_id=contact.id,
                        penalty_notice_id=pn.id if pn else None, issued_on=on, recorded_at=clock.now(),
                        template_version=render.template_version(kind), sha256=sha, path=path, pages=pages)
        session.add(letter)
        letters.append(letter)
    session.flush()
    return letters

