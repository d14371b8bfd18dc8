"""Checks on arrival of attendance data: newly met triggers, overdue N codes and drift in evidence marks."""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection
from datetime import date, datetime, timedelta, timezone

import numpy as np

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import Session, select

import workflows

from . import chronology, clock
from .models import Alert, Case, Deadline, EvidencePeriod, PenaltyNotice, Pupil, PupilMeasure, RegisterYear, School
from .register import codes, measures
from .register.marks import SESSIONS, academic_year, year_start

N_CODE_SCHOOL_DAYS = 5
CHUNK = 5000  # ids per IN (...) query, well inside SQLite's limit on bound parameters
FLAG_ALERTS = (  # (alert kind, measure key, what the officer is told)
    ("pn_threshold", "pn_threshold", "now meets the penalty-notice threshold"),
    ("persistent_absence", "persistent_absence", "is now persistently absent"),
    ("severe_absence", "severe_absence", "is now severely absent"),
    ("cme", "cme_alert", "has 10 or more consecutive school days of unauthorised absence (children missing education)"),
)
EVIDENCE_TRIGGERS = {
    "issue_notice_to_improve": "the notice to improve was issued",
    "issue_penalty_notice": "the penalty notice was issued",
    "refer_for_prosecution": "the case was referred for prosecution",
}


def after_import(session: Session, summary, today: date | None = None) -> list[str]:
    """Run every arrival check for the pupils whose marks an import wrote; returns the alerts raised."""
    today = today or clock.today()
    alerts = evidence_drift(session, summary.mark_changes)
    alerts += recompute(session, summary.marks_written_for, today)
    alerts += overdue_n_codes(session, summary.marks_written_for, today)
    summary.alerts.extend(alerts)
    return alerts


def _flag(result: dict, key: str) -> bool:
    value = result[key]
    return bool(value["met"]) if isinstance(value, dict) else bool(value)


def _open_alert_keys(session: Session, pupil_ids, kinds) -> set[tuple[int, str]]:
    ids, found = sorted(pupil_ids), set()
    for start in range(0, len(ids), CHUNK):
        found.update(session.exec(select(Alert.pupil_id, Alert.kind).where(
            Alert.pupil_id.in_(ids[start:start + CHUNK]), Alert.kind.in_(kinds), Alert.resolved_at.is_(None))).all())
    return found


def _snapshots(session: Session, pupil_ids: list[int]) -> dict[int, tuple]:
    """(pn_threshold, persistent, severe, cme) as last recorded, per pupil."""
    table = PupilMeasure.__table__
    found = {}
    for start in range(0, len(pupil_ids), CHUNK):
        chunk = pupil_ids[start:start + CHUNK]
        for row in session.execute(select(table.c.pupil_id, table.c.pn_threshold, table.c.persistent_absence,
                                          table.c.severe_absence, table.c.cme).where(table.c.pupil_id.in_(chunk))):
            found[row[0]] = tuple(row[1:])
    return found


def recompute(session: Session, pupil_ids, as_of: date) -> list[str]:
    """Recompute the measures of these pupils only; alert on each flag that has newly become true."""
    if not pupil_ids:
        return []
    results = measures.measures_for_all(session, as_of, pupil_ids=pupil_ids)
    previous = _snapshots(session, [r["pupil_id"] for r in results])
    school_of = dict(session.exec(select(School.urn, School.id)).all())
    now = clock.now()
    new_alerts, inserts, updates = [], [], []
    for r in results:
        flags = (r["pn_threshold"]["met"], r["persistent_absence"], r["severe_absence"], r["cme_alert"])
        before = previous.get(r["pupil_id"])
        if before == flags:
            continue
        for (kind, _, wording), now_set, was_set in zip(FLAG_ALERTS, flags, before or (False,) * 4):
            if now_set and not was_set:
                detail = {"as_of": as_of, "absence_rate": r["absence_rate"]}
                if kind == "pn_threshold":
                    detail["sessions"] = [list(s) for s in r["pn_threshold"]["sessions"]]
                new_alerts.append({"kind": kind, "pupil_id": r["pupil_id"], "school_id": school_of[r["school_urn"]],
                                   "raised_on": as_of, "created_at": now,
                                   "message": f"{r['upn']} {wording} (as of {as_of.isoformat()})",
                                   "detail": json.dumps(detail, default=str)})
        row = dict(zip(("pn_threshold", "persistent_absence", "severe_absence", "cme"), flags),
                   pupil_id=r["pupil_id"], as_of=as_of, computed_at=now)
        (updates if before else inserts).append(row)
    if new_alerts:
        open_keys = _open_alert_keys(session, {a["pupil_id"] for a in new_alerts}, {a["kind"] for a in new_alerts})
        new_alerts = [a for a in new_alerts if (a["pupil_id"], a["kind"]) not in open_keys]
        if new_alerts:
            session.execute(insert(Alert), new_alerts)
    if inserts:
        session.execute(insert(PupilMeasure), inserts)
    if updates:
        table = PupilMeasure.__table__
        session.execute(update(table).where(table.c.pupil_id == bindparam("b_pupil_id")).values(
            as_of=bindparam("as_of"), pn_threshold=bindparam("pn_threshold"),
            persistent_absence=bindparam("persistent_absence"), severe_absence=bindparam("severe_absence"),
            cme=bindparam("cme"), computed_at=bindparam("computed_at")),
            [{**row, "b_pupil_id": row["pupil_id"]} for row in updates])
    return [a["message"] for a in new_alerts]


POSSIBLE = np.zeros(256, bool)
for _category in (codes.Category.PRESENT, codes.Category.AUTHORISED, codes.Category.UNAUTHORISED):
    POSSIBLE[[ord(c) for c in codes.stored_chars(_category)]] = True


def _overdue_n(rows: list[tuple[int, int, str]], year: int, today: date) -> dict[int, list[tuple[date, str]]]:
    """Per pupil, the N sessions of this academic year with 5 or more of the pupil's school days after them.

    School days are days with a possible session in the same register row, before today."""
    if not rows:
        return {}
    days = (today - year_start(year)).days
    width = 2 * max(days, 1)
    text = b"".join(marks[:width].ljust(width, codes.NO_MARK).encode("latin-1") for _, _, marks in rows)
    chars = np.frombuffer(text, np.uint8).reshape(len(rows), days, 2)
    school_day = POSSIBLE[chars].any(axis=2)
    later = np.cumsum(school_day[:, ::-1], axis=1)[:, ::-1] - school_day
    overdue = (chars == ord("N")) & (later >= N_CODE_SCHOOL_DAYS)[:, :, None]
    found: dict[int, list] = defaultdict(list)
    start = year_start(year)
    for r, d, half in zip(*np.nonzero(overdue)):
        found[rows[r][0]].append((start + timedelta(days=int(d)), SESSIONS[half]))
    return found


def overdue_n_codes(session: Session, pupil_ids, today: date) -> list[str]:
    """Flag to the school every pupil with an N code 5 school days old (this academic year); clear it once resolved."""
    if not pupil_ids:
        return []
    ids = sorted(pupil_ids)
    year = academic_year(today)
    table = RegisterYear.__table__
    rows = []
    for start in range(0, len(ids), CHUNK):
        rows += session.execute(select(table.c.pupil_id, table.c.school_id, table.c.marks).where(
            table.c.pupil_id.in_(ids[start:start + CHUNK]), table.c.academic_year == year,
            table.c.marks.contains("N"))).all()
    overdue = _overdue_n(rows, year, today)
    open_alerts = {}
    for start in range(0, len(ids), CHUNK):
        open_alerts.update({a.pupil_id: a for a in session.exec(select(Alert).where(
            Alert.pupil_id.in_(ids[start:start + CHUNK]), Alert.kind == "n_code_overdue", Alert.resolved_at.is_(None)))})
    now, messages, new = clock.now(), [], []
    for pupil_id, alert in open_alerts.items():
        if pupil_id not in overdue:
            alert.resolved_at, alert.resolved_by = now, "arrival check: no N code is overdue now"
            session.add(alert)
    upn_school = {}
    waiting = [pid for pid in overdue if pid not in open_alerts]
    for start in range(0, len(waiting), CHUNK):
        upn_school.update({pid: (upn, school_id) for pid, upn, school_id in session.execute(
            select(Pupil.id, Pupil.upn, Pupil.school_id).where(Pupil.id.in_(waiting[start:start + CHUNK])))})
    for pupil_id in waiting:
        stale = sorted(overdue[pupil_id])
        upn, school_id = upn_school[pupil_id]
        message = (f"{upn}: {len(stale)} session(s) still coded N more than {N_CODE_SCHOOL_DAYS} school days "
                   f"later (first {stale[0][0].isoformat()}); the school must record the reason")
        new.append({"kind": "n_code_overdue", "pupil_id": pupil_id, "school_id": school_id, "raised_on": today,
                    "created_at": now, "message": message,
                    "detail": json.dumps({"sessions": [[d.isoformat(), s] for d, s in stale]})})
        messages.append(message)
    if new:
        session.execute(insert(Alert), new)
    session.flush()
    return messages


def record_evidence(session: Session, case: Case, trigger: str, start: date | None, end: date | None) -> None:
    """Note the register period a case now relies on, so later changes inside it are caught."""
    if trigger in EVIDENCE_TRIGGERS and start and end:
        session.add(EvidencePeriod(case_id=case.id, pupil_id=case.pupil_id, start=start, end=end, trigger=trigger,
                                   relied_at=clock.now()))


def _drift_message(change: dict, trigger: str) -> str:
    day = change["date"]
    return (f"the register for {day.day} {day.strftime('%b %Y')} {change['session']} changed from "
            f"{change['old_code']} to {change['new_code']} after {EVIDENCE_TRIGGERS[trigger]}")


def evidence_drift(session: Session, changes: list[dict]) -> list[str]:
    """Alert on, and write into the chronology of, every case whose evidence period holds a changed mark."""
    if not changes:
        return []
    by_pupil = defaultdict(list)
    for change in changes:
        by_pupil[change["pupil_id"]].append(change)
    periods = session.exec(select(EvidencePeriod).where(EvidencePeriod.pupil_id.in_(list(by_pupil)))
                           .order_by(EvidencePeriod.case_id, EvidencePeriod.id)).all()
    messages = []
    for period in periods:
        hits = [c for c in by_pupil[period.pupil_id]
                if period.start <= c["date"] <= period.end and _utc(c["changed_at"]) >= _utc(period.relied_at)]
        if not hits:
            continue
        case = session.exec(select(Case).where(Case.id == period.case_id).with_for_update()).one()
        for change in hits:
            message = _drift_message(change, period.trigger)
            session.add(Alert(kind="evidence_drift", pupil_id=case.pupil_id, school_id=case.school_id, case_id=case.id,
                              raised_on=clock.today(), created_at=clock.now(), message=f"{case.ref}: {message}",
                              detail=json.dumps({**change, "evidence": period.trigger}, default=str)))
            chronology.append(session, case, on=clock.today(), recorded_at=clock.now(), actor_id=None,
                              actor_email=change.get("changed_by") or "import", trigger="evidence_mark_changed",
                              from_state=case.state, to_state=case.state,
                              data={"date": change["date"], "session": change["session"], "from": change["old_code"],
                                    "to": change["new_code"], "evidence": period.trigger,
                                    "source": change.get("source", ""), "message": message})
            messages.append(f"{case.ref}: {message}")
        case.version += 1
        session.add(case)
    session.flush()
    return messages


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def worklist(session: Session, user, today: date | None = None, limit: int | None = None,
             leave_out: Collection[str] = ()) -> dict:
    """What a user should act on: deadlines due or overdue (most overdue first), open alerts (newest first), unpaid
    PNs awaiting a decision (longest unpaid first).

    With `limit`, each list holds at most that many and `totals` gives each list's full length (a manager's worklist
    covers the whole authority: tens of thousands of rows). Deadlines of the kinds in `leave_out` are not listed."""
    from .services.scope import school_ids  # services import checks; read the scope lazily

    today = today or clock.today()
    open_states = workflows.load().open_states
    in_scope = [Case.state.in_(open_states)]
    scope = school_ids(session, user)
    if user.role == "school":
        in_scope.append(Case.school_id.in_(scope))
    elif user.role == "aeo":
        in_scope.append(Case.officer_id == user.id)
    deadlines = (select(Case.ref, Deadline.kind, Deadline.due_on).join(Case, Case.id == Deadline.case_id)
                 .where(*in_scope, Deadline.done_at.is_(None), Deadline.due_on <= today, Deadline.kind.not_in(leave_out))
                 .order_by(Deadline.due_on, Deadline.id))
    unpaid = (select(Case.ref, PenaltyNotice.ref, PenaltyNotice.pay_by).join(Case, Case.id == PenaltyNotice.case_id)
              .where(*in_scope, PenaltyNotice.status == "unpaid").order_by(PenaltyNotice.pay_by, PenaltyNotice.id))
    alerts = select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.raised_on.desc(), Alert.id)
    if user.role == "school":
        alerts = alerts.where(Alert.school_id.in_(scope), Alert.kind == "n_code_overdue")
    elif scope:
        alerts = alerts.where(Alert.school_id.in_(scope))

    def rows(query):
        return session.exec(query.limit(limit) if limit is not None else query).all()

    work = {
        "deadlines": [{"case": ref, "kind": kind, "due_on": due_on.isoformat(), "overdue": due_on < today}
                      for ref, kind, due_on in rows(deadlines)],
        "unpaid_penalty_notices": [{"case": case_ref, "ref": ref, "pay_by": pay_by.isoformat() if pay_by else None}
                                   for case_ref, ref, pay_by in rows(unpaid)],
        "alerts": [{"id": a.id, "kind": a.kind, "raised_on": a.raised_on.isoformat(), "message": a.message}
                   for a in rows(alerts)],
    }
    if limit is not None:
        work["totals"] = {key: session.exec(select(func.count()).select_from(query.order_by(None).subquery())).one()
                          if len(work[key]) == limit else len(work[key])
                          for key, query in (("deadlines", deadlines), ("unpaid_penalty_notices", unpaid),
                                             ("alerts", alerts))}
    return work