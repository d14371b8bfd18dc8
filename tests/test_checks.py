"""Arrival checks: evidence drift, newly met triggers, overdue N codes, and the worklists they feed."""
from __future__ import annotations

from datetime import date

from sqlmodel import select

from casework import clock
from casework.checks import after_import, worklist
from casework.chronology import verify
from casework.imports import import_files
from casework.models import Alert, Case, CaseEvent, PupilMeasure
from casework.services.cases import fire
from casework.services.users import get_user

from .factories import fill_register, make_parent, make_pupil, make_school, make_user
from .scenarios import HALF_TERM, World, to_notice_to_improve


def marks_csv(tmp_path, rows: list[tuple], name: str = "marks.csv") -> str:
    path = tmp_path / name
    path.write_text("upn,school_urn,date,session,code\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return str(path)


def arrive(session, paths):
    summary = import_files(session, paths, actor="mis")
    return after_import(session, summary, clock.today())


def test_a_changed_evidence_mark_raises_an_alert_and_a_chronology_event(session, world: World, tmp_path):
    ref = to_notice_to_improve(session, world)
    fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 20))
    alerts = arrive(session, [marks_csv(tmp_path, [(world.pupil.upn, world.school.urn, "2026-09-14", "AM", "I")])])
    drift = [a for a in alerts if "changed from O to I" in a]
    assert drift == [f"{ref}: the register for 14 Sep 2026 AM changed from O to I after the notice to improve was "
                     "issued", f"{ref}: the register for 14 Sep 2026 AM changed from O to I after the penalty notice "
                     "was issued"]
    case = session.exec(select(Case).where(Case.ref == ref)).one()
    events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                  CaseEvent.trigger == "evidence_mark_changed")).all()
    assert len(events) == 2 and '"from": "O"' in events[0].data and '"source": "marks.csv"' in events[0].data
    assert verify(session, case) == []
    stored = session.exec(select(Alert).where(Alert.kind == "evidence_drift")).all()
    assert {a.case_id for a in stored} == {case.id}


def test_a_change_outside_the_evidence_period_or_unchanged_is_not_drift(session, world: World, tmp_path):
    ref = to_notice_to_improve(session, world)
    fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 20))
    arrive(session, [marks_csv(tmp_path, [(world.pupil.upn, world.school.urn, "2026-11-23", "AM", "/")])])
    alerts = arrive(session, [marks_csv(tmp_path, [(world.pupil.upn, world.school.urn, "2026-11-23", "AM", "I"),
                                                   (world.pupil.upn, world.school.urn, "2026-09-14", "AM", "O")],
                                        "later.csv")])
    assert not any("changed from" in a for a in alerts), "after the offence period, or the same code: no drift"
    assert session.exec(select(Alert).where(Alert.kind == "evidence_drift")).all() == []


def test_newly_met_triggers_are_alerted_once(session, storage, tmp_path):
    school = make_school(session)
    pupil = make_pupil(session, school)
    make_parent(session, pupil)
    fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 13), closed=HALF_TERM,
                  absent={d: "O" for d in (date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11),
                                           date(2026, 11, 12))})
    first = arrive(session, [marks_csv(tmp_path, [(pupil.upn, school.urn, "2026-11-16", "AM", "/")])])
    assert not any("penalty-notice threshold" in a for a in first), "8 unauthorised sessions: not met"
    assert session.get(PupilMeasure, pupil.id).pn_threshold is False
    second = arrive(session, [marks_csv(tmp_path, [(pupil.upn, school.urn, "2026-11-13", "AM", "O"),
                                                   (pupil.upn, school.urn, "2026-11-13", "PM", "O")], "day2.csv")])
    assert [a for a in second if "penalty-notice threshold" in a] == [
        f"{pupil.upn} now meets the penalty-notice threshold (as of 2026-11-23)"]
    third = arrive(session, [marks_csv(tmp_path, [(pupil.upn, school.urn, "2026-11-17", "AM", "/")], "day3.csv")])
    assert not any("penalty-notice threshold" in a for a in third), "already alerted: no duplicate"
    assert len(session.exec(select(Alert).where(Alert.pupil_id == pupil.id, Alert.kind == "pn_threshold")).all()) == 1


def test_n_codes_older_than_five_school_days_are_flagged_and_cleared(session, storage, tmp_path):
    school = make_school(session)
    pupil = make_pupil(session, school)
    fill_register(session, pupil, school, date(2026, 11, 2), date(2026, 11, 19), absent={date(2026, 11, 13): "N"})
    clock.freeze(date(2026, 11, 20))  # 13 Nov + 5 school days = 20 Nov: due today, not yet overdue
    on_time = arrive(session, [marks_csv(tmp_path, [(pupil.upn, school.urn, "2026-11-20", "AM", "/")])])
    assert not any("still coded N" in a for a in on_time)
    clock.freeze(date(2026, 11, 23))
    late = arrive(session, [marks_csv(tmp_path, [(pupil.upn, school.urn, "2026-11-20", "PM", "\\")], "b.csv")])
    assert [a for a in late if "still coded N" in a] == [
        f"{pupil.upn}: 2 session(s) still coded N more than 5 school days later (first 2026-11-13); "
        "the school must record the reason"]
    fixed = arrive(session, [marks_csv(tmp_path, [(pupil.upn, school.urn, "2026-11-13", "AM", "I"),
                                                  (pupil.upn, school.urn, "2026-11-13", "PM", "I")], "c.csv")])
    assert not any("still coded N" in a for a in fixed)
    alert = session.exec(select(Alert).where(Alert.kind == "n_code_overdue")).one()
    assert alert.resolved_at is not None


def test_worklists_are_scoped(session, world: World, tmp_path):
    ref = to_notice_to_improve(session, world)
    fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 20))
    arrive(session, [marks_csv(tmp_path, [(world.pupil.upn, world.school.urn, "2026-09-14", "AM", "I"),
                                          (world.pupil.upn, world.school.urn, "2026-11-23", "AM", "N")])])
    aeo = worklist(session, get_user(session, world.aeo), date(2026, 11, 23))
    assert any(a["kind"] == "evidence_drift" for a in aeo["alerts"])
    school = worklist(session, get_user(session, world.school_user), date(2026, 11, 23))
    assert all(a["kind"] == "n_code_overdue" for a in school["alerts"])
    other = worklist(session, get_user(session, world.other_school_user), date(2026, 11, 23))
    assert other == {"deadlines": [], "unpaid_penalty_notices": [], "alerts": []}
    officer = make_user(session, "aeo")
    assert worklist(session, officer, date(2026, 11, 23))["deadlines"] == []


def test_a_limited_worklist_keeps_the_most_urgent_and_counts_the_rest(session, world: World, tmp_path):
    ref = to_notice_to_improve(session, world)
    fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 20))
    arrive(session, [marks_csv(tmp_path, [(world.pupil.upn, world.school.urn, "2026-09-14", "AM", "I"),
                                          (world.pupil.upn, world.school.urn, "2026-09-15", "AM", "I")])])
    manager = get_user(session, world.manager) if hasattr(world, "manager") else make_user(session, "manager")
    whole = worklist(session, manager, date(2027, 1, 30))
    assert len(whole["deadlines"]) >= 2 and len(whole["alerts"]) >= 2, whole
    top = worklist(session, manager, date(2027, 1, 30), limit=1)
    assert top["deadlines"] == whole["deadlines"][:1] and top["alerts"] == whole["alerts"][:1]
    assert top["totals"] == {key: len(whole[key]) for key in ("deadlines", "unpaid_penalty_notices", "alerts")}
    assert [d["due_on"] for d in whole["deadlines"]] == sorted(d["due_on"] for d in whole["deadlines"])
