"""The live feed's API tokens: the list, issuing one for a school (shown once) and revoking one."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.models import School
from casework.services.errors import BadInput
from casework.services.schools import school_choices
from casework.services.tokens import issue_token, revoke_token, token_page
from casework.services.users import RepeatedRequest

from ..auth import db
from ..permissions import roles
from . import bp
from .common import bound, page_number, posted_action, refuse
from .forms import IssueTokenForm, RevokeTokenForm


@bp.route("/tokens", methods=["GET", "POST"])
@roles("admin")
def tokens():
    """Admins: the feed's tokens, newest first, 50 a page (or one school's); issue a token for a school (shown once)
    or revoke one."""
    action = posted_action()
    if action == "revoke":
        return _revoke()
    school_urn = request.args.get("school", "").strip()
    form = bound(IssueTokenForm, action == "issue", school=school_urn)
    if action == "issue" and form.validate_on_submit():
        issued = _issue(form)
        if issued is not None:
            return issued
    session = db()
    page = page_number()
    try:
        rows, more = token_page(session, school_urn or None, page=page)
    except BadInput:
        abort(404)
    form.school.choices = [("", "Choose a school")] + school_choices(session)
    return render_template("admin/tokens.html", title="Feed tokens", rows=rows, more=more, page=page,
                           school_urn=school_urn, form=form)


def _issue(form: IssueTokenForm):
    """The page showing the new token once; None (and the refusal on the form) when it is refused."""
    session = db()
    try:
        row, token = issue_token(session, form.school.data or "", current_user.email, form.label.data or "",
                                 request_id=form.request_id.data or "")
        session.commit()
    except RepeatedRequest as repeat:
        session.rollback()
        flash(f"Token {repeat.ref} was issued already (the form was sent twice). It was shown only once: if it was "
              "not copied, revoke it and issue another.")
        return redirect(url_for(".tokens"))
    except BadInput as refused:
        session.rollback()
        refuse(form, refused if form.school.data else BadInput("Choose the school whose system will use the token"),
               "school")
        return None
    return render_template("admin/token_issued.html", title="Token issued", row=row, token=token,
                           school=session.get(School, row.school_id))


def _revoke():
    form = RevokeTokenForm()
    if not form.validate_on_submit():
        abort(400)
    session = db()
    try:
        row = revoke_token(session, form.prefix.data or "", current_user.email)
        session.commit()
    except BadInput as refused:
        session.rollback()
        flash(str(refused)[:1].upper() + str(refused)[1:])
    else:
        flash(f"Token {row.prefix} is revoked: the school's system can no longer use it", "success")
    return redirect(url_for(".tokens", school=request.args.get("school") or None))
