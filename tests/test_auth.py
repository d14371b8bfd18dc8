"""Sign-in throttling and its audit, changing a password, CSRF on the change form, and the security headers."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session, select

from casework import clock
from casework.models import AuditLog, User
from casework.services import users
from casework.services.errors import BadInput
from casework.services.users import AccountLocked, SignInRefused, change_password, sign_in
from web import create_app
from web.security import configure_security

from .factories import PASSWORD, make_user
from .web_support import error_summary

NINE = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)  # the frozen clock
NEW_PASSWORD = "a much longer passphrase"


def _actions(session: Session, email: str) -> list[str]:
    return [a.action for a in session.exec(select(AuditLog).where(AuditLog.object_ref == email).order_by(AuditLog.id))]


def _fail(session: Session, email: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(SignInRefused):
            sign_in(session, email, "not the password")


def test_four_failures_then_the_right_password_signs_in_and_resets_the_count(session):
    user = make_user(session, "aeo")
    _fail(session, user.email, 4)
    assert user.failed_logins == 4
    assert sign_in(session, f"  {user.email.upper()} ", PASSWORD).id == user.id
    assert user.failed_logins == 0 and user.locked_until is None
    assert _actions(session, user.email) == ["create"] + ["login_failed"] * 4 + ["login"]


def test_five_failures_lock_the_account_and_the_lock_is_audited_once(session):
    user = make_user(session, "aeo")
    _fail(session, user.email, 4)
    with pytest.raises(AccountLocked) as locked:
        sign_in(session, user.email, "not the password")
    assert user.locked_until == NINE + users.LOCK_DURATION
    assert "Try again after 09:15" in str(locked.value)
    with pytest.raises(AccountLocked) as refused:
        sign_in(session, user.email, PASSWORD)
    assert str(refused.value) == str(locked.value)  # the message does not say whether the password was right
    _fail(session, user.email, 3)
    actions = _actions(session, user.email)
    assert actions.count("locked") == 1 and actions.count("login_failed") == 9 and "login" not in actions


def test_the_lock_ends_after_fifteen_minutes(session):
    user = make_user(session, "aeo")
    _fail(session, user.email, 5)
    clock.freeze(NINE + users.LOCK_DURATION - timedelta(seconds=1))
    with pytest.raises(AccountLocked):
        sign_in(session, user.email, PASSWORD)
    clock.freeze(NINE + users.LOCK_DURATION)
    assert sign_in(session, user.email, PASSWORD).id == user.id
    assert user.locked_until is None


def test_an_unknown_email_is_a_failed_sign_in_checked_against_a_real_hash(session, monkeypatch):
    verified = []

    class RecordingHasher(PasswordHasher):
        def verify(self, hash_, password):
            verified.append(hash_)
            return super().verify(hash_, password)

    monkeypatch.setattr(users, "_hasher", RecordingHasher())
    with pytest.raises(SignInRefused, match="The email address or password is not right"):
        sign_in(session, "Nobody@Example.org", PASSWORD)
    assert verified == [users._HASH_OF_NO_ONE]
    row = session.exec(select(AuditLog).where(AuditLog.object_ref == "nobody@example.org")).one()
    assert row.action == "login_failed" and row.user_email == "nobody@example.org"


def test_a_wrong_current_password_counts_towards_the_lock(session):
    user = make_user(session, "aeo")
    _fail(session, user.email, 4)
    with pytest.raises(AccountLocked):
        change_password(session, user.id, "not the password", NEW_PASSWORD)
    assert users.verify_password(user, PASSWORD)
    assert _actions(session, user.email).count("locked") == 1


@pytest.mark.parametrize("new, problem", [("too short", "at least 10 characters"),
                                          ("A.Longer.Name@Example.org", "must not be your email address")])
def test_a_new_password_must_be_long_and_not_the_email(session, new, problem):
    user = make_user(session, "aeo", email="a.longer.name@example.org")
    with pytest.raises(BadInput, match=problem):
        change_password(session, user.id, PASSWORD, new)
    assert users.verify_password(user, PASSWORD)


# The web app: committed users in the shared test database, removed again afterwards.

@pytest.fixture()
def app(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("CASEWORK_DATABASE_URL", db_url)
    monkeypatch.setenv("CASEWORK_INSTANCE", str(tmp_path))
    monkeypatch.delenv("CASEWORK_INSECURE_COOKIES", raising=False)
    app = create_app({"TESTING": True})
    configure_security(app)
    return app


@pytest.fixture()
def user(engine):
    with Session(engine, expire_on_commit=False) as session:
        user = make_user(session, "aeo")
        session.commit()
    yield user
    with Session(engine) as session:
        for row in session.exec(select(AuditLog).where(AuditLog.object_ref == user.email)):
            session.delete(row)
        session.delete(session.get(User, user.id))
        session.commit()


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _signed_in(app, email: str, password: str = PASSWORD):
    client = app.test_client()
    token = _token(client.get("/sign-in").get_data(as_text=True))
    assert client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token}).status_code == 302
    return client


def test_the_sign_in_page_says_when_a_locked_account_may_try_again(app, user, engine):
    client = app.test_client()
    token = _token(client.get("/sign-in").get_data(as_text=True))
    for _ in range(users.MAX_FAILED_SIGN_INS):
        page = client.post("/sign-in", data={"email": user.email, "password": "not it", "csrf_token": token})
    assert "Try again after 09:15" in page.get_data(as_text=True)
    right = client.post("/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 200 and "Try again after 09:15" in right.get_data(as_text=True)
    with Session(engine) as session:
        assert _actions(session, user.email).count("locked") == 1


def test_changing_a_password_needs_a_csrf_token(app, user):
    client = _signed_in(app, user.email)
    posted = client.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                     "confirm_password": NEW_PASSWORD})
    assert posted.status_code == 400


def test_changing_a_password_needs_sign_in(app):
    assert app.test_client().get("/account/password").headers["Location"].startswith("/sign-in")


@pytest.mark.parametrize("current, new, confirm, field, message", [
    ("not the password", NEW_PASSWORD, NEW_PASSWORD, "current_password", "The current password is not right"),
    (PASSWORD, "too short", "too short", "new_password", "The password must be at least 10 characters"),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "confirm_password",
     "The new password and its confirmation do not match"),
])
def test_a_refused_change_is_shown_in_the_error_summary_and_at_the_field(app, user, engine, current, new, confirm,
                                                                          field, message):
    client = _signed_in(app, user.email)
    token = _token(client.get("/account/password").get_data(as_text=True))
    page = client.post("/account/password", data={"current_password": current, "new_password": new,
                                                  "confirm_password": confirm, "csrf_token": token})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert (f"#{field}", message) in error_summary(html)
    assert f'id="{field}-error"><span class="govuk-visually-hidden">Error:</span> {message}</p>' in html
    with Session(engine) as session:
        stored = session.get(User, user.id)
        assert users.verify_password(stored, PASSWORD)
        assert stored.failed_logins == (1 if field == "current_password" else 0)


def test_a_changed_password_replaces_the_old_one(app, user, engine):
    client = _signed_in(app, user.email)
    token = _token(client.get("/account/password").get_data(as_text=True))
    done = client.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                  "confirm_password": NEW_PASSWORD, "csrf_token": token},
                       follow_redirects=True)
    assert "Your password has been changed" in done.get_data(as_text=True)
    with Session(engine) as session:
        stored = session.get(User, user.id)
        assert stored.password_hash.startswith("$argon2") and users.verify_password(stored, NEW_PASSWORD)
        assert not users.verify_password(stored, PASSWORD)
        assert "update" in _actions(session, user.email)
    client = app.test_client()
    token = _token(client.get("/sign-in").get_data(as_text=True))
    old = client.post("/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert old.status_code == 200 and b"The email address or password is not right" in old.data
    _signed_in(app, user.email, NEW_PASSWORD)


def test_changing_a_password_ends_the_other_sessions_but_not_this_one(app, user):
    here, elsewhere = _signed_in(app, user.email), _signed_in(app, user.email)
    assert elsewhere.get("/account/password").status_code == 200
    token = _token(here.get("/account/password").get_data(as_text=True))
    done = here.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                "confirm_password": NEW_PASSWORD, "csrf_token": token})
    assert done.status_code == 302
    assert here.get("/account/password").status_code == 200, "the session that changed it goes on"
    assert elsewhere.get("/account/password").headers["Location"].startswith("/sign-in"), "the other one has ended"


def test_an_admin_reset_ends_the_users_sessions(app, user, engine):
    signed_in = _signed_in(app, user.email)
    assert signed_in.get("/account/password").status_code == 200
    with Session(engine) as session:
        admin = make_user(session, "admin")
        users.reset_password(session, user.id, admin.email)
        session.commit()
    assert signed_in.get("/account/password").headers["Location"].startswith("/sign-in")


def test_after_an_admin_reset_the_user_must_choose_a_new_password_before_anything_else(app, user, engine):
    with Session(engine) as session:
        admin = make_user(session, "admin")
        given = users.reset_password(session, user.id, admin.email)
        session.commit()
    client = _signed_in(app, user.email, given)
    for path in ("/home", "/worklist", "/pupils"):
        assert client.get(path).headers["Location"] == "/account/password", path
    form = client.get("/account/password").get_data(as_text=True)
    assert "Your password was set by an administrator" in form
    token = _token(form)
    same = client.post("/account/password", data={"current_password": given, "new_password": given,
                                                  "confirm_password": given, "csrf_token": token})
    assert ("#new_password", "The new password must be different from the current one") in \
        error_summary(same.get_data(as_text=True))
    done = client.post("/account/password", data={"current_password": given, "new_password": NEW_PASSWORD,
                                                  "confirm_password": NEW_PASSWORD, "csrf_token": token})
    assert done.status_code == 302
    assert client.get("/worklist").status_code == 200, "free to go on"
    with Session(engine) as session:
        assert session.get(User, user.id).must_change_password is False


def test_a_deactivated_user_is_signed_out_at_their_next_request(app, user, engine):
    signed_in = _signed_in(app, user.email)
    with Session(engine) as session:
        session.get(User, user.id).active = False
        session.commit()
    assert signed_in.get("/account/password").headers["Location"].startswith("/sign-in")


def test_every_page_carries_the_security_headers(app):
    client = app.test_client()
    page = client.get("/sign-in")
    nonce = re.search(r'<script nonce="([^"]+)">', page.get_data(as_text=True)).group(1)
    assert page.headers["Content-Security-Policy"] == (
        f"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=()"
    assert page.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in page.headers  # tests run over http
    assert client.get("/static/casework.css").headers["Cache-Control"] == "no-cache"  # static files cache their own way


def test_each_page_has_a_fresh_script_nonce_and_other_responses_none(app):
    client = app.test_client()
    first, second = client.get("/sign-in"), client.get("/sign-in")
    assert first.headers["Content-Security-Policy"] != second.headers["Content-Security-Policy"]
    feed = client.get("/api/v1/school")
    assert feed.status_code == 401 and "script-src 'self';" in feed.headers["Content-Security-Policy"]
    assert feed.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("insecure, secure", [(None, True), ("1", False)])
def test_cookies_are_secure_unless_developing_over_http(db_url, monkeypatch, tmp_path, insecure, secure):
    monkeypatch.setenv("CASEWORK_DATABASE_URL", db_url)
    monkeypatch.setenv("CASEWORK_INSTANCE", str(tmp_path))
    if insecure:
        monkeypatch.setenv("CASEWORK_INSECURE_COOKIES", insecure)
    else:
        monkeypatch.delenv("CASEWORK_INSECURE_COOKIES", raising=False)
    app = create_app()
    configure_security(app)
    assert app.config["SESSION_COOKIE_SECURE"] is secure and app.config["REMEMBER_COOKIE_SECURE"] is secure
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)
    page = app.test_client().get("/sign-in", base_url="https://localhost")
    assert ("Strict-Transport-Security" in page.headers) is secure
    cookie = page.headers["Set-Cookie"]
    assert ("; Secure" in cookie) is secure and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie


def test_get_user_reads_a_user_once_per_session_but_not_one_a_rollback_took_away(session):
    nested = session.begin_nested()
    user = make_user(session, "aeo")
    assert users.get_user(session, user.email) is user
    assert users.get_user(session, user.email.upper()) is user  # remembered under the normalised email
    nested.rollback()
    with pytest.raises(users.PermissionDenied):
        users.get_user(session, user.email)
