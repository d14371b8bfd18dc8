"""A school's request: its answers checked against the code of conduct, with the pupils' marks for the period, and
submitted into the officers' queue. One request covers one absence of one or more siblings; a CSV file (see `csvfile`)
gives many requests at once and is taken whole or not at all."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from .. import clock
from ..models import PnRequest, PnRequestEvidence, PnRequestPupil, Pupil, School, User
from ..register import measures
from ..services.audit import audit
from ..services.cases import next_ref
from ..services.errors import Blocked, PermissionDenied
from ..services.scope import pupil_scope, school_ids
from . import conduct as conduct_mod
from .conduct import CodeOfConduct, PupilCheck, PupilFacts, long_date
from .evidence import Upload, store, upload_problem

MAX_PUPILS = 10
OPEN_STATUSES = ("submitted", "accepted")
ID_CHUNK = 1000


@dataclass(frozen=True)
class EvidenceGiven:
    """One item of evidence: a statement, a file, or both."""

    kind: str
    statement: str = ""
    upload: Upload | None = None

    @property
    def given(self) -> bool:
        return bool(self.statement.strip()) or self.upload is not None


@dataclass(frozen=True)
class Draft:
    """What a school asks for, before it is checked."""

    upns: tuple[str, ...]
    reason: str
    period_start: date | None
    period_end: date | None
    evidence: tuple[EvidenceGiven, ...] = ()
    headteacher: str = ""
    confirmed: bool = False
    details: str = ""

    @property
    def clean_upns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(u.strip().upper() for u in self.upns if u.strip()))


@dataclass
class DraftCheck:
    """A draft judged: problems with its answers (each with the answer it is about: `upns`, `reason`, `period`,
    `evidence:<requirement>`, `upload:<kind>`, `headteacher`, `confirm`), and each pupil found with the marks and
    checks for the period."""

    draft: Draft
    pupils: list[PupilCheck] = field(default_factory=list)
    keyed: list[tuple[str, str]] = field(default_factory=list)
    pupil_ids: dict[str, int] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        return [message for _, message in self.keyed]

    @property
    def all_problems(self) -> list[str]:
        return self.problems + [p for pupil in self.pupils for p in pupil.problems]

    @property
    def passes(self) -> bool:
        return not self.all_problems


def require_school_user(session: Session, user: User, school: School) -> None:
    if user.role != "school" or school.id not in school_ids(session, user):
        raise PermissionDenied(f"{user.email} may not make requests for {school.name}")


# ---------------------------------------------------------------- loading in bulk

def _chunks(items: list):
    for i in range(0, len(items), ID_CHUNK):
        yield items[i:i + ID_CHUNK]


def pupils_on_roll(session: Session, user: User, school: School, upns: set[str]) -> dict[str, Pupil]:
    """UPN -> pupil, for those on the school's roll and in the user's scope (others are simply absent)."""
    found: dict[str, Pupil] = {}
    for chunk in _chunks(sorted(upns)):
        for pupil in session.exec(select(Pupil).where(Pupil.upn.in_(chunk), Pupil.school_id == school.id,
                                                      pupil_scope(session, user))).all():
            found[pupil.upn] = pupil
    return found


def pupil_facts(pupil: Pupil, school: School, segments) -> PupilFacts:
    return PupilFacts(pupil.upn, f"{pupil.forename} {pupil.surname}", pupil.date_of_birth, segments, school.name,
                      school.independent)


def open_requests(session: Session, pupil_ids: list[int], exclude: int | None = None
                  ) -> dict[int, list[tuple[str, str, date, date]]]:
    """pupil id -> (ref, status, first day, last day) of each submitted or accepted request naming them."""
    found: dict[int, list] = {}
    for chunk in _chunks(sorted(set(pupil_ids))):
        rows = session.exec(
            select(PnRequestPupil.pupil_id, PnRequest.ref, PnRequest.status, PnRequest.period_start,
                   PnRequest.period_end, PnRequest.id)
            .join(PnRequest, PnRequest.id == PnRequestPupil.request_id)
            .where(PnRequestPupil.pupil_id.in_(chunk), PnRequest.status.in_(OPEN_STATUSES))).all()
        for pupil_id, ref, status, start, end, request_id in rows:
            if request_id != exclude:
                found.setdefault(pupil_id, []).append((ref, status, start, end))
    return found


# ---------------------------------------------------------------- checking

def _answer_problems(conduct: CodeOfConduct, draft: Draft, today: date) -> list[tuple[str, str]]:
    """Problems with the request's own answers (not its pupils), each with the answer it is about."""
    problems: list[tuple[str, str]] = []
    if not draft.clean_upns:
        problems.append(("upns", "Give the UPN of each child the request is for"))
    elif len(draft.clean_upns) > MAX_PUPILS:
        problems.append(("upns", f"A request can name at most {MAX_PUPILS} children (brothers and sisters)"))
    problems += [("period", p) for p in conduct_mod.period_problems(draft.period_start, draft.period_end, today)]
    if draft.reason not in conduct.reasons:
        problems.append(("reason", "Choose why the school is asking for penalty notices"))
    else:
        given = {e.kind for e in draft.evidence if e.given}
        problems += [(f"evidence:{key}", p) for key, p in
                     conduct_mod.evidence_problems(conduct, draft.reason, given, keyed=True)]
    for item in draft.evidence:
        if item.upload is not None and item.kind in conduct.evidence:
            problem = upload_problem(item.upload, conduct.max_upload_bytes, conduct.evidence[item.kind].label)
            if problem:
                problems.append((f"upload:{item.kind}", problem))
    if not draft.headteacher.strip():
        problems.append(("headteacher", "Give the name of the headteacher confirming the request"))
    if not draft.confirmed:
        problems.append(("confirm", "The headteacher must confirm the request"))
    return problems


def _overlap_problems(check: DraftCheck, requests: dict[int, list]) -> list[tuple[str, str]]:
    d = check.draft
    problems = []
    for pupil in check.pupils:
        for ref, status, start, end in requests.get(check.pupil_ids[pupil.upn], []):
            if d.period_start and d.period_end and start <= d.period_end and d.period_start <= end:
                problems.append(("upns", f"{pupil.name} is already in request {ref} ({status}) for "
                                         f"{long_date(start)} to {long_date(end)}"))
    return problems


def check_drafts(session: Session, user: User, school: School, drafts: list[Draft], today: date | None = None,
                 replacing: int | None = None) -> list[DraftCheck]:
    """Judge drafts against the code of conduct, loading every pupil and register they need in a few queries."""
    today = today or clock.today()
    conduct = conduct_mod.code_of_conduct()
    on_roll = pupils_on_roll(session, user, school, {u for d in drafts for u in d.clean_upns})
    segments = measures.load_segments(session, [p.id for p in on_roll.values()]) if on_roll else {}
    requests = open_requests(session, [p.id for p in on_roll.values()], exclude=replacing)
    checks = []
    for draft in drafts:
        check = DraftCheck(draft, keyed=_answer_problems(conduct, draft, today))
        for upn in draft.clean_upns:
            pupil = on_roll.get(upn)
            if pupil is None:
                check.keyed.append(("upns", f"There is no pupil with UPN {upn} on the roll of {school.name}"))
                continue
            check.pupil_ids[upn] = pupil.id
            if draft.reason in conduct.reasons and not conduct_mod.period_problems(draft.period_start,
                                                                                    draft.period_end, today):
                check.pupils.append(conduct_mod.check_pupil(
                    conduct, draft.reason, draft.period_start, draft.period_end, today,
                    pupil_facts(pupil, school, segments.get(pupil.id, []))))
        check.keyed += _overlap_problems(check, requests)
        checks.append(check)
    return checks


# ---------------------------------------------------------------- submitting

class Refused(Blocked):
    """A draft that fails the code of conduct: `check` says which answers and pupils fail, and shows the marks."""

    def __init__(self, check: DraftCheck):
        self.check = check
        super().__init__(check.all_problems)


def existing(session: Session, submission_key: str) -> PnRequest | None:
    return session.exec(select(PnRequest).where(PnRequest.submission_key == submission_key)).first()


def _create(session: Session, user: User, school: School, check: DraftCheck, submission_key: str,
            replaces: PnRequest | None) -> PnRequest:
    d = check.draft
    now = clock.now()
    request = PnRequest(ref=next_ref(session, "PR", now.year), school_id=school.id, reason=d.reason,
                        period_start=d.period_start, period_end=d.period_end, details=d.details.strip(),
                        headteacher=d.headteacher.strip(), submitted_at=now, submitted_by=user.email,
                        submission_key=submission_key, replaces_id=replaces.id if replaces else None)
    session.add(request)
    session.flush()
    for upn in d.clean_upns:
        session.add(PnRequestPupil(request_id=request.id, pupil_id=check.pupil_ids[upn]))
    for item in d.evidence:
        if not item.given:
            continue
        row = PnRequestEvidence(request_id=request.id, kind=item.kind, statement=item.statement.strip())
        if item.upload is not None:
            stored = store(item.upload)
            row.filename, row.media_type, row.size = stored.filename, stored.media_type, stored.size
            row.sha256, row.path = stored.sha256, stored.path
        session.add(row)
    audit(session, user.email, "create", "pn_request", request.ref,
          {"school": school.urn, "reason": d.reason, "pupils": list(d.clean_upns),
           "period": [d.period_start, d.period_end], "replaces": replaces.ref if replaces else None})
    return request


def request_upns(session: Session, request: PnRequest) -> list[str]:
    """The UPNs a request names, in its order."""
    return list(session.exec(select(Pupil.upn).join(PnRequestPupil, PnRequestPupil.pupil_id == Pupil.id)
                             .where(PnRequestPupil.request_id == request.id).order_by(PnRequestPupil.id)).all())


def returned_request(session: Session, user: User, ref: str | None) -> PnRequest | None:
    """A returned request of the user's schools that a new one corrects (None when not given or not such)."""
    if not ref:
        return None
    request = session.exec(select(PnRequest).where(PnRequest.ref == ref)).first()
    if request is None or request.status != "returned" or request.school_id not in school_ids(session, user):
        return None
    return request


def submit(session: Session, user: User, school: School, draft: Draft, submission_key: str,
           replaces: PnRequest | None = None) -> PnRequest:
    """Check the draft and put it in the queue; Refused (nothing written) with every problem when it fails.

    The same `submission_key` posted again returns the request already made."""
    require_school_user(session, user, school)
    done = existing(session, submission_key)
    if done is not None:
        return done
    check = check_drafts(session, user, school, [draft], replacing=replaces.id if replaces else None)[0]
    if not check.passes:
        raise Refused(check)
    request = _create(session, user, school, check, submission_key, replaces)
    session.flush()
    return request


def submit_many(session: Session, user: User, school: School, drafts: list[tuple[str, Draft]],
                submission_key: str) -> list[PnRequest]:
    """Submit many requests (label, draft) at once, all or none; Blocked lists each failing one's problems by label.

    Posting the same file again (the same `submission_key`) returns the requests already made."""
    require_school_user(session, user, school)
    keys = [f"{submission_key}/{i}" for i in range(len(drafts))]
    done = session.exec(select(PnRequest).where(PnRequest.submission_key.in_(keys or [""]))
                        .order_by(PnRequest.id)).all()
    if done:
        return list(done)
    checks = check_drafts(session, user, school, [d for _, d in drafts])
    problems = [f"{label}: {problem}" for (label, _), check in zip(drafts, checks) for problem in check.all_problems]
    problems += _repeated_pupils(drafts, checks)
    if problems:
        raise Blocked(problems)
    created = [_create(session, user, school, check, key, None) for check, key in zip(checks, keys)]
    session.flush()
    return created


def _repeated_pupils(drafts: list[tuple[str, Draft]], checks: list[DraftCheck]) -> list[str]:
    """The same child twice in one file for overlapping dates (the database would not catch it yet)."""
    seen: dict[str, tuple[str, date, date]] = {}
    problems = []
    for (label, draft), check in zip(drafts, checks):
        if not (draft.period_start and draft.period_end):
            continue
        for pupil in check.pupils:
            if pupil.upn in seen:
                other, start, end = seen[pupil.upn]
                if start <= draft.period_end and draft.period_start <= end:
                    problems.append(f"{label}: {pupil.name} is also in {other} for overlapping dates")
            seen[pupil.upn] = (label, draft.period_start, draft.period_end)
    return problems
