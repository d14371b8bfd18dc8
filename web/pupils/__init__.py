"""Pupil search, the pupil page (register heat-map, measures, the sessions behind each threshold) and the family view."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pupils", __name__)
