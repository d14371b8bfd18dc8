"""Users: the list, adding a user, and one user's details, status, sign-in lock and password."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from casework.models import ROLES
from casework.services.errors import BadInput
from casework.services.users import (RepeatedRequest, UserRow, create_user, list_users, reset_password, set_active,
                                     unlock, update_user, user_by_id)

from ..auth import db
from ..permissions import roles
from . import bp
from .common import bound, page_number, posted_action, refuse
from .forms import ButtonForm, NewUserForm, ResetPasswordForm, UserDetailsForm, urns

# The forms of a user's page, and for those that are only a button, the id their error summary links to.
USER_FORMS = {"details": (UserDetailsForm, None), "status": (ButtonForm, "status-button"),
              "unlock": (ButtonForm, "unlock-button"), "password": (ResetPasswordForm, None)}


@bp.route("/users")
@roles("admin")
def users():
    """Admins: every user by email, 50 a page, optionally of one role or matching a search."""
    role = request.args.get("role", "")
    role = role if role in ROLES else ""
    search = request.args.get("q", "").strip()[:100]
    page = page_number()
    rows, more = list_users(db(), role=role or None, search=search, page=page)
    return render_template("admin/users.html", title="Users", rows=rows, more=more, page=page, role=role,
                           search=search)


@bp.route("/users/new", methods=["GET", "POST"])
@roles("admin")
def new_user():
    """Admins: add a user, with a password they set or one generated and shown once."""
    form = NewUserForm()
    if form.validate_on_submit():
        session = db()
        try:
            user, password = create_user(
                session, email=form.email.data or "", name=form.name.data or "", role=form.role.data or "",
                school_urns=urns(form.schools.data or ""), password=form.password.data or "",
                actor=current_user.email, request_id=form.request_id.data or "")
            session.commit()
        except RepeatedRequest as repeat:
            session.rollback()
            flash(f"{repeat.ref} was added already (the form was sent twice). Their password was shown only once: "
                  "reset it on their page if it was not noted.")
            return redirect(url_for(".users", q=repeat.ref))
        except IntegrityError:  # another admin added the same email at the same moment
            session.rollback()
            refuse(form, BadInput("A user with this email address already exists"), "email")
        except BadInput as refused:
            session.rollback()
            refuse(form, refused)
        else:
            return render_template("admin/user_added.html", title="User added", user=user,
                                   password=None if form.password.data else password)
    return render_template("admin/user_new.html", title="Add a user", form=form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles("admin")
def user(user_id: int):
    """Admins: one user: change their name, role and schools; deactivate or reactivate them; lift a sign-in lock;
    reset their password."""
    session = db()
    row = user_by_id(session, user_id) or abort(404)
    action = posted_action()
    if action and action not in _USER_ACTIONS:
        abort(400)
    posted, do = _USER_ACTIONS.get(action, ("", None))
    forms = _user_forms(row, posted)
    failed = None
    if posted and forms[posted].validate_on_submit():
        try:
            return do(row, forms[posted])
        except RepeatedRequest:
            session.rollback()
            flash("The password was reset already (the form was sent twice). It was shown only once: "
                  "reset it again if it was not noted.")
            return redirect(url_for(".user", user_id=user_id))
        except BadInput as refused:
            session.rollback()
            refuse(forms[posted], refused)
    if posted and forms[posted].errors:
        failed = (forms[posted], USER_FORMS[posted][1])
    row = user_by_id(session, user_id)
    return render_template("admin/user.html", title=f"User {row.user.email}", row=row, forms=forms, failed=failed)


def _user_forms(row: UserRow, posted: str) -> dict:
    details = {"name": row.user.name, "role": row.user.role, "schools": " ".join(s.urn for s in row.schools)}
    return {name: bound(form_class, posted == name, **(details if name == "details" else {}))
            for name, (form_class, _) in USER_FORMS.items()}


def _save_details(row: UserRow, form: UserDetailsForm):
    changes = update_user(db(), row.user.id, name=form.name.data or "", role=form.role.data or "",
                          school_urns=urns(form.schools.data or ""), actor=current_user.email)
    return _done(row, "Changes saved" if changes else "Nothing was changed", bool(changes))


def _deactivate(row: UserRow, _form):
    changed = set_active(db(), row.user.id, False, current_user.email)
    return _done(row, f"{row.user.email} is deactivated and can no longer sign in", changed)


def _reactivate(row: UserRow, _form):
    changed = set_active(db(), row.user.id, True, current_user.email)
    return _done(row, f"{row.user.email} is active again and can sign in", changed)


def _unlock(row: UserRow, _form):
    unlocked = unlock(db(), row.user.id, current_user.email)
    return _done(row, f"{row.user.email} can sign in again" if unlocked else f"{row.user.email} was not locked",
                 unlocked)


def _reset_password(row: UserRow, form: ResetPasswordForm):
    password = reset_password(db(), row.user.id, current_user.email, form.password.data or "",
                              request_id=form.request_id.data or "")
    db().commit()
    if form.password.data:
        flash(f"The password of {row.user.email} has been changed", "success")
        return redirect(url_for(".user", user_id=row.user.id))
    return render_template("admin/password_reset.html", title="New password", user=row.user, password=password)


def _done(row: UserRow, message: str, changed: bool):
    db().commit()
    flash(message, "success" if changed else "message")
    return redirect(url_for(".user", user_id=row.user.id))


# Each action a user's page posts: the form it posts and what it does.
_USER_ACTIONS = {"details": ("details", _save_details), "deactivate": ("status", _deactivate),
                 "reactivate": ("status", _reactivate), "unlock": ("unlock", _unlock),
                 "password": ("password", _reset_password)}
