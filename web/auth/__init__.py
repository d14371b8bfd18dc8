"""Sign in and sign out."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_login import UserMixin, login_user, logout_user
from flask_wtf import FlaskForm
from sqlmodel import Session, select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email

from casework.db import get_engine
from casework.models import User
from casework.services.audit import audit
from casework.services.users import verify_password

from ..extensions import login_manager
from ..permissions import public, signed_in

bp = Blueprint("auth", __name__)


def db() -> Session:
    """The request's database session (closed at teardown)."""
    if "db" not in g:
        g.db = Session(get_engine(), expire_on_commit=False)
    return g.db


def db_session_teardown(_exc=None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


class SignedInUser(UserMixin):
    def __init__(self, user: User):
        self.id, self.email, self.role, self.name = user.id, user.email, user.role, user.name


@login_manager.user_loader
def load_user(user_id: str):
    user = db().get(User, int(user_id))
    return SignedInUser(user) if user and user.active else None


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
        session = db()
        user = session.exec(select(User).where(User.email == form.email.data.strip().lower())).first()
        if user and user.active and verify_password(user, form.password.data):
            audit(session, user.email, "login", "user", user.email)
            session.commit()
            login_user(SignedInUser(user))
            return redirect(url_for("auth.home"))
        audit(session, form.email.data.strip().lower(), "login_failed", "user", form.email.data.strip().lower())
        session.commit()
        error = "The email address or password is not right"
    return render_template("auth/sign_in.html", form=form, error=error, title="Sign in")


@bp.route("/home")
@signed_in
def home():
    """Any signed-in user: where sign-in lands."""
    return render_template("auth/home.html", title="Your work")


@bp.route("/sign-out", methods=["POST"])
@signed_in
def logout():
    """Any signed-in user: sign out."""
    logout_user()
    flash("You have signed out.")
    return redirect(url_for("auth.login"))
