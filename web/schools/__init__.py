"""The school portal: the school's pupils, raising a concern, and the school's cases (without the LA's restricted notes)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("schools", __name__)
