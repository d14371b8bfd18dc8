"""Administration: users, schools, feed tokens and the authority settings letters use (admins only)."""
from __future__ import annotations

from flask import Blueprint, request

from .common import MAX_UPLOAD_BYTES, template_helpers

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.context_processor(template_helpers)


@bp.before_request
def limit_upload_size():
    request.max_content_length = MAX_UPLOAD_BYTES


from . import schools, settings, tokens, users  # noqa: E402  (each adds its routes to bp)

AREAS = (users, schools, tokens, settings)
