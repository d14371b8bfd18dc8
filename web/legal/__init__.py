"""The legal officer's view: cases in legal action with the s.127 limitation clock, the interview and the court step."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from casework import clock
from casework.services.audit import audit
from casework.services.legal import URGENT_DAYS, prosecutions as list_prosecutions

from ..auth import db
from ..permissions import roles

bp = Blueprint("legal", __name__)


@bp.route("/legal")
@roles("legal", "manager")
def prosecutions():
    """Legal officers and managers: every case in legal action, the nearest limitation date first."""
    session = db()
    rows = list_prosecutions(session, clock.today())
    audit(session, current_user.email, "read", "prosecutions", current_user.email, {"cases": len(rows)})
    session.commit()
    return render_template("legal/prosecutions.html", title="Legal action", rows=rows, urgent_days=URGENT_DAYS,
                           today=clock.today())


from . import bundles  # noqa: E402  (the evidence and court bundle pages of this blueprint)

__all__ = ["bp", "bundles"]
