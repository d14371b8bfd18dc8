"""What the administration views share: showing a service's refusal on its form, binding only the posted form,
page numbers and the helpers their templates use."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import abort, request
from flask_wtf import FlaskForm

from casework import clock
from casework.services.users import LOCAL_TIME, MIN_PASSWORD_LENGTH

from .forms import PHASE_LABELS, ROLE_LABELS

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a logo is at most 500 KB: anything much bigger is refused before it is read


def refuse(form: FlaskForm, error: Exception, field: str = "") -> None:
    """Show a service's refusal on the form: each problem under its field (or `field`), others above the form."""
    problems = getattr(error, "problems", None) or {field: _sentence(str(error))}
    for name, message in problems.items():
        if name and name in form:
            form[name].errors = [*form[name].errors, message]
        else:
            form.form_errors.append(message)


def bound(form_class: type[FlaskForm], posted: bool, **data) -> FlaskForm:
    """The form filled from the request when it is the one posted, otherwise from `data` alone."""
    return form_class(data=data) if posted else form_class(formdata=None, data=data)


def posted_action() -> str:
    """Which of a page's forms was posted (its hidden `action`); "" for a GET."""
    return request.form.get("action", "") if request.method == "POST" else ""


def page_number() -> int:
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404)
    return page


def local_time(moment: datetime | None) -> str:
    """A stored time as UK local time, like "23 Nov 2026 09:00"; "" for none."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(LOCAL_TIME).strftime("%d %b %Y %H:%M")


def locked_until(user) -> datetime | None:
    """When the user's sign-in lock ends, if it has not ended."""
    until = user.locked_until
    if until is not None and (until if until.tzinfo else until.replace(tzinfo=timezone.utc)) > clock.now():
        return until
    return None


def template_helpers() -> dict:
    return {"local_time": local_time, "locked_until": locked_until, "role_labels": ROLE_LABELS,
            "role_hints": {role: hint for role, (_, hint) in ROLE_LABELS.items()},
            "role_items": [{"value": role, "text": label} for role, (label, _) in ROLE_LABELS.items()],
            "phase_labels": PHASE_LABELS, "min_password_length": MIN_PASSWORD_LENGTH}


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]
