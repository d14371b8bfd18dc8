"""The live data feed: a school's MIS posts the day's marks and roll changes as JSON, with a per-school token.

Each post is one transaction: every row is checked (here for shape and scope, then by the importer) before
anything is written, and any problem rejects the whole post with errors naming the row and the field.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from werkzeug.exceptions import HTTPException

from casework import clock
from casework.models import FeedRequest
from casework.services import feed
from casework.services.feed import MARK_FIELDS, PUPIL_BOOLEAN_FIELDS, PUPIL_REQUIRED, PUPIL_TEXT_LIMITS
from casework.services.tokens import FeedCaller

from ..auth import db, writes_on_read
from ..permissions import api_token, public
from .openapi import EARLIEST_MARK_DATE, IDEMPOTENCY_KEY_PATTERN, MAX_BODY_BYTES, MAX_ERRORS, openapi_document

bp = Blueprint("api", __name__, url_prefix="/api")

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Rejected(Exception):
    """The post is refused as a whole: `status` and the errors to return."""

    def __init__(self, status: int, errors: list[dict]):
        super().__init__(errors[0]["message"] if errors else str(status))
        self.status, self.errors = status, errors


def error(message: str, row: int | None = None, field: str | None = None) -> dict:
    return {"row": row, "field": field, "message": message}


def errors_response(status: int, errors: list[dict], headers: dict | None = None) -> Response:
    response = jsonify({"errors": errors[:MAX_ERRORS]})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def unauthorised(token_given: bool) -> Response:
    """401 for a missing, unknown or revoked token (called by the `api_token` permission check)."""
    challenge = 'Bearer realm="casework"' + (', error="invalid_token"' if token_given else "")
    message = "the API token is not valid (unknown or revoked)" if token_given else \
        "an API token is required: Authorization: Bearer <token>"
    return errors_response(401, [error(message)], {"WWW-Authenticate": challenge})


@bp.before_request
def limit_body_size():
    request.max_content_length = MAX_BODY_BYTES


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """JSON, not the HTML error page, for clients of the API (413 from the size limit, 405, 500 ...)."""
    return errors_response(exc.code or 500, [error(exc.description or exc.name)])


@bp.get("/openapi.json")
@public
def openapi():
    """Public: the OpenAPI description of the feed."""
    return jsonify(openapi_document())


@bp.get("/v1/school")
@writes_on_read
@api_token
def school():
    """A live token: the school it writes for (for MIS set-up checks)."""
    caller: FeedCaller = g.feed_caller
    db().commit()  # the token's last use
    return jsonify({"urn": caller.school_urn, "name": caller.school_name, "token_prefix": caller.token_prefix})


@bp.post("/v1/marks")
@api_token
def post_marks():
    """A live token: the day's attendance marks for pupils on the token's school roll."""
    return _post("marks")


@bp.post("/v1/pupils")
@api_token
def post_pupils():
    """A live token: joiners and changed details of pupils on the token's school roll."""
    return _post("pupils")


# ---------------------------------------------------------------- one post

def _post(kind: str) -> Response:
    session, caller = db(), g.feed_caller
    try:
        if request.mimetype != "application/json":
            raise Rejected(415, [error("the body must be JSON, sent as Content-Type: application/json")])
        raw = request.get_data(cache=False)
        digest = hashlib.sha256(raw).hexdigest()
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            if not _IDEMPOTENCY_KEY.fullmatch(key):
                raise Rejected(400, [error("must be 1 to 200 visible ASCII characters", field="Idempotency-Key")])
            stored = _stored(session, caller, key)
            if stored is not None:
                session.commit()  # the token's last use
                return _replay(stored, digest)
        items = _checked(kind, _parse(raw, kind))
        try:
            result = feed.post(session, caller, kind, items)
            if key is not None:
                session.add(FeedRequest(token_id=caller.token_id, idempotency_key=key, body_sha256=digest,
                                        status_code=200, response=json.dumps(result, sort_keys=True),
                                        created_at=clock.now()))
            session.commit()
        except IntegrityError:
            # A concurrent request with this key got there first: answer as a repeat of it is answered.
            session.rollback()
            stored = _stored(session, caller, key) if key is not None else None
            if stored is None:
                raise
            session.commit()
            return _replay(stored, digest)
    except feed.FeedRejected as exc:
        session.rollback()
        return errors_response(422, exc.problems)
    except Rejected as exc:
        session.rollback()
        return errors_response(exc.status, exc.errors)
    return jsonify(result)


def _stored(session: Session, caller: FeedCaller, key: str) -> FeedRequest | None:
    return session.exec(select(FeedRequest).where(FeedRequest.token_id == caller.token_id,
                                                  FeedRequest.idempotency_key == key)).first()


def _replay(stored: FeedRequest, digest: str) -> Response:
    if stored.body_sha256 != digest:
        raise Rejected(409, [error("this Idempotency-Key was used with a different body", field="Idempotency-Key")])
    return Response(stored.response, status=stored.status_code, mimetype="application/json",
                    headers={"Idempotent-Replayed": "true"})


def _parse(raw: bytes, kind: str) -> list:
    """The array of rows under `kind`; 400 if the body is not JSON of the shape {kind: [...]}."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Rejected(400, [error(f"the body is not valid JSON: {exc}")]) from None
    if not isinstance(body, dict):
        raise Rejected(400, [error(f"the body must be a JSON object with one member, {kind!r}")])
    extra = sorted(set(body) - {kind})
    problems = [error(f"unknown member {name!r}", field=_shown(name)) for name in extra]
    if kind not in body:
        problems.append(error(f"{kind!r} is required", field=kind))
    elif not isinstance(body[kind], list):
        problems.append(error(f"{kind!r} must be an array", field=kind))
    if problems:
        raise Rejected(400, problems)
    return body[kind]


def _checked(kind: str, items: list) -> list[dict]:
    """The items, or 422 naming each row and field that is not the shape the OpenAPI document describes."""
    problems: list[dict] = []
    for index, item in enumerate(items):
        problems += _shape_problems(kind, index, item)
        if len(problems) >= MAX_ERRORS:
            break
    if problems:
        raise Rejected(422, problems)
    return items


def _shape_problems(kind: str, index: int, item: Any) -> list[dict]:
    if not isinstance(item, dict):
        return [error("must be a JSON object", index)]
    allowed = MARK_FIELDS if kind == "marks" else (*PUPIL_TEXT_LIMITS, *PUPIL_BOOLEAN_FIELDS, "sen")
    required = MARK_FIELDS if kind == "marks" else PUPIL_REQUIRED
    problems = [error(f"unknown field {name!r}", index, _shown(name)) for name in item if name not in allowed]
    problems += [error(f"{name} is required", index, name) for name in required if name not in item]
    for name, value in item.items():
        if name not in allowed:
            continue
        if name in PUPIL_BOOLEAN_FIELDS:
            if not isinstance(value, bool):
                problems.append(error(f"{name} must be true or false", index, name))
            continue
        limit = PUPIL_TEXT_LIMITS.get(name, 13) if kind == "pupils" else 13
        problem = _text_problem(value, limit)
        if not problem and kind == "marks" and name == "date" and _ISO_DATE.fullmatch(value.strip()) \
                and value.strip() < EARLIEST_MARK_DATE:
            problem = f"{value!r}: the feed takes marks from {EARLIEST_MARK_DATE} on"
        if problem:
            problems.append(error(f"{name} {problem}", index, name))
    return problems


def _text_problem(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > limit:
        return f"must be at most {limit} characters"
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 or 0xD800 <= ord(ch) < 0xE000 for ch in value):
        return "must not contain control characters"
    return ""


def _shown(name: str) -> str:
    return name if _text_problem(name, 64) == "" else repr(name)[:66]

