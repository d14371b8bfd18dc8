"""Administration: users, schools, feed tokens and the authority settings letters use."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__)
