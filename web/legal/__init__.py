"""The legal officer's view: cases referred for prosecution with the s.127 limitation clock."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("legal", __name__)
