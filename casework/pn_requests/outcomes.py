"""What a school sees of its requests: each one's status, the notices issued and whether they were paid, and what
happens next. Limited to the user's schools by `pupil_scope` on the request's school; a request outside it does not
exist for them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, select

from ..models import PenaltyNotice, PnRequest, PnRequestEvidence, PnRequestNotice, PnRequestPupil, Pupil, School, User
from ..services.audit import audit
from ..services.errors import BadInput, PermissionDenied
from ..services.scope import pupil_scope
from .decide import Issued, issued_notices

PAGE_SIZE = 50
NOTICE_STATUSES = ("issued", "paid", "unpaid", "withdrawn", "prosecuted")


@dataclass
class RequestRow:
    request: PnRequest
    school: School
    pupils: list[str]
    notices: dict[str, int] = field(default_factory=dict)  # status -> count
    consider_prosecution: bool = False

    @property
    def notice_count(self) -> int:
        return sum(self.notices.values())


@dataclass(frozen=True)
class RequestPage:
    rows: list[RequestRow]
    page: int
    more: bool
    counts: dict[str, int]  # status -> requests of the user's schools


def _in_scope(session: Session, user: User):
    return pupil_scope(session, user, PnRequest.school_id)


def school_requests(session: Session, user: User, page: int = 1) -> RequestPage:
    """One page of the user's schools' requests, newest first, with their notices by status (four queries)."""
    scope = _in_scope(session, user)
    counts = dict(session.exec(select(PnRequest.status, func.count()).where(scope)
                               .group_by(PnRequest.status)).all())
    requests = session.exec(select(PnRequest, School).join(School, School.id == PnRequest.school_id).where(scope)
                            .order_by(PnRequest.submitted_at.desc(), PnRequest.id.desc())
                            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    shown = requests[:PAGE_SIZE]
    ids = [r.id for r, _ in shown] or [0]
    rows = {r.id: RequestRow(r, s, []) for r, s in shown}
    for request_id, forename, surname, consider in session.exec(
            select(PnRequestPupil.request_id, Pupil.forename, Pupil.surname, PnRequestPupil.consider_prosecution)
            .join(Pupil, Pupil.id == PnRequestPupil.pupil_id).where(PnRequestPupil.request_id.in_(ids))
            .order_by(PnRequestPupil.id)).all():
        rows[request_id].pupils.append(f"{forename} {surname}")
        rows[request_id].consider_prosecution |= consider
    for request_id, status, count in session.exec(
            select(PnRequestNotice.request_id, PenaltyNotice.status, func.count())
            .join(PenaltyNotice, PenaltyNotice.id == PnRequestNotice.penalty_notice_id)
            .where(PnRequestNotice.request_id.in_(ids)).group_by(PnRequestNotice.request_id, PenaltyNotice.status)):
        rows[request_id].notices[status] = count
    audit(session, user.email, "read", "pn_requests", user.email, {"page": page})
    return RequestPage(list(rows.values()), page, len(requests) > PAGE_SIZE, counts)


@dataclass
class ChildOutcome:
    pupil: Pupil
    consider_prosecution: bool
    notes: list[str]
    notices: list[Issued]


@dataclass
class SchoolView:
    request: PnRequest
    school: School
    evidence: list[PnRequestEvidence]
    children: list[ChildOutcome]
    replaced_by: PnRequest | None
    replaces: PnRequest | None

    @property
    def notices(self) -> list[Issued]:
        return [n for child in self.children for n in child.notices]

    def notice_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for issued in self.notices:
            counts[issued.notice.status] = counts.get(issued.notice.status, 0) + 1
        return counts


def scoped_request(session: Session, user: User, ref: str) -> PnRequest:
    """The request, if it is one of the user's schools' (BadInput when missing, PermissionDenied out of scope)."""
    request = session.exec(select(PnRequest).where(PnRequest.ref == ref)).first()
    if request is None:
        raise BadInput(f"request {ref}: no such request")
    allowed = session.exec(select(PnRequest.id).where(PnRequest.id == request.id, _in_scope(session, user))).first()
    if allowed is None:
        raise PermissionDenied(f"{user.email} may not see request {ref}")
    return request


def school_view(session: Session, user: User, ref: str) -> SchoolView:
    """One request as its school sees it (the read is audited)."""
    request = scoped_request(session, user, ref)
    notices = issued_notices(session, [request.id]).get(request.id, [])
    children = [ChildOutcome(pupil, rp.consider_prosecution, json.loads(rp.notes),
                             [n for n in notices if n.pupil.id == pupil.id])
                for rp, pupil in session.exec(select(PnRequestPupil, Pupil).join(Pupil, Pupil.id == PnRequestPupil.pupil_id)
                                              .where(PnRequestPupil.request_id == request.id)
                                              .order_by(PnRequestPupil.id)).all()]
    evidence = session.exec(select(PnRequestEvidence).where(PnRequestEvidence.request_id == request.id)
                            .order_by(PnRequestEvidence.id)).all()
    replaced_by = session.exec(select(PnRequest).where(PnRequest.replaces_id == request.id)).first()
    audit(session, user.email, "read", "pn_request", request.ref)
    return SchoolView(request, session.get(School, request.school_id), list(evidence), children, replaced_by,
                      session.get(PnRequest, request.replaces_id) if request.replaces_id else None)


def evidence_file(session: Session, user: User, ref: str, evidence_id: int) -> PnRequestEvidence:
    """An uploaded evidence file of a request the user may see (school users: their schools'; officers: any)."""
    if user.role == "school":
        request = scoped_request(session, user, ref)
    elif user.role in ("aeo", "manager"):
        request = session.exec(select(PnRequest).where(PnRequest.ref == ref)).first()
    else:
        raise PermissionDenied(f"{user.email} may not see request evidence")
    item = session.get(PnRequestEvidence, evidence_id)
    if request is None or item is None or item.request_id != request.id or not item.path:
        raise BadInput(f"request {ref} has no evidence file {evidence_id}")
    audit(session, user.email, "export", "pn_request_evidence", f"{ref}/{evidence_id}", {"sha256": item.sha256})
    return item
