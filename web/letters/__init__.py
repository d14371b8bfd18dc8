"""Print runs: letters waiting to be posted gathered into one print-ready PDF, and marked as posted."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("letters", __name__)
