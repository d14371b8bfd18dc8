"""Cookie flags, a Content-Security-Policy and the usual security headers for every response.

Cookies are `Secure` (and HSTS is sent) unless the app is under test or CASEWORK_INSECURE_COOKIES=1, which
is only for the development server on http://127.0.0.1 (scripts/demo.sh): a browser would not send a Secure
cookie back over plain http, so sign-in could not work there.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta

from flask import Flask, Response, g

SESSION_LIFETIME = timedelta(hours=8)
HSTS = "max-age=31536000; includeSubDomains"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def cookies_are_secure(app: Flask) -> bool:
    """Secure cookies and HSTS everywhere but tests and the http development server."""
    return not app.testing and os.environ.get("CASEWORK_INSECURE_COOKIES") != "1"


def csp_nonce() -> str:
    """This response's nonce for inline <script> (the GOV.UK page template reads it as `cspNonce`)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy() -> str:
    script_src = f"'self' 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else "'self'"
    return ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
            f"script-src {script_src}; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'self'")


def configure_security(app: Flask) -> None:
    """Set the cookie flags and add the security headers to every response."""
    secure = cookies_are_secure(app)
    app.config.update(
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.context_processor(lambda: {"cspNonce": csp_nonce()})

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        response.headers.update(HEADERS)
        response.headers["Content-Security-Policy"] = content_security_policy()
        if secure:
            response.headers["Strict-Transport-Security"] = HSTS
        if "Cache-Control" not in response.headers:  # static files set their own caching
            response.headers["Cache-Control"] = "no-store"
        return response
