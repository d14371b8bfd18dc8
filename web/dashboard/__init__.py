"""The manager's dashboard: cases by state and officer, allocation, and absence by school and group against national figures."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dashboard", __name__)
