"""The manager's dashboard: cases by state and officer, allocation, and absence by school and group against national figures."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

import workflows
from casework.services.allocation import allocate, caseloads, unallocated
from casework.services.audit import audit
from casework.services.dashboard import absence_figures, case_overview
from casework.services.errors import BadInput, Blocked
from casework.services.users import get_user

from ..auth import db
from ..permissions import roles
from .figures import absence_body, absence_page_exists, days_text, national_text, overview_body, percent_text
from .forms import AssignForm, MoveForm

bp = Blueprint("dashboard", __name__)


@bp.context_processor
def formatting() -> dict:
    return {"percent_text": percent_text, "days_text": days_text, "national_text": national_text}


def _page() -> int:
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404)
    return page


@bp.route("/dashboard")
@roles("manager")
def overview():
    """Managers: open cases by state and officer, time in state, overdue deadlines, unpaid notices, unallocated."""
    session = db()
    figures = case_overview(session, get_user(session, current_user.email))
    audit(session, current_user.email, "read", "dashboard", "overview")
    session.commit()
    return render_template("dashboard/page.html", title="Dashboard", body=overview_body(figures, request.script_root))


@bp.route("/dashboard/absence")
@roles("manager")
def absence():
    """Managers: persistent and severe absence by pupil group and school, absence by week, against national figures."""
    page = _page()
    figures = absence_figures(db())
    if not absence_page_exists(figures, page):
        abort(404)
    return render_template("dashboard/page.html", title="Absence",
                           body=absence_body(figures, page, request.script_root))


@bp.route("/dashboard/allocation", methods=["GET", "POST"])
@roles("manager")
def allocation():
    """Managers: cases nobody holds and each officer's caseload; give cases to an officer, or move one to another."""
    session = db()
    page = _page()
    loads = caseloads(session)
    assign, move = AssignForm(), MoveForm()  # distinct field names: the error summary links to them by id
    officers = [(c.email, f"{c.name} ({c.open_cases} open)") for c in loads if c.may_hold_cases]
    assign.officer.choices = move.to_officer.choices = [("", "Select an officer"), *officers]
    move.from_officer.choices = [("", "Select an officer"),
                                 *((c.email, f"{c.name} ({c.open_cases} open)") for c in loads if c.open_cases)]
    if request.method == "POST":
        form = assign if request.form.get("action") == "assign" else move
        if form.validate_on_submit():
            try:
                moved = _allocate(session, form)
            except (BadInput, Blocked) as refused:
                session.rollback()
                form.form_errors.extend(getattr(refused, "reasons", None) or [str(refused)])
            else:
                session.commit()
                officer = _officer_of(form)
                flash(_moved_message(moved, next((c.name for c in loads if c.email == officer), officer)))
                return redirect(url_for("dashboard.allocation", page=page))
    else:
        audit(session, current_user.email, "read", "allocation", f"page {page}")
        session.commit()
    rows, more = unallocated(session, get_user(session, current_user.email), page)
    return render_template("dashboard/allocation.html", title="Allocate cases", loads=loads, rows=rows, page=page,
                           more=more, assign=assign, move=move, pathway=workflows.load())


def _officer_of(form) -> str:
    return form.officer.data if isinstance(form, AssignForm) else form.to_officer.data


def _allocate(session, form) -> list[str]:
    if isinstance(form, AssignForm):
        return allocate(session, current_user.email, form.cases.data, form.officer.data)
    return allocate(session, current_user.email, [form.case_ref.data], form.to_officer.data, form.from_officer.data)


def _moved_message(moved: list[str], officer: str) -> str:
    if not moved:
        return f"Nothing changed: the cases were already with {officer}."
    cases = moved[0] if len(moved) == 1 else f"{len(moved)} cases ({', '.join(moved)})"
    return f"{cases} now with {officer}."
