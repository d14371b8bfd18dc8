"""The officers' side: the queue in arrival order, one request with everything needed to decide it, and the decisions.

Accepting goes through the pathway's own services: for each child, the open case (or a new one from `open_case`)
fires `issue_penalty_notice` with `support_inappropriate`, so the law's guards (threshold over the offence period,
no N codes, compulsory school age, not independent, one notice per parent per child, the 2-in-3-years rule) are
judged there, notices and their letters are issued there, and nothing here repeats them.

A child who already has an open case: at `concern`, `consultation` or `action_plan` the notices are issued on that case
(the pathway's one-open-case rule); at any later state the request waits until the officer has dealt with that case
(for example closed a paid penalty-notice case), because a notice there would bypass the case's own route.

A parent at the 2-in-3-years limit gets no notice: the child's case is kept (opened if need be) and marked for the
officer to consider prosecution or another route, and the school is told. When every parent of a child is at the
limit, the child's case stays at `concern` with that note and no notice is issued for the child.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from sqlmodel import Session, select

import workflows
from workflows.data import parse as parse_data
from workflows.guards import GUARDS, pn_refusal_for_parent

from .. import clock
from ..models import (Case, Contact, Letter, PenaltyNotice, PnRequest, PnRequestEvidence, PnRequestNotice, PnRequestPupil,
                      Pupil, School, User)
from ..register import measures
from ..services import facts as facts_mod
from ..services.audit import audit
from ..services.cases import fire, open_case, pn_amounts
from ..services.errors import BadInput, Blocked, PermissionDenied
from ..services.users import get_user
from . import conduct as conduct_mod
from .conduct import PupilCheck, long_date
from .submit import pupil_facts

OFFICER_ROLES = ("aeo", "manager")
PAGE_SIZE = 50
PN_LANE_STATES = ("concern", "consultation", "action_plan")
TRIGGER = "issue_penalty_notice"


def officer(session: Session, actor_email: str) -> User:
    user = get_user(session, actor_email)
    if user.role not in OFFICER_ROLES:
        raise PermissionDenied(f"{user.email} ({user.role}) may not decide penalty notice requests")
    return user


def get_request(session: Session, ref: str, lock: bool = False) -> PnRequest:
    query = select(PnRequest).where(PnRequest.ref == ref)
    request = session.exec(query.with_for_update() if lock else query).first()
    if request is None:
        raise BadInput(f"request {ref}: no such request")
    if lock:
        session.refresh(request)
    return request


# ---------------------------------------------------------------- the code of conduct, again, for many requests

@dataclass
class RequestCheck:
    """A request judged now: the code of conduct for each child and the state of each child's open case."""

    pupils: list[tuple[Pupil, PupilCheck]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    open_cases: dict[int, Case] = field(default_factory=dict)

    @property
    def passes(self) -> bool:
        return not self.problems


def _loaded(session: Session, requests: list[PnRequest]):
    """Pupils (by request), schools, registers, evidence kinds and open cases of these requests: six queries."""
    ids = [r.id for r in requests]
    rows = session.exec(select(PnRequestPupil.request_id, Pupil).join(Pupil, Pupil.id == PnRequestPupil.pupil_id)
                        .where(PnRequestPupil.request_id.in_(ids)).order_by(PnRequestPupil.id)).all()
    pupils: dict[int, list[Pupil]] = {}
    for request_id, pupil in rows:
        pupils.setdefault(request_id, []).append(pupil)
    pupil_ids = [p.id for _, p in rows]
    schools = {s.id: s for s in session.exec(select(School).where(
        School.id.in_({r.school_id for r in requests}))).all()}
    segments = measures.load_segments(session, pupil_ids) if pupil_ids else {}
    kinds: dict[int, set[str]] = {}
    for request_id, kind in session.exec(select(PnRequestEvidence.request_id, PnRequestEvidence.kind)
                                         .where(PnRequestEvidence.request_id.in_(ids))).all():
        kinds.setdefault(request_id, set()).add(kind)
    open_states = workflows.load().open_states
    cases = {c.pupil_id: c for c in session.exec(select(Case).where(Case.pupil_id.in_(pupil_ids or [0]),
                                                                    Case.state.in_(open_states))).all()}
    return pupils, schools, segments, kinds, cases


def _case_problem(pupil: Pupil, case: Case | None) -> list[str]:
    if case is None or case.state in PN_LANE_STATES:
        return []
    label = workflows.load_key(case.pathway).label(case.state)
    return [f"{pupil.forename} {pupil.surname} has an open case {case.ref} at {label}: deal with it on that case "
            "first (a notice cannot be issued alongside it), or return or refuse this request"]


def recheck(session: Session, requests: list[PnRequest]) -> dict[int, RequestCheck]:
    """request id -> the request judged now against the code of conduct (its time limit as of its submission)."""
    if not requests:
        return {}
    conduct = conduct_mod.code_of_conduct()
    pupils, schools, segments, kinds, cases = _loaded(session, requests)
    checks = {}
    for request in requests:
        school = schools[request.school_id]
        check = RequestCheck(problems=conduct_mod.evidence_problems(conduct, request.reason,
                                                                    kinds.get(request.id, set())))
        for pupil in pupils.get(request.id, []):
            judged = conduct_mod.check_pupil(conduct, request.reason, request.period_start, request.period_end,
                                             request.submitted_at.date(),
                                             pupil_facts(pupil, school, segments.get(pupil.id, [])))
            check.pupils.append((pupil, judged))
            check.problems += list(judged.problems) + _case_problem(pupil, cases.get(pupil.id))
            if pupil.id in cases:
                check.open_cases[pupil.id] = cases[pupil.id]
        checks[request.id] = check
    return checks


# ---------------------------------------------------------------- the queue

@dataclass(frozen=True)
class QueueRow:
    request: PnRequest
    school: School
    check: RequestCheck


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    waiting: int
    page: int
    pages: int


def waiting_count(session: Session) -> int:
    from sqlalchemy import func

    return session.exec(select(func.count()).select_from(PnRequest).where(PnRequest.status == "submitted")).one()


def queue(session: Session, user: User, page: int = 1) -> QueuePage:
    """One page of the requests waiting for a decision, oldest first, each judged again now."""
    officer(session, user.email)
    waiting = waiting_count(session)
    requests = session.exec(select(PnRequest).where(PnRequest.status == "submitted")
                            .order_by(PnRequest.submitted_at, PnRequest.id)
                            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    checks = recheck(session, list(requests))
    schools = {s.id: s for s in session.exec(select(School).where(
        School.id.in_({r.school_id for r in requests} or {0}))).all()}
    rows = [QueueRow(r, schools[r.school_id], checks[r.id]) for r in requests]
    return QueuePage(rows, waiting, page, max(1, -(-waiting // PAGE_SIZE)))


def passing_refs(session: Session, limit: int = 10_000, chunk: int = 500) -> list[str]:
    """Refs of waiting requests that pass every code-of-conduct check now, oldest first."""
    refs: list[str] = []
    offset = 0
    while len(refs) < limit:
        requests = session.exec(select(PnRequest).where(PnRequest.status == "submitted")
                                .order_by(PnRequest.submitted_at, PnRequest.id).offset(offset).limit(chunk)).all()
        if not requests:
            break
        checks = recheck(session, list(requests))
        refs += [r.ref for r in requests if checks[r.id].passes]
        offset += chunk
    return refs[:limit]


# ---------------------------------------------------------------- judging one child with the pathway's guards

def _trigger_data(request: PnRequest, conduct) -> dict[str, str]:
    label = conduct.reason(request.reason).label.lower()
    return {"support_inappropriate": f"{request.reason}: {label}; the school asked for penalty notices in request "
                                     f"{request.ref}",
            "offence_start": request.period_start.isoformat(), "offence_end": request.period_end.isoformat()}


def _concern_data(request: PnRequest, conduct) -> dict[str, str]:
    label = conduct.reason(request.reason).label.lower()
    return {"reason": f"absent from {long_date(request.period_start)} to {long_date(request.period_end)}: {label}, "
                      f"not authorised by the school (penalty notice request {request.ref})",
            "lane": "pn_request"}  # no concern letter: the parents get the notices (letters_unless in the pathway)


@dataclass
class ParentPlan:
    """What accepting would mean for one parent of one child."""

    name: str
    contact_ref: str
    amount_reduced: object = None
    amount_full: object = None
    refusal: str | None = None
    at_limit: bool = False


@dataclass
class ChildPlan:
    pupil: Pupil
    case: Case | None
    parents: list[ParentPlan]
    blocking: list[str]  # guard refusals other than "every parent is at the limit"

    @property
    def notices(self) -> int:
        return sum(1 for p in self.parents if p.refusal is None)


def plan_child(session: Session, user: User, request: PnRequest, pupil: Pupil, case: Case | None, on: date,
               conduct) -> ChildPlan:
    """The pathway's own judgement of issuing this child's notices now, parent by parent."""
    if case is not None and case.state not in PN_LANE_STATES:
        return ChildPlan(pupil, case, [], [])  # the request's check already says why it waits
    pathway = workflows.load_key(case.pathway) if case else workflows.load()
    state = case.state if case else pathway.states[0]
    data = parse_data(_trigger_data(request, conduct))
    ctx = facts_mod.load_context(session, pupil)
    facts = facts_mod.build(session, pathway, user=user, actor_has_pupil=True, ctx=ctx, case=case, on=on, data=data,
                            t=pathway.find(TRIGGER, state))
    decision = workflows.judge(pathway, state, TRIGGER, facts, data)
    limit = int(pathway.settings["pn_limit_per_parent_child"])
    parents = []
    for p in facts.parents:
        refusal = pn_refusal_for_parent(facts, p)
        reduced, full = pn_amounts(pathway, p.counting_pns_in_limit_window)
        parents.append(ParentPlan(p.name, p.contact_ref, reduced, full, refusal,
                                  p.counting_pns_in_limit_window >= limit))
    every_parent_at_limit = bool(parents) and all(p.at_limit for p in parents)
    limit_reasons = set(GUARDS["some_parent_eligible_for_pn"](facts, data)) if every_parent_at_limit else set()
    name = f"{pupil.forename} {pupil.surname}"
    blocking = [f"{name}: {reason}" for reason in decision.reasons if reason not in limit_reasons]
    return ChildPlan(pupil, case, parents, blocking)


# ---------------------------------------------------------------- one request, for the officer

@dataclass
class Issued:
    notice: PenaltyNotice
    pupil: Pupil
    parent_name: str
    case_ref: str
    letters: list[Letter]


@dataclass
class Review:
    request: PnRequest
    school: School
    evidence: list[PnRequestEvidence]
    check: RequestCheck
    children: list[ChildPlan]
    issued: list[Issued]
    outcomes: dict[int, PnRequestPupil]
    replaces: PnRequest | None

    @property
    def problems(self) -> list[str]:
        return self.check.problems + [b for child in self.children for b in child.blocking]

    @property
    def acceptable(self) -> bool:
        return self.request.status == "submitted" and not self.problems

    @property
    def notes(self) -> list[str]:
        """Why parents got no notice when the request was accepted (at the limit: consider prosecution)."""
        return [note for row in self.outcomes.values() for note in json.loads(row.notes)]


def issued_notices(session: Session, request_ids: list[int]) -> dict[int, list[Issued]]:
    """request id -> the notices it led to, with pupil, recipient, case and the notice's letters."""
    rows = session.exec(
        select(PnRequestNotice.request_id, PenaltyNotice, Pupil, Contact, Case.ref)
        .join(PenaltyNotice, PenaltyNotice.id == PnRequestNotice.penalty_notice_id)
        .join(Pupil, Pupil.id == PenaltyNotice.pupil_id).join(Contact, Contact.id == PenaltyNotice.contact_id)
        .join(Case, Case.id == PenaltyNotice.case_id)
        .where(PnRequestNotice.request_id.in_(request_ids or [0])).order_by(PenaltyNotice.id)).all()
    letters: dict[int, list[Letter]] = {}
    pn_ids = [pn.id for _, pn, _, _, _ in rows]
    for letter in session.exec(select(Letter).where(Letter.penalty_notice_id.in_(pn_ids or [0]))
                               .order_by(Letter.id)).all():
        letters.setdefault(letter.penalty_notice_id, []).append(letter)
    found: dict[int, list[Issued]] = {}
    for request_id, pn, pupil, contact, case_ref in rows:
        name = " ".join(v for v in (contact.title, contact.forename, contact.surname) if v)
        found.setdefault(request_id, []).append(Issued(pn, pupil, name, case_ref, letters.get(pn.id, [])))
    return found


def review(session: Session, ref: str, actor_email: str, on: date | None = None) -> Review:
    """Everything an officer needs to decide one request (the read is audited)."""
    user = officer(session, actor_email)
    on = on or clock.today()
    request = get_request(session, ref)
    conduct = conduct_mod.code_of_conduct()
    check = recheck(session, [request])[request.id]
    children = []
    if request.status == "submitted":
        children = [plan_child(session, user, request, pupil, check.open_cases.get(pupil.id), on, conduct)
                    for pupil, _ in check.pupils]
    evidence = session.exec(select(PnRequestEvidence).where(PnRequestEvidence.request_id == request.id)
                            .order_by(PnRequestEvidence.id)).all()
    outcomes = {rp.pupil_id: rp for rp in session.exec(select(PnRequestPupil).where(
        PnRequestPupil.request_id == request.id)).all()}
    audit(session, user.email, "read", "pn_request", request.ref)
    return Review(request, session.get(School, request.school_id), list(evidence), check, children,
                  issued_notices(session, [request.id]).get(request.id, []), outcomes,
                  session.get(PnRequest, request.replaces_id) if request.replaces_id else None)


# ---------------------------------------------------------------- decisions

@dataclass
class Accepted:
    request: PnRequest
    notices: list[PenaltyNotice] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)
    consider_prosecution: list[str] = field(default_factory=list)  # notes for parents at the limit
    already: bool = False


def _locked_submitted(session: Session, ref: str, wanted: str) -> tuple[PnRequest, bool]:
    """The request locked; (request, True) when it already has the outcome `wanted` (a repeated post)."""
    request = get_request(session, ref, lock=True)
    if request.status == wanted:
        return request, True
    if request.status != "submitted":
        raise Blocked([f"Request {ref} was already {request.status} on {long_date(request.decided_at.date())} "
                       f"by {request.decided_by}"])
    return request, False


def _decided(request: PnRequest, user: User, status: str, reason: str = "") -> None:
    request.status, request.decided_at, request.decided_by, request.decision_reason = (status, clock.now(),
                                                                                        user.email, reason)


def _fire_for_child(session: Session, user: User, request: PnRequest, pupil: Pupil, case_ref: str, on: date,
                    conduct) -> tuple[list[PenaltyNotice], list[Letter], list[str], list[str]]:
    """Fire the notices of one child on their case: (notices, letters, notes, notes of parents at the limit).

    The pathway's guards decide; only when they refuse, or a parent gets no notice, is the child judged again to
    tell a parent at the 2-in-3-years limit (routed to consider prosecution) from a real refusal (Blocked)."""
    try:
        with session.begin_nested():
            outcome = fire(session, case_ref, TRIGGER, user.email, on, _trigger_data(request, conduct))
    except Blocked as refused:
        plan = plan_child(session, user, request, pupil, _case(session, case_ref), on, conduct)
        if plan.blocking or not plan.parents or not all(p.at_limit for p in plan.parents):
            raise Blocked(plan.blocking or refused.reasons) from None
        notes = [p.refusal for p in plan.parents if p.refusal]
        return [], [], notes, notes
    at_limit: list[str] = []
    if outcome.notes:  # some parent got no notice: at the limit, or already holding one for these days
        served = {pn.contact_id for pn in outcome.penalty_notices}
        limited = {name for name in _names_at_limit(session, pupil, on, served)}
        at_limit = [note for note in outcome.notes if any(note.startswith(name) for name in limited)]
    return outcome.penalty_notices, outcome.letters, outcome.notes, at_limit


def _names_at_limit(session: Session, pupil: Pupil, on: date, served: set[int]) -> list[str]:
    """Names of the child's parents (other than `served`) holding the most counting notices the pathway allows."""
    pathway = workflows.load()
    limit, years = int(pathway.settings["pn_limit_per_parent_child"]), int(pathway.settings["pn_limit_years"])
    ctx = facts_mod.load_context(session, pupil)
    notices = [pn for pn, _ in ctx.pns]
    return [p.name for p in ctx.parents if p.contact.id not in served
            and len(facts_mod.counting_pns(notices, p.contact.id, on, years)) >= limit]


def _case(session: Session, ref: str) -> Case:
    return session.exec(select(Case).where(Case.ref == ref)).one()


def _accept_child(session: Session, user: User, request: PnRequest, pupil: Pupil, case: Case | None, on: date,
                  conduct, result: Accepted) -> None:
    case_ref = case.ref if case else open_case(session, pupil.upn, user.email, on,
                                               _concern_data(request, conduct)).case.ref
    notices, letters, notes, at_limit = _fire_for_child(session, user, request, pupil, case_ref, on, conduct)
    for pn in notices:
        session.add(PnRequestNotice(request_id=request.id, penalty_notice_id=pn.id))
    row = session.exec(select(PnRequestPupil).where(PnRequestPupil.request_id == request.id,
                                                    PnRequestPupil.pupil_id == pupil.id)).one()
    row.case_id, row.consider_prosecution, row.notes = _case(session, case_ref).id, bool(at_limit), json.dumps(notes)
    session.add(row)
    result.notices += notices
    result.letters += letters
    result.consider_prosecution += at_limit


def accept(session: Session, ref: str, actor_email: str, on: date | None = None) -> Accepted:
    """Issue the notices a request asks for, through the pathway, and tell the school; Blocked (nothing written) when
    any check or guard refuses. Accepting an accepted request again changes nothing."""
    user = officer(session, actor_email)
    on = on or clock.today()
    request, already = _locked_submitted(session, ref, "accepted")
    if already:
        return Accepted(request, already=True)
    check = recheck(session, [request])[request.id]
    if not check.passes:
        raise Blocked(check.problems)
    conduct = conduct_mod.code_of_conduct()
    result = Accepted(request)
    with session.begin_nested():  # one child refused: nothing of the request is written
        for pupil, _ in check.pupils:
            _accept_child(session, user, request, pupil, check.open_cases.get(pupil.id), on, conduct, result)
        _decided(request, user, "accepted")
        session.add(request)
        audit(session, user.email, "update", "pn_request", request.ref,
              {"decision": "accepted", "penalty_notices": [pn.ref for pn in result.notices],
               "consider_prosecution": result.consider_prosecution})
        session.flush()
    return result


def send_back(session: Session, ref: str, actor_email: str, decision: str, reason: str) -> PnRequest:
    """Return the request to the school, or refuse it, with the reason the school will read."""
    if decision not in ("returned", "refused"):
        raise BadInput(f"decision must be returned or refused (given {decision})")
    if not reason.strip():
        raise BadInput("Give the reason the school will read")
    user = officer(session, actor_email)
    request, already = _locked_submitted(session, ref, decision)
    if already:
        return request
    _decided(request, user, decision, reason.strip())
    session.add(request)
    audit(session, user.email, "update", "pn_request", request.ref, {"decision": decision, "reason": reason.strip()})
    session.flush()
    return request


@dataclass
class BulkResult:
    accepted: list[Accepted] = field(default_factory=list)
    skipped: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def notices(self) -> int:
        return sum(len(a.notices) for a in self.accepted)


BULK_CHUNK = 25  # requests accepted together: their letters (about 60) are rendered as one batch over every core


def accept_many(session: Session, refs: list[str], actor_email: str, on: date | None = None,
                after_each: Callable[[], None] | None = None) -> BulkResult:
    """Accept each request; one that a check or guard refuses is skipped with its reasons, the rest go ahead.

    Requests are accepted BULK_CHUNK at a time with their letters rendered together (one batch over every core);
    `after_each` (the caller's commit, say) runs after each chunk: a chunk is a unit of work. Should a letter of a
    chunk fail preflight, the chunk is undone and its requests accepted one at a time, so that only the request
    whose letter failed is skipped."""
    from ..letters import issue

    result = BulkResult()
    for start in range(0, len(refs), BULK_CHUNK):
        chunk = refs[start:start + BULK_CHUNK]
        try:
            with session.begin_nested(), issue.rendering_deferred():
                part = _accept_each(session, chunk, actor_email, on)
                issue.render_deferred(session)
        except Blocked:
            part = _accept_each(session, chunk, actor_email, on)
        result.accepted += part.accepted
        result.skipped += part.skipped
        if after_each is not None:
            after_each()
    return result


def _accept_each(session: Session, refs: list[str], actor_email: str, on: date | None) -> BulkResult:
    result = BulkResult()
    for ref in refs:
        try:
            with session.begin_nested():
                accepted = accept(session, ref, actor_email, on)
        except (Blocked, BadInput) as refused:
            result.skipped.append((ref, getattr(refused, "reasons", [str(refused)])))
            continue
        if not accepted.already:
            result.accepted.append(accepted)
    return result
