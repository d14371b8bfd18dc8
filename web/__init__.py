"""The Flask application: the factory only wires configuration, extensions, blueprints and error handlers."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template, send_from_directory
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader

from casework import config

from .extensions import csrf, login_manager
from .permissions import public
from .security import configure_security


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder="static")
    app.view_functions["static"].permission = "public"  # stylesheets and images: GOV.UK Frontend and our own
    # GOV.UK Frontend's stylesheet asks for its fonts and images under /assets/
    govuk_assets = Path(app.static_folder) / "vendor" / "node_modules" / "govuk-frontend" / "dist" / "govuk" / "assets"
    app.add_url_rule("/assets/<path:filename>", "assets", public(
        lambda filename: send_from_directory(govuk_assets, filename, max_age=86400)))
    app.jinja_loader = ChoiceLoader([app.jinja_loader, PrefixLoader(
        {"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")})])
    app.config.update(
        SECRET_KEY=config.secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
    )
    if test_config:
        app.config.update(test_config)
    configure_security(app)
    csrf.init_app(app)
    login_manager.init_app(app)

    from . import admin, cases, dashboard, legal, letters, pupils, requests, schools
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .auth import db_session_teardown
    from .ui import install as install_ui

    app.register_blueprint(auth_bp)
    for area in (cases, pupils, schools, requests, legal, dashboard, letters, admin):
        app.register_blueprint(area.bp)
    app.register_blueprint(api_bp)
    install_ui(app)
    csrf.exempt(api_bp)  # the feed authenticates each request with a bearer token, not a session cookie
    app.teardown_appcontext(db_session_teardown)

    @app.errorhandler(403)
    def forbidden(_error):
        return render_template("error.html", title="You cannot see this page",
                               message="Your account does not give access to this page."), 403

    @app.errorhandler(404)
    def not_found(_error):
        return render_template("error.html", title="Page not found",
                               message="If you typed the web address, check it is correct."), 404

    return app
