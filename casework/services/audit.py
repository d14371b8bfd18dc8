"""The audit log: every read and change of a case, and every change of other records, with who and when."""
from __future__ import annotations

import json

from sqlmodel import Session

from .. import clock
from ..models import AuditLog

ACTIONS = ("read", "create", "update", "export", "import", "login", "login_failed", "locked")


def audit(session: Session, user_email: str, action: str, object_type: str, object_ref: str,
          detail: dict | None = None) -> None:
    """Append one audit row in the caller's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    session.add(AuditLog(at=clock.now(), user_email=user_email, action=action, object_type=object_type,
                         object_ref=object_ref, detail=json.dumps(detail or {}, default=str, sort_keys=True)))
