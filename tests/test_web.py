"""The web application: every view has exactly one permission check; sign-in with CSRF and audit."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from casework.models import AuditLog
from web import create_app

from .factories import PASSWORD, make_user


@pytest.fixture()
def app(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("CASEWORK_DATABASE_URL", db_url)
    monkeypatch.setenv("CASEWORK_INSTANCE", str(tmp_path))
    return create_app({"TESTING": True})


def test_every_view_has_exactly_one_permission_check(app):
    for endpoint, view in app.view_functions.items():
        assert getattr(view, "permission", None), f"view {endpoint} has no permission check"


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_sign_in_needs_csrf_and_is_audited(app, engine):
    from sqlmodel import Session

    with Session(engine, expire_on_commit=False) as session:
        user = make_user(session, "aeo")
        session.commit()
    client = app.test_client()
    page = client.get("/sign-in")
    assert page.status_code == 200 and b"Sign in" in page.data
    assert page.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in page.headers["Content-Security-Policy"]
    no_token = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert no_token.status_code == 400
    token = _token(page.get_data(as_text=True))
    wrong = client.post("/sign-in", data={"email": user.email, "password": "not it", "csrf_token": token})
    assert wrong.status_code == 200 and b"The email address or password is not right" in wrong.data
    assert client.get("/home").status_code == 302
    ok = client.post("/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/home")
    assert client.get("/home").headers["Location"].endswith("/worklist"), "an AEO lands on the worklist"
    assert b"Worklist" in client.get("/worklist").data
    with Session(engine) as session:
        actions = [a.action for a in session.exec(select(AuditLog).where(AuditLog.object_ref == user.email))]
        assert actions.count("login_failed") == 1 and actions.count("login") == 1
        session.delete(session.get(type(user), user.id))  # committed rows are removed again
        for row in session.exec(select(AuditLog).where(AuditLog.object_ref == user.email)):
            session.delete(row)
        session.commit()
