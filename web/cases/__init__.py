"""The worklist, the caseload, the case page with each issued letter as a download, and a form for every trigger."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import Session

import workflows

from casework import checks, clock
from casework.letters import storage
from casework.models import Case, Letter, Pupil, School, User
from casework.services.audit import audit
from casework.services.caseload import caseload_page
from casework.services.cases import fire
from casework.services.errors import BadInput, Blocked, PermissionDenied, StaleCase
from casework.services.facts import load_context
from casework.services.show import case_view, load_case_and_pupil
from casework.services.triggers_ui import (PENALTY_NOTICE_DEADLINES, asks_for, check_trigger, check_triggers, in_words,
                                           contact_names, deadline_label, event_details, event_label, initial_values,
                                           outcome_message, pathway_steps, penalty_notice_options, preview)
from casework.services.users import get_user

from ..auth import db
from ..permissions import roles
from .forms import trigger_form

bp = Blueprint("cases", __name__)

CASE_ROLES = ("aeo", "manager", "legal", "school")
LESS_COMMON = {"step_down", "close", "withdraw_penalty_notice"}


def less_common(check) -> bool:
    """Drawn as a secondary button on the case page: stepping back, closing, withdrawing, or skipping support."""
    return check.trigger in LESS_COMMON or "support_inappropriate" in check.transition.requires


WORKLIST_ROWS = 100  # the most urgent of each list; a manager's covers the whole authority


@bp.route("/worklist")
@roles(*CASE_ROLES)
def worklist():
    """Case roles: the deadlines, unpaid penalty notices and alerts to act on."""
    session = db()
    school = current_user.role == "school"  # penalty notices are the authority's business, as on the case page
    work = checks.worklist(session, get_user(session, current_user.email), limit=WORKLIST_ROWS,
                           leave_out=PENALTY_NOTICE_DEADLINES if school else ())
    if school:
        work = {**work, "unpaid_penalty_notices": None}
    audit(session, current_user.email, "read", "worklist", current_user.email)
    session.commit()
    return render_template("worklist.html", title="Your worklist", work=work, deadline_label=deadline_label)


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


def _case_row_or_404(session: Session, ref: str, user: User) -> tuple[Case, Pupil]:
    """The case row and its pupil (scope checked, read audited); 404 when it is missing or out of scope."""
    try:
        return load_case_and_pupil(session, ref, user)
    except (BadInput, PermissionDenied):
        abort(404)


def _days_left(iso_date: str | None) -> int | None:
    return (date.fromisoformat(iso_date) - clock.today()).days if iso_date else None


@bp.route("/cases/<ref>")
@roles(*CASE_ROLES)
def case_page(ref: str):
    """Case roles, in scope: the case's state, pathway, what can happen next, deadlines, chronology, letters and PNs."""
    session = db()
    user = get_user(session, current_user.email)
    row, pupil = _case_row_or_404(session, ref, user)  # held here, so the services below find them in the session
    school = session.get(School, row.school_id)
    ctx = load_context(session, pupil)
    case = case_view(session, row, current_user.email, with_triggers=False, ctx=ctx)
    restricted = user.role == "school"
    every_check = check_triggers(session, row, user, ctx=ctx)
    checks_now = [c for c in every_check if not (restricted and c.role_refused)]
    names = {} if restricted else contact_names(session, row.pupil_id, ctx.parents)
    session.commit()
    pathway = workflows.load_key(case["pathway"])
    visited = {e["to"] for e in case["events"]} | {e["from"] for e in case["events"] if e["from"]}
    deadlines = [d for d in case["deadlines"] if not (restricted and d["kind"] in PENALTY_NOTICE_DEADLINES)]
    return render_template(
        "cases/case.html", title=f"Case {ref}", case=case, pupil=pupil, school=school, pathway=pathway,
        restricted=restricted, event_label=event_label, asks_for=asks_for,
        limitation_days_left=_days_left(case["limitation_date"]), deadlines=deadlines, names=names,
        available=[c for c in checks_now if c.available], refused=[c for c in checks_now if not c.available],
        steps=pathway_steps(pathway, row.state, visited, every_check), event_details=event_details,
        deadline_label=deadline_label, less_common=less_common)


@bp.route("/cases/<ref>/triggers/<trigger>", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def trigger(ref: str, trigger: str):
    """Case roles, in scope, as the pathway lets each role fire each trigger: its form, or why it cannot be done now."""
    session = db()
    user = get_user(session, current_user.email)
    case, pupil = _case_row_or_404(session, ref, user)
    pathway = workflows.load_key(case.pathway)
    if trigger not in pathway.triggers:
        abort(404)
    check = check_trigger(session, case, trigger, user)
    posted = request.method == "POST"
    if not check.available:
        stale = posted and request.form.get("version", type=int) != case.version
        session.commit()
        return render_template("cases/trigger_refused.html", title=f"{check.label}: not available now", case=case,
                               pupil=pupil, pathway=pathway, check=check,
                               stale=stale), 403 if check.role_refused else 200
    pn_options = penalty_notice_options(session, case)
    initial = None if posted else initial_values(pathway, check.transition, check.facts, clock.today(), pn_options)
    form = trigger_form(pathway, check.transition, initial, case.version, pn_options)
    stale = False
    if form.validate_on_submit():
        outcome, stale = _fire(session, form, ref, trigger)
        if outcome is not None:
            flash(outcome_message(session, outcome), "success")
            session.commit()
            return redirect(url_for("cases.case_page", ref=ref))
    will_do = preview(session, case, check)
    session.commit()
    return render_template("cases/trigger.html", title=check.label, case=case, pupil=pupil, pathway=pathway,
                           check=check, form=form, stale=stale, preview=will_do,
                           advice=[in_words(reason, form.specs)[0] for reason in check.advice])


def _fire(session: Session, form, ref: str, trigger: str):
    """Fire the trigger inside a savepoint: (the outcome, False), or (None, whether the form was stale) with the
    refusal on the form and nothing written."""
    expected = form.expected_version()
    if expected is None:
        return None, True
    try:
        with session.begin_nested():
            return fire(session, ref, trigger, current_user.email, form.happened_on.data, form.raw(),
                        expected_version=expected), False
    except StaleCase:
        return None, True
    except Blocked as refused:
        for reason in refused.reasons:
            words, about = in_words(reason, form.specs)
            (form[about].errors if about else form.form_errors).append(words)
    except BadInput as bad:
        field = form.field_for(str(bad))
        (field.errors if field is not None else form.form_errors).append(str(bad))
    return None, False


@bp.route("/cases/<ref>/letters/<int:letter_id>")
@roles(*CASE_ROLES)
def letter_pdf(ref: str, letter_id: int):
    """Case roles but schools (letters carry parents' addresses), in scope: an issued letter's PDF, hash-checked."""
    session = db()
    case, _pupil = _case_row_or_404(session, ref, get_user(session, current_user.email))
    letter = session.get(Letter, letter_id)
    if current_user.role == "school" or letter is None or letter.case_id != case.id:
        abort(404)
    try:
        pdf = storage.load_verified(letter.path, letter.sha256)
    except storage.StorageError:
        session.commit()
        return render_template("error.html", title="This letter cannot be opened",
                               message="The stored file no longer matches the letter issued. "
                                       "Tell your system administrator, quoting the case reference."), 500
    audit(session, current_user.email, "export", "letter", f"{ref}/{letter.id}", {"sha256": letter.sha256})
    session.commit()
    filename = f"{ref}-{letter.kind}-{letter.id}.pdf"
    return pdf, {"Content-Type": "application/pdf", "Content-Disposition": f'attachment; filename="{filename}"'}
