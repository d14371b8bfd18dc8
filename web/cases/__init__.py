"""The worklist, the caseload and the case page, with each issued letter as a download."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, render_template, request
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import Session, select

import workflows
from workflows.diagram import mermaid

from casework import checks, clock
from casework.letters import storage
from casework.models import Case, Deadline, Letter, Pupil, School, User
from casework.services.audit import audit
from casework.services.errors import BadInput, PermissionDenied
from casework.services.show import case_json
from casework.services.scope import pupil_scope
from casework.services.users import get_user

from ..auth import db
from ..permissions import roles

bp = Blueprint("cases", __name__)

CASE_ROLES = ("aeo", "manager", "legal", "school")
PAGE_SIZE = 50


@bp.route("/worklist")
@roles(*CASE_ROLES)
def worklist():
    """Case roles: the deadlines, unpaid penalty notices and alerts to act on."""
    session = db()
    work = checks.worklist(session, get_user(session, current_user.email))
    audit(session, current_user.email, "read", "worklist", current_user.email)
    session.commit()
    return render_template("worklist.html", title="Your worklist", work=work)


def caseload_page(session: Session, user: User, page: int) -> tuple[list, bool]:
    """One page of the user's caseload, newest first, and whether another page follows."""
    pathway = workflows.load()
    next_deadline = (select(func.min(Deadline.due_on)).where(Deadline.case_id == Case.id, Deadline.done_at.is_(None))
                     .correlate(Case).scalar_subquery())
    query = (select(Case.ref, Pupil.forename, Pupil.surname, School.name, Case.state, Case.opened_on,
                    next_deadline.label("next_deadline"))
             .join(Pupil, Pupil.id == Case.pupil_id).join(School, School.id == Case.school_id))
    if user.role == "legal":
        query = query.where(Case.state == "prosecution")
    else:
        query = query.where(Case.state.in_(pathway.open_states))
    if user.role == "aeo":
        query = query.where(Case.officer_id == user.id)
    query = query.where(pupil_scope(session, user))
    rows = session.exec(query.order_by(Case.opened_on.desc(), Case.ref.desc())
                        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


@bp.route("/cases")
@roles(*CASE_ROLES)
def caseload():
    """Case roles: the open cases the user works on or may see, 50 a page."""
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404)
    session = db()
    rows, more = caseload_page(session, get_user(session, current_user.email), page)
    audit(session, current_user.email, "read", "caseload", current_user.email, {"page": page})
    session.commit()
    return render_template("cases/caseload.html", title="Caseload", rows=rows, page=page, more=more,
                           pathway=workflows.load())


def _case_or_404(session: Session, ref: str) -> dict:
    """The case as `case_json` gives it (scope checked, read audited); 404 when it is missing or out of scope."""
    try:
        return case_json(session, ref, current_user.email)
    except (BadInput, PermissionDenied):
        abort(404)


def _days_left(iso_date: str | None) -> int | None:
    return (date.fromisoformat(iso_date) - clock.today()).days if iso_date else None


@bp.route("/cases/<ref>")
@roles(*CASE_ROLES)
def case_page(ref: str):
    """Case roles, in scope: the case's state, pathway, chronology, letters, penalty notices and triggers."""
    session = db()
    case = _case_or_404(session, ref)
    pupil = session.exec(select(Pupil).where(Pupil.upn == case["upn"])).one()
    school = session.exec(select(School).where(School.urn == case["school_urn"])).one()
    session.commit()
    pathway = workflows.load_key(case["pathway"])
    return render_template("cases/case.html", title=f"Case {ref}", case=case, pupil=pupil, school=school,
                           pathway=pathway, trigger_labels={t.trigger: t.label for t in pathway.transitions},
                           limitation_days_left=_days_left(case["limitation_date"]),
                           diagram=mermaid(pathway, case["state"]), restricted=current_user.role == "school")


@bp.route("/cases/<ref>/letters/<int:letter_id>")
@roles(*CASE_ROLES)
def letter_pdf(ref: str, letter_id: int):
    """Case roles but schools (letters carry parents' addresses), in scope: an issued letter's PDF, hash-checked."""
    session = db()
    case = _case_or_404(session, ref)
    if current_user.role == "school" or letter_id not in {letter["id"] for letter in case["letters"]}:
        abort(404)
    letter = session.get(Letter, letter_id)
    if not storage.verify(letter.path, letter.sha256):
        session.commit()
        return render_template("error.html", title="This letter cannot be opened",
                               message="The stored file no longer matches the letter issued. "
                                       "Tell your system administrator, quoting the case reference."), 500
    audit(session, current_user.email, "export", "letter", f"{ref}/{letter.id}", {"sha256": letter.sha256})
    session.commit()
    filename = f"{ref}-{letter.kind}-{letter.id}.pdf"
    return storage.load(letter.path), {"Content-Type": "application/pdf",
                                       "Content-Disposition": f'attachment; filename="{filename}"'}
