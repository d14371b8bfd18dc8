"""Issue letters: one per recipient, preflighted, rendered together, stored content-addressed with a snapshot of
their inputs and their template set, recorded immutably; and render an issued letter again (redacted)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import inspect
from sqlmodel import Session, select

from workflows.definition import Pathway, TransitionDef
from workflows.guards import pn_refusal_for_parent

from .. import chronology, clock
from ..models import Case, CaseEvent, Contact, Deadline, Letter, PenaltyNotice, Setting, User
from ..register import codes, measures
from ..services.errors import BadInput, Blocked
from ..services.facts import CaseContext, Parent, paid_total
from ..services.settings import authority_settings
from . import preflight, render, snapshot, storage

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
    "issue_letter": "Letter sent",
}

MAX_PAGES_SETTING = "letter_max_pages"


def max_pages(session: Session) -> int:
    """The page limit preflight applies to a letter (setting `letter_max_pages`, default 3)."""
    row = session.get(Setting, MAX_PAGES_SETTING)
    return int(row.value) if row and row.value.strip() else preflight.DEFAULT_MAX_PAGES


# ---------------------------------------------------------------- contexts

def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def address_lines(obj) -> list[str]:
    return [v for v in (obj.address_line1, obj.address_line2, obj.town, obj.postcode) if v and v.strip()]


def full_name(contact: Contact) -> str:
    return " ".join(v for v in (contact.forename, contact.surname) if v)


def authority_context(session: Session) -> dict:
    """The `authority` part of every letter's context, from the authority settings (logo included)."""
    values = authority_settings(session)
    logo = values.get("logo") or ""
    return {
        "name": values["authority_name"], "address_lines": _lines(values["authority_address"]),
        "phone": values["authority_phone"], "email": values["authority_email"],
        "website": values["authority_website"], "signatory_name": values["signatory_name"],
        "signatory_title": values["signatory_title"], "payee_name": values["payee_name"],
        "payee_address_lines": _lines(values["payee_address"]),
        "payment_methods": _lines(values["payment_methods"]),
        "payment_reference_hint": values["payment_reference_hint"],
        "logo": {"path": logo, "media_type": values.get("logo_type") or ""} if logo else None,
    }


def _pupil_address_withheld(ctx: CaseContext, recipient: Contact) -> bool:
    """Withhold the child's address from a parent who does not live there when a parent living there is confidential."""
    confidential_home = any(p.contact.address_confidential and p.link.lives_with_pupil for p in ctx.parents)
    recipient_lives_there = any(p.contact.id == recipient.id and p.link.lives_with_pupil for p in ctx.parents)
    return confidential_home and not recipient_lives_there


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
    events = chronology.events_of(session, case)
    out = []
    for e in events:
        if e.trigger not in EVENT_DESCRIPTIONS:
            continue
        data = json.loads(e.data)
        detail = data.get("actions") or data.get("requirements") or data.get("reason") or data.get("letter") or ""
        what = EVENT_DESCRIPTIONS[e.trigger] + (f": {detail}" if detail else "")
        out.append({"on": e.on, "what": what})
    return out


def build_context(session: Session, kind: str, case: Case, ctx: CaseContext, user: User, on: date, data: dict,
                  contact: Contact, parent: Parent | None, pn: PenaltyNotice | None, letter_ref: str,
                  authority: dict, period: tuple[date | None, date | None] = (None, None)) -> dict:
    """The full context contract of `casework.letters.samples` for one letter to one recipient.

    `period` is the offence period the trigger relies on; the attendance figures cover it (or the threshold window
    when it is not given). A penalty notice's letters cover the notice's own offence period."""
    pupil = ctx.pupil
    if pn is not None:
        period = (pn.offence_start, pn.offence_end)
    attendance = _attendance(ctx, on, *period)
    context = {
        "authority": authority,
        "letter": {"kind": kind, "ref": letter_ref, "issued_on": on, "case_ref": case.ref},
        "recipient": {
            "title": contact.title, "forename": contact.forename, "surname": contact.surname,
            "full_name": full_name(contact), "address_lines": address_lines(contact), "contact_id": contact.id,
            "relationship": parent.link.relationship if parent else "",
            "s576_basis": parent.link.s576_basis if parent else "",
        },
        "pupil": {
            "forename": pupil.forename, "surname": pupil.surname, "full_name": f"{pupil.forename} {pupil.surname}",
            "date_of_birth": pupil.date_of_birth, "year_group": pupil.year_group,
            "address_lines": None if _pupil_address_withheld(ctx, contact) else address_lines(pupil),
            "lives_with": [p.contact.id for p in ctx.parents if p.link.lives_with_pupil],
        },
        "school": {"name": ctx.school.name if ctx.school else "", "urn": ctx.school.urn if ctx.school else ""},
        "officer": {
            "name": user.name or user.email, "email": user.email, "phone": authority["phone"],
            "title": "Attendance and Entitlement Officer" if user.role in ("aeo", "manager") else "Legal Officer",
            "authorisation": f"Authorised officer of {authority['name']} under section 444A of the "
                             "Education Act 1996",
        },
        "attendance": attendance,
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
        context["pn"] = _pn_context(session, pn, attendance)
    if kind in ("prosecution_warning", "interview_invitation"):
        context["prosecution"] = _prosecution(session, case, data)
    return context


def _pn_context(session: Session, pn: PenaltyNotice, attendance: dict) -> dict:
    paid = paid_total(session, pn)
    return {
        "ref": pn.ref, "issued_on": pn.issued_on, "offence_start": pn.offence_start,
        "offence_end": pn.offence_end, "receipt_on": pn.receipt_on, "reduced_until": pn.reduced_until,
        "pay_by": pn.pay_by, "amount_reduced": pn.amount_reduced, "amount_full": pn.amount_full,
        "second_notice": pn.amount_reduced is None, "unauthorised_sessions": len(attendance["unauthorised"]),
        "withdrawn_on": pn.withdrawn_on, "ground": pn.withdrawal_ground,
        "ground_text": WITHDRAWAL_GROUNDS.get(pn.withdrawal_ground, ""), "amount_paid": paid, "refund_due": paid > 0,
    }


def _prosecution(session: Session, case: Case, data: dict) -> dict:
    """The charged section and offence period: from this trigger's data, else from the referral on the case."""
    if "section" not in data:
        referral = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                        CaseEvent.trigger == "refer_for_prosecution")
                                .order_by(CaseEvent.seq.desc())).first()
        data = json.loads(referral.data) if referral else {}
    return {"section": data.get("section", ""), "offence_start": case.offence_start, "offence_end": case.offence_end}


# ---------------------------------------------------------------- preflight of recipients

def _letters_due(t: TransitionDef, data: dict) -> bool:
    return (all(data.get(key) == value for key, value in t.letters_when.items())
            and not any(data.get(key) == value for key, value in t.letters_unless.items()))


def trigger_recipients(session: Session, pathway: Pathway, t: TransitionDef, case: Case, ctx: CaseContext, facts,
                       data: dict) -> list[Contact]:
    """Who the trigger's letters will go to, known before its effects are written."""
    if not _letters_due(t, data):
        return []
    out: list[Contact] = []
    by_ref = {p.contact_ref: p for p in facts.parents}
    for kind in t.letters:
        to = pathway.letters[kind]["to"]
        if to == "parents":
            out += [p.contact for p in ctx.parents]
        elif to == "penalty_notice_recipients":
            out += [p.contact for p in ctx.parents if p.contact.contact_ref in by_ref
                    and not pn_refusal_for_parent(facts, by_ref[p.contact.contact_ref])]
        else:
            pn = session.exec(select(PenaltyNotice).where(PenaltyNotice.ref == data.get("pn"),
                                                          PenaltyNotice.case_id == case.id)).first()
            out += [session.get(Contact, pn.contact_id)] if pn else []
    return list({c.id: c for c in out}.values())


def recipient_problems(contacts: list[Contact]) -> list[str]:
    """Why letters to these contacts cannot be posted (address preflight), one reason per problem."""
    return [problem for c in contacts for problem in preflight.address_problems(full_name(c), address_lines(c))]


# ---------------------------------------------------------------- issuing

@dataclass
class Planned:
    """One letter to issue: its kind, its case and chronology event, its recipient (and PN) and its context."""

    kind: str
    case: Case
    event: CaseEvent | None
    contact: Contact
    pn: PenaltyNotice | None
    context: dict


def _recipients(to: str, ctx: CaseContext, pns: list[PenaltyNotice], session: Session):
    """(contact, parent link or None, penalty notice or None) for each letter of this kind."""
    links = {p.contact.id: p for p in ctx.parents}
    if to == "parents":
        return [(p.contact, p, None) for p in ctx.parents]
    out = []
    for pn in pns:
        contact = session.get(Contact, pn.contact_id)
        out.append((contact, links.get(contact.id), pn))
    return out


def issue_letters(session: Session, pathway: Pathway, t: TransitionDef, case: Case, ctx: CaseContext, facts,
                  user: User, on: date, data: dict, pns: list[PenaltyNotice], event: CaseEvent) -> list[Letter]:
    """Render, preflight, store and record every letter the trigger issues (one per recipient).

    Blocked (nothing stored) when any letter fails preflight; the caller's trigger is then refused."""
    if not _letters_due(t, data):
        return []
    authority = authority_context(session)
    planned = []
    for kind in t.letters:
        for contact, parent, pn in _recipients(pathway.letters[kind]["to"], ctx, pns, session):
            letter_ref = f"{case.ref}-{event.seq:02d}-{contact.contact_ref}"
            planned.append(Planned(kind, case, event, contact, pn, build_context(
                session, kind, case, ctx, user, on, data, contact, parent, pn, letter_ref, authority,
                (facts.offence_start, facts.offence_end))))
    return store_letters(session, on, planned)


def _label(kind: str) -> str:
    return kind.replace("_", " ")


def render_planned(session: Session, planned: list[Planned]) -> list[render.Rendered]:
    """Render every planned letter with its layout checked; Blocked with every problem found."""
    try:
        rendered = render.render_jobs([render.job(p.kind, p.context) for p in planned], max_pages=max_pages(session))
    except render.LetterError as exc:
        raise Blocked([f"letters cannot be issued: {exc}"]) from None
    problems = [f"the {_label(p.kind)} letter to {full_name(p.contact)} cannot be posted: {problem}"
                for p, r in zip(planned, rendered) for problem in r.problems]
    if problems:
        raise Blocked(problems)
    return rendered


def store_templates(templates: render.Templates) -> str:
    """Keep a template set in the file store (once per version) so letters rendered with it can be reproduced."""
    sha, path = storage.store(templates.source, suffix=".json")
    assert sha == templates.version
    return path


def load_templates(version: str) -> render.Templates:
    try:
        data = storage.load_verified(f"{version[:2]}/{version}.json", version)
    except storage.StorageError as exc:  # not in the store, or altered
        raise render.LetterError(f"the letter templates of version {version[:12]} cannot be used: {exc}") from None
    return render.Templates.from_source(data)


def store_letters(session: Session, on: date, planned: list[Planned]) -> list[Letter]:
    """Render (preflighted, together: a large batch on every core) and store the planned letters, of one case or
    many; the Letter rows, flushed. Blocked, with nothing stored, when any letter fails preflight.

    Inside `rendering_deferred()` the rows are recorded without their PDFs, which `render_deferred` adds later."""
    if not planned:
        return []
    pending = _deferred.get()
    rendered = render_planned(session, planned) if pending is None else [None] * len(planned)
    versions = {}
    letters = []
    for p, r in zip(planned, rendered):
        templates = render.templates_for(p.kind)
        if templates.version not in versions:
            versions[templates.version] = store_templates(templates)
        sha, path = storage.store(r.pdf) if r is not None else ("", "")
        letter = Letter(case_id=p.case.id, event_id=p.event.id if p.event else None, kind=p.kind,
                        contact_id=p.contact.id, penalty_notice_id=p.pn.id if p.pn else None, issued_on=on, recorded_at=clock.now(),
                        template_version=templates.version, sha256=sha, path=path, pages=r.pages if r else 0,
                        snapshot=snapshot.dumps(p.kind, p.context, templates.version),
                        postcode=p.contact.postcode.strip().upper(), status="generated")
        session.add(letter)
        letters.append(letter)
        if pending is not None:
            pending.append((p, letter))
    session.flush()
    return letters


_deferred: ContextVar[list[tuple[Planned, Letter]] | None] = ContextVar("casework_deferred_letters", default=None)


@contextmanager
def rendering_deferred():
    """Record the letters that triggers issue inside the block without rendering them, so that many triggers' letters
    can be rendered as one batch over every core by `render_deferred` (bulk work: accepting many requests).

    The rows have no PDF until `render_deferred` has run: a caller must run it before committing, and roll back
    when it (or anything else) fails."""
    token = _deferred.set([])
    try:
        yield
    finally:
        _deferred.reset(token)


def render_deferred(session: Session) -> list[Letter]:
    """Render, preflight and store every letter recorded so far in `rendering_deferred()` and complete their rows.

    Letters of triggers that were rolled back (a savepoint a guard refused) are left out. Blocked, with no row
    completed, when any letter fails preflight."""
    pending = _deferred.get()
    if pending is None:
        raise RuntimeError("render_deferred is only for use inside rendering_deferred()")
    kept = [(p, letter) for p, letter in pending if inspect(letter).persistent]
    pending.clear()
    if not kept:
        return []
    rendered = render_planned(session, [p for p, _ in kept])
    for (_, letter), r in zip(kept, rendered):
        letter.sha256, letter.path = storage.store(r.pdf)
        letter.pages = r.pages
        session.add(letter)
    session.flush()
    return [letter for _, letter in kept]


# ---------------------------------------------------------------- letters an officer sends on request

@dataclass(frozen=True)
class OnRequest:
    """A letter the pathway has no trigger for, sent to every parent from the states where it makes sense."""

    label: str
    states: tuple[str, ...]
    requires: tuple[str, ...]
    optional: tuple[str, ...] = ()


SUPPORT_STATES = ("concern", "consultation", "action_plan", "parenting_contract")
ON_REQUEST = {
    "meeting_invitation": OnRequest("Invitation to an attendance meeting", SUPPORT_STATES,
                                    ("meeting_on", "meeting_place"), ("purpose",)),
    "meeting_not_attended": OnRequest("Meeting not attended", SUPPORT_STATES + ("notice_to_improve",),
                                      ("missed_on",), ("meeting_on", "meeting_place")),
}
_DATE_TIME_KEYS, _DATE_KEYS = {"meeting_on"}, {"missed_on"}


def _when(key: str, value: str) -> date | datetime:
    text = value.strip().replace(" ", "T", 1)
    try:
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError:
        kind = "date" if key in _DATE_KEYS else "date, or date and time"
        raise BadInput(f"{key}: {value!r} is not a {kind} (use YYYY-MM-DD"
                       + (" or YYYY-MM-DD HH:MM)" if key in _DATE_TIME_KEYS else ")")) from None


def request_data(kind: str, raw: dict[str, str], on: date) -> dict:
    """The data of a letter sent on request, parsed and checked (BadInput for anything wrong)."""
    spec = ON_REQUEST.get(kind)
    if spec is None:
        raise BadInput(f"{kind!r} is not a letter sent on request; expected one of {', '.join(ON_REQUEST)}")
    data: dict = {}
    for key, value in raw.items():
        if key not in spec.requires + spec.optional:
            raise BadInput(f"{key}: not a detail of a {spec.label.lower()} letter")
        if value.strip():
            data[key] = _when(key, value) if key in _DATE_TIME_KEYS | _DATE_KEYS else " ".join(value.split())
    missing = [key for key in spec.requires if key not in data]
    if missing:
        raise BadInput(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
    if "missed_on" in data and data["missed_on"] > on:
        raise BadInput(f"missed_on {data['missed_on'].isoformat()} is after the letter's date {on.isoformat()}")
    if "meeting_on" in data and _as_date(data["meeting_on"]) < on:
        raise BadInput(f"meeting_on {_as_date(data['meeting_on']).isoformat()} is before the letter's date")
    if ("meeting_on" in data) != ("meeting_place" in data):
        raise BadInput("give both meeting_on and meeting_place for a meeting")
    return data


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


# ---------------------------------------------------------------- reproducing

def rerender(letter: Letter, redact_addresses: set[int] | frozenset[int] = frozenset()) -> bytes:
    """The letter rendered again from its snapshot and its own template set, as PDF bytes.

    With `redact_addresses` (contact ids), the address of each of those contacts is withheld wherever the letter
    prints it (the recipient's, and the child's when the child lives with them), and every page is marked as a
    redacted copy with the SHA-256 of the original. Without, the same text as the original."""
    if not letter.snapshot:
        raise render.LetterError(f"letter {letter.id} was issued before snapshots were kept; only its PDF exists")
    kind, version, context = snapshot.loads(letter.snapshot)
    templates = load_templates(version)
    if redact_addresses:
        context["redaction"] = {"withheld": _withhold(context, set(redact_addresses)),
                                "original_sha256": letter.sha256}
    return render.render_pdf(kind, context, templates)


def _withhold(context: dict, contact_ids: set[int]) -> str:
    withheld = []
    recipient, pupil = context["recipient"], context["pupil"]
    if recipient.get("contact_id") in contact_ids:
        recipient["address_lines"] = ["Address withheld (redacted copy)"]
        withheld.append("the recipient's address")
    if set(pupil.get("lives_with") or ()) & contact_ids and pupil.get("address_lines") is not None:
        pupil["address_lines"] = None
        withheld.append("the child's address")
    return " and ".join(withheld) if withheld else "no address in this letter"
