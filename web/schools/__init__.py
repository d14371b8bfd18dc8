"""The school portal: the school's pupils, raising a concern, and the school's cases (without the LA's restricted notes).

School users see their own schools (`?school=<urn>` picks one; the first by name otherwise); AEOs and managers open
the portal of any school with `?school=<urn>` and are asked to choose one without it.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import Session

from casework import clock
from casework.models import School, User
from casework.services import portal
from casework.services.audit import audit
from casework.services.errors import BadInput, Blocked, PermissionDenied
from casework.services.triggers_ui import deadline_label
from casework.services.users import get_user

from ..auth import db
from ..permissions import roles
from .forms import NOTHING_YET_LABEL, ConcernForm, PupilFilterForm

bp = Blueprint("schools", __name__)

PORTAL_ROLES = ("school", "aeo", "manager")


def _signed_in_user() -> tuple[Session, User]:
    session = db()
    return session, get_user(session, current_user.email)


def _school(session: Session, user: User) -> School | None:
    """The school of `?school=` (404 when unknown or out of scope); None when LA staff must still choose one."""
    try:
        return portal.school_for(session, user, request.args.get("school"))
    except (BadInput, PermissionDenied):
        abort(404)


def _page_number() -> int:
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404)
    return page


def _render(template: str, session: Session, user: User, school: School, **context):
    """A portal page, with the schools the user may switch to and whether pupil pages exist yet."""
    switch = portal.schools_for(session, user) if user.role == "school" else []
    switch_items = [{"value": s.urn, "text": f"{s.name} (URN {s.urn})", "selected": s.id == school.id}
                    for s in switch] if len(switch) > 1 else []
    return render_template(template, school=school, switch_items=switch_items,
                           la_staff=user.role in portal.LA_ROLES, select_items=_select_items,
                           pupil_pages="pupils.show" in current_app.view_functions, **context)


def _select_items(field) -> list[dict]:
    """govukSelect's items for a WTForms SelectField, its current value selected."""
    return [{"value": value, "text": text, "selected": value == field.data} for value, text in field.choices]


def _choose_school(session: Session, user: User):
    return render_template("schools/choose.html", title="Choose a school", schools=portal.schools_for(session, user),
                           endpoint=request.endpoint)


@bp.route("/school")
@roles(*PORTAL_ROLES)
def pupils():
    """School users (their schools), AEOs and managers (any school): the school's pupils with their attendance."""
    session, user = _signed_in_user()
    school = _school(session, user)
    if school is None:
        return _choose_school(session, user)
    form = PupilFilterForm(request.args)
    filters, page = form.filters(), _page_number()
    result = portal.pupils_on_roll(session, user, school, clock.today(), filters, page)
    form.year.choices = [("", "All year groups")] + [(year, f"Year {year}") for year in result.year_groups]
    audit(session, user.email, "read", "school_pupils", school.urn,
          {"page": page, "year_group": filters.year_group, "persistent_only": filters.persistent_only,
           "threshold_only": filters.threshold_only, "sort": filters.sort})
    session.commit()
    return _render("schools/pupils.html", session, user, school, title=f"Pupils at {school.name}", form=form,
                   result=result, as_of=clock.today(), args=request.args.to_dict())


@bp.route("/school/cases")
@roles(*PORTAL_ROLES)
def cases():
    """School users (their schools), AEOs and managers (any school): the school's open and recently closed cases."""
    session, user = _signed_in_user()
    school = _school(session, user)
    if school is None:
        return _choose_school(session, user)
    page = _page_number()
    result = portal.school_cases(session, user, school, clock.today(), page)
    audit(session, user.email, "read", "school_cases", school.urn, {"page": page})
    session.commit()
    return _render("schools/cases.html", session, user, school, title=f"Cases at {school.name}", result=result,
                   today=clock.today(), deadline_label=deadline_label)


@bp.route("/school/concerns/new", methods=["GET", "POST"])
@roles(*PORTAL_ROLES)
def new_concern():
    """School users (their schools), AEOs and managers (any school): raise a concern about a pupil, opening a case."""
    session, user = _signed_in_user()
    school = _school(session, user)
    if school is None:
        return _choose_school(session, user)
    form = ConcernForm()
    form.pupil.choices = [("", "Choose a pupil")] + portal.pupil_choices(session, user, school)
    if not form.is_submitted() and request.args.get("upn"):
        _preselect(form, request.args["upn"])
    valid = form.validate_on_submit()
    if _pupil_is_on_roll(form, session, user, school) and valid:
        try:
            outcome = portal.raise_concern(session, user, school, form.answers())
        except (BadInput, Blocked) as refused:
            session.rollback()
            form.form_errors.extend(_sentences(refused))
        else:
            session.commit()
            return redirect(url_for("schools.concern_raised", ref=outcome.case.ref))
    return _render("schools/new_concern.html", session, user, school, title="Raise a concern", form=form,
                   nothing_yet_label=NOTHING_YET_LABEL)


def _preselect(form: ConcernForm, upn: str) -> None:
    upn = upn.strip().upper()
    if upn in {value for value, _ in form.pupil.choices}:
        form.pupil.data = upn
    else:
        form.upn.data = upn


def _pupil_is_on_roll(form: ConcernForm, session: Session, user: User, school: School) -> bool:
    """Whether the pupil given is on the school's roll; if not, say so on the field used (not whether they exist)."""
    upn = form.chosen_upn()
    if not form.is_submitted() or not upn or form.upn.errors:
        return True
    if portal.pupil_on_roll(session, user, school, upn) is not None:
        return True
    field = form.upn if (form.upn.data or "").strip() else form.pupil
    field.errors = [*field.errors, portal.not_on_roll(school, upn)]
    return False


def _sentences(refused: Exception) -> list[str]:
    reasons = refused.reasons if isinstance(refused, Blocked) else [str(refused)]
    return [reason[:1].upper() + reason[1:] for reason in reasons]


@bp.route("/school/concerns/<ref>")
@roles(*PORTAL_ROLES)
def concern_raised(ref: str):
    """School users, AEOs and managers, in scope: the confirmation that a concern was raised, with what happens next."""
    session, user = _signed_in_user()
    try:
        raised = portal.raised_concern(session, user, ref)
    except (BadInput, PermissionDenied):
        abort(404)
    session.commit()
    return render_template("schools/concern_raised.html", title=f"Concern raised: case {ref}", raised=raised)
