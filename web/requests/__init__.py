"""Penalty notice requests from schools: the school's request, the AEO's review queue, outcomes and figures."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("requests", __name__)
