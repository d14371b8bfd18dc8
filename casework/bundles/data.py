"""Everything a bundle is made from, loaded once per build with a fixed number of queries."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlmodel import Session, select

import workflows
from workflows.definition import Pathway

from .. import chronology
from ..models import (Case, CaseEvent, Contact, EvidenceDocument, Letter, Payment, PenaltyNotice, Pupil, School,
                      User)
from ..register import measures
from ..register.measures import Segment
from ..services.facts import Parent, parents_of
from ..services.settings import authority_settings


@dataclass
class Event:
    row: CaseEvent
    data: dict
    actor_name: str


@dataclass
class BundleData:
    """One case as the bundle needs it."""

    case: Case
    pathway: Pathway
    pupil: Pupil
    school: School
    schools_by_urn: dict[str, School]
    segments: list[Segment]
    parents: list[Parent]
    contacts: dict[int, Contact]
    events: list[Event]
    letters: list[Letter]
    penalty_notices: list[PenaltyNotice]
    payments: dict[int, list[Payment]]
    uploads: list[EvidenceDocument]
    authority: dict[str, str]
    officer: User | None
    today: date

    def latest(self, trigger: str) -> Event | None:
        """The last event of this trigger on the case."""
        found = [e for e in self.events if e.row.trigger == trigger]
        return found[-1] if found else None

    @property
    def confidential_contacts(self) -> list[Contact]:
        return [c for c in self.contacts.values() if c.address_confidential]


def _officer(session: Session, case: Case, events: list[Event]) -> User | None:
    """The officer who makes the witness statement: the case's officer, else whoever referred the case."""
    if case.officer_id:
        return session.get(User, case.officer_id)
    referral = [e for e in events if e.row.trigger == "refer_for_prosecution"]
    if referral and referral[-1].row.actor_id:
        return session.get(User, referral[-1].row.actor_id)
    return None


def load(session: Session, case: Case, today: date) -> BundleData:
    """The case, its pupil, parents, chronology, letters, penalty notices, payments, uploads and register."""
    pupil = session.get(Pupil, case.pupil_id)
    rows = chronology.events_of(session, case)
    emails = {e.actor_email for e in rows if e.actor_email}
    names = dict(session.exec(select(User.email, User.name).where(User.email.in_(emails))).all()) if emails else {}
    events = [Event(e, json.loads(e.data or "{}"), names.get(e.actor_email) or e.actor_email) for e in rows]
    letters = session.exec(select(Letter).where(Letter.case_id == case.id)
                           .order_by(Letter.issued_on, Letter.id)).all()
    parents = parents_of(session, pupil)
    contact_ids = {letter.contact_id for letter in letters} - {p.contact.id for p in parents}
    contacts = {p.contact.id: p.contact for p in parents}
    if contact_ids:
        contacts.update({c.id: c for c in session.exec(select(Contact).where(Contact.id.in_(contact_ids))).all()})
    notices = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)
                           .order_by(PenaltyNotice.issued_on, PenaltyNotice.id)).all()
    payments: dict[int, list[Payment]] = {pn.id: [] for pn in notices}
    if notices:
        for payment in session.exec(select(Payment).where(Payment.penalty_notice_id.in_(list(payments)))
                                    .order_by(Payment.paid_on, Payment.id)).all():
            payments[payment.penalty_notice_id].append(payment)
    uploads = session.exec(select(EvidenceDocument).where(EvidenceDocument.case_id == case.id,
                                                          EvidenceDocument.withdrawn_at.is_(None))
                           .order_by(EvidenceDocument.id)).all()
    segments = measures.load_segments(session, [pupil.id]).get(pupil.id, [])
    urns = {s.school_urn for s in segments}
    schools = {s.urn: s for s in session.exec(select(School).where(School.urn.in_(urns))).all()} if urns else {}
    school = session.get(School, case.school_id)
    schools.setdefault(school.urn, school)
    return BundleData(
        case=case, pathway=workflows.load_key(case.pathway), pupil=pupil, school=school, schools_by_urn=schools,
        segments=segments, parents=parents, contacts=contacts, events=events, letters=list(letters),
        penalty_notices=list(notices), payments=payments, uploads=list(uploads),
        authority=authority_settings(session), officer=_officer(session, case, events), today=today)


def paid(payments: list[Payment]) -> Decimal:
    return sum((p.amount for p in payments), Decimal("0.00"))
