"""Sign in, sign out and change password."""
from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlmodel import Session
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo

from casework.db import ReadSession, get_engine
from casework.models import User
from casework.services.errors import BadInput
from casework.services.users import (MIN_PASSWORD_LENGTH, SignInRefused, change_password, remember_user,
                                     sign_in, signed_in_user)

from ..extensions import login_manager
from ..permissions import public, signed_in

bp = Blueprint("auth", __name__)


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes_on_read(view):
    """Marks a view that changes stored data when it answers a GET (the API's token use); its session writes."""
    view.writes_on_read = True
    return view


def db() -> Session:
    """The request's database session (closed at teardown). A GET is answered from a ReadSession: it reads without
    the write lock and writes only its audit rows, in a short transaction of their own when it commits."""
    if "db" not in g:
        view = current_app.view_functions.get(request.endpoint)
        if request.method in READ_METHODS and not getattr(view, "writes_on_read", False):
            g.db = ReadSession(get_engine())
        else:
            g.db = Session(get_engine(), expire_on_commit=False)
    return g.db


def db_session_teardown(_exc=None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def _fingerprint(user: User) -> str:
    """Changes whenever the user's password does (it is of the hash, which has a fresh salt each time)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


class SignedInUser(UserMixin):
    def __init__(self, user: User):
        self.id, self.email, self.role, self.name = user.id, user.email, user.role, user.name
        self.fingerprint = _fingerprint(user)
        self.must_change_password = user.must_change_password

    def get_id(self) -> str:
        """What the session cookie keeps: the user's id and their password's fingerprint, so that changing or
        resetting a password ends every session signed in with the old one (Flask-Login's alternative token)."""
        return f"{self.id}:{self.fingerprint}"


@login_manager.user_loader
def load_user(session_id: str):
    user_id, _, fingerprint = session_id.partition(":")
    user = signed_in_user(db(), int(user_id)) if user_id.isdigit() else None
    if user is None or not user.active or not hmac.compare_digest(fingerprint, _fingerprint(user)):
        return None
    remember_user(db(), user)
    return SignedInUser(user)


# What a user whose password an admin chose may reach before replacing it
BEFORE_A_NEW_PASSWORD = {"auth.password", "auth.logout", "static", "assets"}


@bp.before_app_request
def new_password_first():
    """A user signed in with a password an admin chose (a new account, a reset) is sent to change it first."""
    if (current_user.is_authenticated and current_user.must_change_password
            and request.endpoint not in BEFORE_A_NEW_PASSWORD):
        return redirect(url_for("auth.password"))
    return None


class SignInForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address"),
                                                    Email("Enter an email address in the correct format")])
    password = PasswordField("Password", validators=[DataRequired("Enter your password")])


@bp.route("/", methods=["GET", "POST"])
@bp.route("/sign-in", methods=["GET", "POST"], endpoint="login")
@public
def login():
    """Public: the sign-in page."""
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        try:
            user = sign_in(db(), form.email.data, form.password.data)
        except SignInRefused as refused:
            error = str(refused)
            form.form_errors.append(error)
        db().commit()  # the audit rows and the failure count are kept whether or not sign-in succeeded
        if error is None:
            login_user(SignedInUser(user))
            return redirect(url_for("auth.home"))
    return render_template("auth/sign_in.html", form=form, title="Sign in")


@bp.route("/home")
@signed_in
def home():
    """Any signed-in user: where sign-in lands (school staff: their pupils; admins: the users; others: the worklist)."""
    if current_user.role == "school":
        return redirect(url_for("schools.pupils"))
    if current_user.role == "admin":
        return redirect(url_for("admin.users"))
    return redirect(url_for("cases.worklist"))


@bp.route("/sign-out", methods=["POST"])
@signed_in
def logout():
    """Any signed-in user: sign out."""
    logout_user()
    flash("You have signed out.")
    return redirect(url_for("auth.login"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password")])
    new_password = PasswordField("New password", validators=[DataRequired("Enter a new password")])
    confirm_password = PasswordField("Confirm new password", validators=[
        DataRequired("Confirm your new password"),
        EqualTo("new_password", "The new password and its confirmation do not match")])


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
def password():
    """Any signed-in user: change their own password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            user = change_password(db(), current_user.id, form.current_password.data, form.new_password.data)
        except SignInRefused as refused:
            form.current_password.errors.append(str(refused))
        except BadInput as rejected:
            form.new_password.errors.append(str(rejected))
        db().commit()  # a wrong current password is a failed sign-in, counted and audited
        if not form.errors:
            login_user(SignedInUser(user))  # this session goes on; those signed in with the old password end
            flash("Your password has been changed. You have been signed out everywhere else.")
            return redirect(url_for("auth.home"))
    return render_template("auth/change_password.html", form=form, min_length=MIN_PASSWORD_LENGTH,
                           title="Change your password", forced=current_user.must_change_password)
