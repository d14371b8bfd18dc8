"""Checks on arrival of attendance data: newly met triggers, overdue N codes and drift in evidence marks."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timezone

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, select

import workflows

from . import chronology, clock
from .models import Alert, Case, Deadline, EvidencePeriod, PenaltyNotice, Pupil, PupilMeasure, School
from .register import measures
from .register.calendar import add_school_days

N_CODE_SCHOOL_DAYS = 5
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
    rows = session.exec(select(Alert.pupil_id, Alert.kind).where(
        Alert.pupil_id.in_(pupil_ids), Alert.kind.in_(kinds), Alert.resolved_at.is_(None))).all()
    return set(rows)


def recompute(session: Session, pupil_ids, as_of: date) -> list[str]:
    """Recompute the measures of these pupils only; alert on each flag that has newly become true."""
    if not pupil_ids:
        return []
    results = measures.measures_for_all(session, as_of, pupil_ids=pupil_ids)
    ids = [r["pupil_id"] for r in results]
    previous = {}
    for chunk_start in range(0, len(ids), 5000):
        chunk = ids[chunk_start:chunk_start + 5000]
        previous.update({m.pupil_id: m for m in session.exec(select(PupilMeasure).where(PupilMeasure.pupil_id.in_(chunk)))})
    school_of = dict(session.exec(select(School.urn, School.id)).all())
    now = clock.now()
    new_alerts, inserts, updates, messages = [], [], [], []
    for r in results:
        before = previous.get(r["pupil_id"])
        flags = {kind: _flag(r, key) for kind, key, _ in FLAG_ALERTS}
        for kind, _, wording in FLAG_ALERTS:
            if flags[kind] and not (before and getattr(before, "cme" if kind == "cme" else kind)):
                message = f"{r['upn']} {wording} (as of {as_of.isoformat()})"
                detail = {"as_of": as_of, "absence_rate": r["absence_rate"]}
                if kind == "pn_threshold":
                    detail["sessions"] = [list(s) for s in r["pn_threshold"]["sessions"]]
                new_alerts.append({"kind": kind, "pupil_id": r["pupil_id"], "school_id": school_of[r["school_urn"]],
                                   "raised_on": as_of, "created_at": now, "message": message,
                                   "detail": json.dumps(detail, default=str)})
                messages.append(message)
        row = {"pupil_id": r["pupil_id"], "as_of": as_of, "pn_threshold": flags["pn_threshold"],
               "persistent_absence": flags["persistent_absence"], "severe_absence": flags["severe_absence"],
               "cme": flags["cme"], "computed_at": now}
        (updates if before else inserts).append(row)
    if new_alerts:
        open_keys = _open_alert_keys(session, {a["pupil_id"] for a in new_alerts}, {a["kind"] for a in new_alerts})
        fresh = [a for a in new_alerts if (a["pupil_id"], a["kind"]) not in open_keys]
        messages = [a["message"] for a in fresh]
        if fresh:
            session.execute(insert(Alert), fresh)
    if inserts:
        session.execute(insert(PupilMeasure), inserts)
    if updates:
        table = PupilMeasure.__table__
        session.execute(update(table).where(table.c.pupil_id == bindparam("b_pupil_id")).values(
            as_of=bindparam("as_of"), pn_threshold=bindparam("pn_threshold"),
            persistent_absence=bindparam("persistent_absence"), severe_absence=bindparam("severe_absence"),
            cme=bindparam("cme"), computed_at=bindparam("computed_at")),
            [{**row, "b_pupil_id": row["pupil_id"]} for row in updates])
    return messages


def overdue_n_codes(session: Session, pupil_ids, today: date) -> list[str]:
    """Flag to the school every pupil with an N code older than 5 school days; clear the flag once resolved."""
    if not pupil_ids:
        return []
    segments = measures.load_segments(session, list(pupil_ids)) if len(pupil_ids) <= 5000 else \
        {pid: segs for pid, segs in measures.load_segments(session).items() if pid in pupil_ids}
    overdue: dict[int, list] = {}
    for pupil_id, segs in segments.items():
        if not any("N" in s.marks for s in segs):
            continue
        days = measures.school_days(segs)
        stale = [(d, s) for d, s in measures.n_code_sessions(segs, date(1900, 1, 1), today)
                 if add_school_days(d, N_CODE_SCHOOL_DAYS, days) < today]
        if stale:
            overdue[pupil_id] = stale
    open_alerts = {a.pupil_id: a for a in session.exec(select(Alert).where(
        Alert.pupil_id.in_(list(segments)), Alert.kind == "n_code_overdue", Alert.resolved_at.is_(None)))}
    now, messages = clock.now(), []
    for pupil_id, alert in open_alerts.items():
        if pupil_id not in overdue:
            alert.resolved_at, alert.resolved_by = now, "arrival check: no N code is overdue now"
            session.add(alert)
    pupils = {p.id: p for p in session.exec(select(Pupil).where(Pupil.id.in_(list(overdue))))} if overdue else {}
    for pupil_id, stale in overdue.items():
        if pupil_id in open_alerts:
            continue
        pupil = pupils[pupil_id]
        first = stale[0][0]
        message = (f"{pupil.upn}: {len(stale)} session(s) still coded N more than {N_CODE_SCHOOL_DAYS} school days "
                   f"later (first {first.isoformat()}); the school must record the reason")
        session.add(Alert(kind="n_code_overdue", pupil_id=pupil_id, school_id=pupil.school_id, raised_on=today,
                          created_at=now, message=message,
                          detail=json.dumps({"sessions": [[d.isoformat(), s] for d, s in stale]})))
        messages.append(message)
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


def worklist(session: Session, user, today: date | None = None) -> dict:
    """What a user should act on: deadlines due or overdue, open alerts, unpaid PNs awaiting a decision."""
    from .services.users import school_ids  # services import checks; read the scope lazily

    today = today or clock.today()
    open_states = workflows.load().open_states
    cases = select(Case).where(Case.state.in_(open_states))
    scope = school_ids(session, user)
    if user.role == "school":
        cases = cases.where(Case.school_id.in_(scope))
    elif user.role == "aeo":
        cases = cases.where(Case.officer_id == user.id)
    case_rows = {c.id: c for c in session.exec(cases)}
    deadlines = session.exec(select(Deadline).where(Deadline.case_id.in_(list(case_rows)), Deadline.done_at.is_(None),
                                                    Deadline.due_on <= today).order_by(Deadline.due_on)).all()
    unpaid = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id.in_(list(case_rows)),
                                                      PenaltyNotice.status == "unpaid")).all()
    alerts = select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.raised_on.desc(), Alert.id)
    if user.role == "school":
        alerts = alerts.where(Alert.school_id.in_(scope), Alert.kind == "n_code_overdue")
    elif scope:
        alerts = alerts.where(Alert.school_id.in_(scope))
    return {
        "deadlines": [{"case": case_rows[d.case_id].ref, "kind": d.kind, "due_on": d.due_on.isoformat(),
                       "overdue": d.due_on < today} for d in deadlines],
        "unpaid_penalty_notices": [{"case": case_rows[pn.case_id].ref, "ref": pn.ref,
                                    "pay_by": pn.pay_by.isoformat() if pn.pay_by else None} for pn in unpaid],
        "alerts": [{"id": a.id, "kind": a.kind, "raised_on": a.raised_on.isoformat(), "message": a.message}
                   for a in session.exec(alerts)],
    }
