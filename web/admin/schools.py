"""Schools: the list with pupils on roll and live feed tokens, and editing one school."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.services.errors import BadInput
from casework.services.schools import list_schools, school_row, update_school

from ..auth import db
from ..permissions import roles
from . import bp
from .common import page_number, refuse
from .forms import SchoolForm


@bp.route("/schools")
@roles("admin")
def schools():
    """Admins: every school by name, 100 a page, optionally matching a name or URN."""
    search = request.args.get("q", "").strip()[:100]
    page = page_number()
    rows, more = list_schools(db(), search=search, page=page)
    return render_template("admin/schools.html", title="Schools", rows=rows, more=more, page=page, search=search)


@bp.route("/schools/<int:school_id>", methods=["GET", "POST"])
@roles("admin")
def school(school_id: int):
    """Admins: one school: change its name, phase and whether it is independent (no penalty notices)."""
    session = db()
    row = school_row(session, school_id) or abort(404)
    form = SchoolForm(data={"name": row.school.name, "phase": row.school.phase,
                            "independent": "yes" if row.school.independent else "no"})
    if form.validate_on_submit():
        try:
            changes = update_school(session, school_id, name=form.name.data or "", phase=form.phase.data or "",
                                    independent=form.independent.data == "yes", actor=current_user.email)
            session.commit()
        except BadInput as refused:
            session.rollback()
            refuse(form, refused)
        else:
            flash(*((f"{row.school.name} saved", "success") if changes else ("Nothing was changed",)))
            return redirect(url_for(".school", school_id=school_id))
    return render_template("admin/school.html", title=row.school.name, row=row, form=form)
