"""Pupil search, the pupil page (register heat-map, measures, the sessions behind each threshold) and the family view."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, ValidationError

import workflows

from casework.services import pupils
from casework.services.errors import BadInput, PermissionDenied
from casework.services.users import get_user

from ..auth import db
from ..permissions import roles

bp = Blueprint("pupils", __name__)

PUPIL_ROLES = ("aeo", "manager", "legal", "school")
CONCERN_ROLES = ("school", "aeo", "manager")


class SchoolField(SelectField):
    """A select of the schools the user may see; any other value is refused."""

    def pre_validate(self, form):
        if self.data not in {value for value, _ in self.choices}:
            raise ValidationError("Choose a school from the list")


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Name or UPN", validators=[Length(
        max=pupils.MAX_QUERY_LENGTH, message=f"Name or UPN must be {pupils.MAX_QUERY_LENGTH} characters or fewer")])
    school = SchoolField("School", default="")

    @property
    def school_id(self) -> int | None:
        return int(self.school.data) if self.school.data else None


def _search_form(schools: list[tuple[int, str]]) -> SearchForm:
    form = SearchForm(formdata=request.args)
    form.school.choices = [("", "All schools")] + [(str(i), name) for i, name in schools]
    return form


@bp.route("/pupils")
@roles(*PUPIL_ROLES)
def search():
    """AEOs, managers, legal officers and school users: find a pupil by UPN or name (school users: their schools)."""
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404)
    session = db()
    user = get_user(session, current_user.email)
    form = _search_form(pupils.visible_schools(session, user))
    searched = bool(form.q.data or form.school.data or user.role == "school")
    rows, more = [], False
    if searched and form.validate():
        try:
            rows, more = pupils.search(session, user, form.q.data or "", form.school_id, page)
        except BadInput as refused:
            form.q.errors.append(str(refused))
        session.commit()
    return render_template("pupils/search.html", title="Find a pupil", form=form, rows=rows, more=more,
                           page=page, searched=searched and not form.errors)


def _concern_url(record: pupils.PupilRecord) -> str | None:
    """The "raise a concern" form for this pupil at their school, when the application has one and the user may
    use it."""
    if "schools.new_concern" in current_app.view_functions and current_user.role in CONCERN_ROLES:
        return url_for("schools.new_concern", upn=record.pupil.upn, school=record.school.urn if record.school else None)
    return None


@bp.route("/pupils/<int:pupil_id>")
@roles(*PUPIL_ROLES)
def show(pupil_id: int):
    """AEOs, managers, legal officers and school users, in scope: a pupil's record, measures and register."""
    session = db()
    try:
        record = pupils.pupil_record(session, get_user(session, current_user.email), pupil_id,
                                     request.args.get("year", type=int))
    except (BadInput, PermissionDenied):
        abort(404)
    session.commit()
    pupil = record.pupil
    return render_template("pupils/show.html", title=f"{pupil.forename} {pupil.surname}", record=record,
                           needs=pupils.needs_of(pupil), kinds=pupils.MARK_KINDS, pathway=workflows.load(),
                           concern_url=_concern_url(record))


@bp.route("/pupils/<int:pupil_id>/family")
@roles(*PUPIL_ROLES)
def family(pupil_id: int):
    """AEOs, managers, legal officers and school users, in scope: the children sharing a contact with the pupil."""
    session = db()
    try:
        found = pupils.family(session, get_user(session, current_user.email), pupil_id)
    except (BadInput, PermissionDenied):
        abort(404)
    session.commit()
    pupil = found.pupil
    return render_template("pupils/family.html", title=f"Family of {pupil.forename} {pupil.surname}", family=found,
                           restricted=current_user.role == "school")
