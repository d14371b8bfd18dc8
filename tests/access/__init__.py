"""The access matrix, one module per area of the web application.

Each module here defines `ROUTES = {route: {who: status}}` for the GET answers of its routes, with an answer for each
of `WHO`, `POST_ONLY = {route, ...}` for routes that only take a form or JSON post, and optionally
`params(session, world) -> dict` giving values for the parameters its routes use beyond the shared ones. Routes are
written as Flask rules with each parameter as `{name}` (`/cases/<ref>/letters/<int:letter_id>` is
`/cases/{ref}/letters/{letter_id}`). school_a is the school of the world's pupil and case; school_b is another school.
"""
from __future__ import annotations

import importlib
import pkgutil
import re

from sqlmodel import Session, select

WHO = ("anonymous", "admin", "aeo", "manager", "legal", "school_a", "school_b")
PUBLIC = {"/": 200, "/sign-in": 200, "/api/openapi.json": 200, "/static/{filename}": 200,
          "/assets/{filename}": 200}
FILES = {"/static/{filename}": "/static/casework.css",  # a real file behind each static route
         "/assets/{filename}": "/assets/fonts/bold-b542beb274-v2.woff2"}


def pattern(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _areas():
    return [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]


def matrix() -> dict[str, dict[str, int]]:
    routes: dict[str, dict[str, int]] = {}
    for area in _areas():
        clash = set(routes) & set(area.ROUTES)
        assert not clash, f"{area.__name__} repeats {clash}"
        routes.update(area.ROUTES)
    return routes


def post_only() -> set[str]:
    return set().union(*(getattr(area, "POST_ONLY", set()) for area in _areas()))


def params(app, world, url: str) -> dict:
    from casework.db import get_engine
    from casework.models import Letter

    values = {"ref": world.ref, "pupil_id": world.pupil_id, "school_id": world.school_id}
    with Session(get_engine(url), expire_on_commit=False) as session:
        values["letter_id"] = session.exec(select(Letter.id).order_by(Letter.id)).first()
        for area in _areas():
            if hasattr(area, "params"):
                values.update(area.params(session, world))
        session.commit()
    return values
