"""The append-only, hash-chained case chronology."""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from functools import cache

from sqlalchemy import bindparam
from sqlmodel import Session, select

from .models import CaseEvent

GENESIS = "0" * 64


def event_hash(prev_hash: str, case_ref: str, seq: int, on: date, recorded_at: datetime, actor_email: str,
               trigger: str, from_state: str | None, to_state: str, data: str) -> str:
    payload = json.dumps([prev_hash, case_ref, seq, on.isoformat(), recorded_at.isoformat(), actor_email, trigger,
                          from_state, to_state, data], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _normalise(recorded_at: datetime) -> datetime:
    """Naive UTC, so that SQLite and PostgreSQL store and hash the same value."""
    if recorded_at.tzinfo is not None:
        recorded_at = recorded_at.astimezone(timezone.utc).replace(tzinfo=None)
    return recorded_at


def append(session: Session, case, *, on: date, recorded_at: datetime, actor_id: int | None, actor_email: str,
           trigger: str, from_state: str | None, to_state: str, data: dict) -> CaseEvent:
    """Add the next event of the case, chained to the previous one."""
    last = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc())).first()
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.hash
    body = json.dumps(data, sort_keys=True, default=str)
    recorded = _normalise(recorded_at)
    event = CaseEvent(case_id=case.id, seq=seq, on=on, recorded_at=recorded.replace(tzinfo=timezone.utc), actor_id=actor_id, actor_email=actor_email,
                      trigger=trigger, from_state=from_state, to_state=to_state, data=body, prev_hash=prev,
                      hash=event_hash(prev, case.ref, seq, on, recorded, actor_email, trigger, from_state, to_state, body))
    session.add(event)
    session.flush()
    return event


def events_of(session: Session, case) -> list[CaseEvent]:
    """The case's chronology, oldest first."""
    return list(session.exec(_events_query(), params={"case_id": case.id}).all())


@cache
def _events_query():
    """Built once: every case page and operation reads a chronology (see casework.services.facts)."""
    return select(CaseEvent).where(CaseEvent.case_id == bindparam("case_id")).order_by(CaseEvent.seq)


def verify(session: Session, case, events: list[CaseEvent] | None = None) -> list[str]:
    """Problems found in the case's chain (empty when intact); `events`, when the caller has just read them all in
    order, are checked instead of reading them again."""
    problems = []
    prev = GENESIS
    if events is None:
        events = events_of(session, case)
    for expected_seq, e in enumerate(events, start=1):
        if e.seq != expected_seq:
            problems.append(f"event {expected_seq} is missing (found {e.seq})")
        if e.prev_hash != prev:
            problems.append(f"event {e.seq} does not follow event {e.seq - 1}: the chain is broken")
        actual = event_hash(e.prev_hash, case.ref, e.seq, e.on, _normalise(e.recorded_at), e.actor_email, e.trigger,
                            e.from_state, e.to_state, e.data)
        if actual != e.hash:
            problems.append(f"event {e.seq} ({e.trigger} on {e.on.isoformat()}) has been altered since it was recorded")
        prev = e.hash
    return problems
