"""The one permission check each view carries, recorded on the view so a test can prove every view has one."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user

from .extensions import login_manager


def _mark(view, rule: str):
    if hasattr(view, "permission"):
        raise RuntimeError(f"{view.__name__} already has a permission check ({view.permission})")
    view.permission = rule
    return view


def public(view):
    """No sign-in needed (the sign-in page itself)."""
    return _mark(view, "public")


def signed_in(view):
    """Any signed-in user."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)
    return _mark(wrapper, "signed_in")


def roles(*allowed: str):
    """Signed-in users holding one of these roles."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)
        return _mark(wrapper, "roles:" + ",".join(allowed))
    return decorate


def api_token(view):
    """A live school MIS token (`Authorization: Bearer …`); `g.feed_caller` is the school it speaks for."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        from flask import g, request

        from casework.services.tokens import authenticate

        from .api import unauthorised  # web.api and web.auth import this module, so import them here
        from .auth import db

        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        presented = presented.strip() if scheme.lower() == "bearer" else ""
        caller = authenticate(db(), presented)
        if caller is None:
            db().commit()  # keep the failed-login audit row
            return unauthorised(bool(presented))
        g.feed_caller = caller
        return view(*args, **kwargs)
    return _mark(wrapper, "api_token")
