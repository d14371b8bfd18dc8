"""The manager's dashboard: case counts and time in state, absence rates by school and group against the national
figures (and their cache), the charts, and case allocation; the services on rolled-back data, the pages on committed
data."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pytest
import yaml
from sqlalchemy import func
from sqlmodel import Session, select

from casework import clock
from casework.chronology import verify
from casework.db import get_engine
from casework.imports import RecordBatch, import_records
from casework.models import AuditLog, Case, CaseEvent, Deadline, School
from casework.services import dashboard
from casework.services.allocation import allocate, caseloads
from casework.services.cases import fire, open_case
from casework.services.errors import BadInput, PermissionDenied, StaleCase
from casework.services.tick import tick
from casework.services.users import add_user, get_user
from web.charts import Bar, Point, bar_chart, line_chart, svg_of

from .factories import PASSWORD, fill_register, make_pupil, make_school, make_user
from .scenarios import ABSENT, HALF_TERM, to_notice_to_improve
from .web_support import audited, error_summary, page, signed_in

SVG = "{http://www.w3.org/2000/svg}"
PLAN = {"actions": "Morning check-in", "review_on": "2026-12-18"}


@pytest.fixture(autouse=True)
def no_cached_figures():
    """Rolled-back tests can reuse row ids, so no test may see another's cached absence figures."""
    dashboard.forget_figures()
    yield
    dashboard.forget_figures()


# ---------------------------------------------------------------- open cases


@dataclass
class Cases:
    alex: str
    blake: str
    legal: str
    manager: str
    concern: str  # Alex's, opened 1 Oct
    consultation: str  # Alex's, consultation from 5 Oct
    plan: str  # Blake's, support plan from 20 Oct
    unallocated: str  # raised by the school on 1 Nov, no officer
    closed: str


@pytest.fixture()
def cases(session) -> Cases:
    school = make_school(session)
    alex = add_user(session, "alex@la.example", "aeo", PASSWORD, name="Alex Fielding").email
    blake = add_user(session, "blake@la.example", "aeo", PASSWORD, name="Blake Moss").email
    school_user = make_user(session, "school", schools=[school]).email
    upns = [make_pupil(session, school, forename=f"Pupil{i}").upn for i in range(5)]
    concern = open_case(session, upns[0], alex, date(2026, 10, 1)).case.ref
    consultation = open_case(session, upns[1], alex, date(2026, 10, 1)).case.ref
    fire(session, consultation, "start_consultation", alex, date(2026, 10, 5))
    plan = open_case(session, upns[2], blake, date(2026, 10, 10)).case.ref
    fire(session, plan, "start_consultation", blake, date(2026, 10, 12))
    fire(session, plan, "agree_action_plan", blake, date(2026, 10, 20), PLAN)
    unallocated = open_case(session, upns[3], school_user, date(2026, 11, 1)).case.ref
    closed = open_case(session, upns[4], blake, date(2026, 10, 1)).case.ref
    fire(session, closed, "close", blake, date(2026, 10, 2), {"outcome": "no_further_action", "note": "resolved"})
    return Cases(alex, blake, make_user(session, "legal").email, make_user(session, "manager").email,
                 concern, consultation, plan, unallocated, closed)


def overview(session, cases: Cases) -> dashboard.Overview:
    return dashboard.case_overview(session, get_user(session, cases.manager))


def test_open_cases_by_state_and_officer_are_what_the_database_holds(session, cases):
    o = overview(session, cases)
    by_state = {s.state: s.cases for s in o.states}
    assert by_state == {"concern": 2, "consultation": 1, "action_plan": 1, "parenting_contract": 0,
                        "notice_to_improve": 0, "penalty_notice": 0, "prosecution": 0}
    held = dict(session.exec(select(Case.state, func.count()).where(Case.state != "closed")
                             .group_by(Case.state)).all())
    assert {state: n for state, n in by_state.items() if n} == held
    assert [(load.name, load.total) for load in o.officers] == [("Alex Fielding", 2), ("Blake Moss", 1),
                                                                ("No officer", 1)]
    alex = o.officers[0].by_state
    assert (alex["concern"], alex["consultation"], alex["action_plan"]) == (1, 1, 0)
    assert o.unallocated == 1 and o.open_cases == 4


def test_time_in_state_counts_from_the_event_that_entered_it(session, cases):
    """As of 23 Nov 2026: concern since 1 Oct (53 days) and 1 Nov (22); consultation since 5 Oct; plan since 20 Oct."""
    states = {s.state: s for s in overview(session, cases).states}
    assert (states["concern"].median_days, states["concern"].longest_days) == (37.5, 53)
    assert states["concern"].longest_ref == cases.concern
    assert (states["consultation"].median_days, states["consultation"].longest_days) == (49, 49)
    assert (states["action_plan"].median_days, states["action_plan"].longest_ref) == (34, cases.plan)
    assert states["prosecution"].median_days is None and states["prosecution"].longest_ref is None


def test_a_change_of_officer_shows_at_once_and_does_not_restart_the_time_in_state(session, cases):
    before = overview(session, cases)
    assert overview(session, cases) is before, "cached while no case changes"
    allocate(session, cases.manager, [cases.unallocated], cases.blake)
    after = overview(session, cases)
    assert (before.unallocated, after.unallocated) == (1, 0)
    states = {s.state: s for s in after.states}
    assert (states["concern"].median_days, states["concern"].longest_days) == (37.5, 53)


def test_overdue_deadlines_and_the_oldest_first(session, cases):
    o = overview(session, cases)
    due = session.exec(select(func.count()).select_from(Case).join(Deadline).where(
        Case.state != "closed", Deadline.done_at.is_(None), Deadline.due_on < date(2026, 11, 23))).one()
    assert o.overdue == due > 0
    assert [d["due_on"] for d in o.oldest_overdue] == sorted(d["due_on"] for d in o.oldest_overdue)
    assert o.oldest_overdue[0]["days_overdue"] == (date(2026, 11, 23) - o.oldest_overdue[0]["due_on"]).days


def test_unpaid_penalty_notices_wait_for_a_decision(session, world):
    ref = to_notice_to_improve(session, world)
    notices = fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 11, 2)).penalty_notices
    manager = get_user(session, make_user(session, "manager").email)
    assert dashboard.case_overview(session, manager).unpaid == 0
    clock.freeze(date(2027, 1, 5))
    tick(session, date(2027, 1, 5))
    o = dashboard.case_overview(session, manager)
    assert o.unpaid == len(notices) == 2
    assert {n["ref"] for n in o.oldest_unpaid} == {pn.ref for pn in notices} and o.oldest_unpaid[0]["case"] == ref


# ---------------------------------------------------------------- absence


@dataclass
class Register:
    alpha: School
    beta: School
    upns: dict


@pytest.fixture()
def registers(session) -> Register:
    """Six pupils, two weeks of register (7-18 Sep 2026, 20 sessions each) but the last has none:

    P1 Alpha, FSM: 2 sessions missed (10%: persistent). P2 Alpha, SEN support and EAL: 1 (5%).
    P3 Alpha, looked after, with a social worker: 10 (50%: persistent and severe). P4 Beta, EHC plan, young carer:
    4 (20%: persistent). P5 Beta: none. P6 Beta, FSM: no register this year, so not counted."""
    alpha, beta = make_school(session, name="Alpha Primary"), make_school(session, name="Beta Academy")
    specs = {
        "P1": (alpha, {"fsm": True}, {date(2026, 9, 8): "I"}),
        "P2": (alpha, {"sen": "support", "eal": True}, {date(2026, 9, 15): ("/", "O")}),
        "P3": (alpha, {"looked_after": True, "social_worker": True},
               {date(2026, 9, d): "O" for d in range(14, 19)}),
        "P4": (beta, {"sen": "ehcp", "young_carer": True}, {date(2026, 9, 9): "I", date(2026, 9, 10): "I"}),
        "P5": (beta, {}, {}),
        "P6": (beta, {"fsm": True}, None),
    }
    upns = {}
    for name, (school, flags, absent) in specs.items():
        pupil = make_pupil(session, school, forename=name, sen=flags.pop("sen", "none"))
        for flag, value in flags.items():
            setattr(pupil, flag, value)
        session.add(pupil)
        if absent is not None:
            fill_register(session, pupil, school, date(2026, 9, 7), date(2026, 9, 18), absent=absent)
        upns[name] = pupil.upn
    session.flush()
    return Register(alpha, beta, upns)


def rates(r: dashboard.Rates) -> tuple:
    return r.pupils, r.persistent_rate, r.severe_rate, r.absence_rate


def test_persistent_and_severe_absence_by_school_equal_the_hand_count(session, registers):
    f = dashboard.compute_absence(session, date(2026, 11, 23))
    assert rates(f.overall.rates) == (5, 60.0, 20.0, 17.0)  # 3 and 1 of 5 pupils; 17 of 100 sessions
    schools = {s.name: rates(s.rates) for s in f.schools}
    assert schools == {"Alpha Primary": (3, 66.7, 33.3, 21.7), "Beta Academy": (2, 50.0, 0.0, 10.0)}
    assert [s.name for s in f.schools] == ["Alpha Primary", "Beta Academy"], "highest persistent absence first"


def test_persistent_and_severe_absence_by_group_equal_the_hand_count(session, registers):
    groups = {g.key: rates(g.rates) for g in dashboard.compute_absence(session, date(2026, 11, 23)).groups}
    assert groups == {
        "fsm": (1, 100.0, 0.0, 10.0),  # P6 has no possible session, so is not counted
        "sen_support": (1, 0.0, 0.0, 5.0),
        "eal": (1, 0.0, 0.0, 5.0),
        "looked_after": (1, 100.0, 100.0, 50.0),
        "social_worker": (1, 100.0, 100.0, 50.0),
        "ehc_plan": (1, 100.0, 0.0, 20.0),
        "young_carer": (1, 100.0, 0.0, 20.0),
    }


def test_absence_by_week_counts_each_week_of_the_register(session, registers):
    weeks = dashboard.weekly_absence(session, date(2026, 11, 23))
    assert [(w.monday, w.possible, w.absent, w.rate) for w in weeks] == [
        (date(2026, 9, 7), 50, 6, 12.0), (date(2026, 9, 14), 50, 11, 22.0)]
    three_days = [dashboard.WeekRate(date(2026, 9, 7), 30, 4)]  # 5 pupils x 6 sessions; P1 and P4 missed 2 each
    assert dashboard.weekly_absence(session, date(2026, 9, 9)) == three_days


def test_the_national_figures_come_from_the_data_file(session, registers, tmp_path, monkeypatch):
    raw = yaml.safe_load(dashboard.NATIONAL_FILE.read_text())["figures"]
    shipped = {(f["group"], f["measure"]): f["value"] for f in raw}
    f = dashboard.compute_absence(session, date(2026, 11, 23))
    assert {(g.key, m): n.value for g in [f.overall, *f.groups] for m, n in g.national.items()} == shipped
    assert {g.key for g in f.groups if not g.national} == {"eal", "young_carer"}, "no national figure published"
    raw[0]["value"] = 99.9
    changed = tmp_path / "national.yaml"
    changed.write_text(yaml.safe_dump({"figures": raw}))
    monkeypatch.setattr(dashboard, "NATIONAL_FILE", changed)
    dashboard.national_figures.cache_clear()
    try:
        f = dashboard.compute_absence(session, date(2026, 11, 23))
        assert f.overall.national[raw[0]["measure"]].value == 99.9
    finally:
        dashboard.national_figures.cache_clear()


def test_an_unknown_group_in_the_data_file_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "national.yaml"
    bad.write_text(yaml.safe_dump({"figures": [{"group": "tall_pupils", "measure": "persistent_absence",
                                                "value": 1, "period": "x", "source": "x", "url": "x"}]}))
    monkeypatch.setattr(dashboard, "NATIONAL_FILE", bad)
    dashboard.national_figures.cache_clear()
    try:
        with pytest.raises(ValueError, match="tall_pupils"):
            dashboard.national_figures()
    finally:
        dashboard.national_figures.cache_clear()


def test_the_figures_are_cached_until_a_mark_changes(session, registers):
    first = dashboard.absence_figures(session)
    assert dashboard.absence_figures(session) is first
    import_records(session, [RecordBatch("mis", "marks", [{  # P5 was present on 7 Sep; now ill
        "upn": registers.upns["P5"], "school_urn": registers.beta.urn, "date": "2026-09-07", "session": "AM",
        "code": "I"}])])
    changed = dashboard.absence_figures(session)
    assert changed is not first
    assert (first.overall.rates.absent, changed.overall.rates.absent) == (17, 18)
    assert dashboard.absence_figures(session) is changed


def test_the_figures_are_worked_out_again_when_new_marks_arrive_on_existing_registers(session, registers):
    """The daily import adds marks to rows that exist already: no id changes, but the register generation does."""
    first = dashboard.absence_figures(session, date(2026, 9, 21))
    import_records(session, [RecordBatch("mis", "marks", [  # Monday 21 Sep: P5 absent all day, a new mark
        {"upn": registers.upns["P5"], "school_urn": registers.beta.urn, "date": "2026-09-21", "session": s,
         "code": "O"} for s in ("AM", "PM")])])
    second = dashboard.absence_figures(session, date(2026, 9, 21))
    assert second is not first
    assert second.overall.rates.absent == first.overall.rates.absent + 2


def test_the_figures_are_worked_out_again_for_a_new_register_and_after_a_while(session, registers):
    first = dashboard.absence_figures(session)
    pupil = make_pupil(session, registers.beta, forename="Newcomer")
    fill_register(session, pupil, registers.beta, date(2026, 9, 7), date(2026, 9, 11))
    second = dashboard.absence_figures(session)
    assert (first.overall.rates.pupils, second.overall.rates.pupils) == (5, 6)
    clock.freeze(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc) + dashboard.MAX_AGE)
    assert dashboard.absence_figures(session) is not second


def test_slow_figures_out_of_date_are_shown_while_they_are_worked_out_again_in_the_background(session, monkeypatch):
    """Figures that took longer than BACKGROUND_AFTER are shown out of date (once) while a thread works them out
    again; the first computation, and quick ones, are waited for."""
    cache, calls, release = dashboard._Cache(), [], __import__("threading").Event()

    def compute(own_session):
        calls.append(own_session is session)
        if len(calls) == 3:
            assert release.wait(10)  # the background computation is still running while the page asks again
        return len(calls)

    assert cache.get(session, None, ("v1",), compute) == 1 and calls == [True], "the first is worked out here"
    assert cache.get(session, None, ("v2",), compute) == 2, "quick figures out of date are worked out here again"
    monkeypatch.setattr(dashboard, "BACKGROUND_AFTER", 0.0)
    assert cache.get(session, None, ("v3",), compute) == 2, "slow ones: the figures held are shown meanwhile"
    assert cache.get(session, None, ("v3",), compute) == 2 and len(calls) == 3, "one background computation at a time"
    release.set()
    cache.wait()
    assert calls[2] is False, "the background computation has a session of its own"
    assert cache.get(session, None, ("v3",), compute) == 3 and len(calls) == 3


def test_figures_worked_out_in_the_background_read_beside_a_writer(session, registers):
    """The background session reads while another transaction holds the write lock (every SQLite transaction takes it
    at BEGIN but these): it sees what is committed, not the writer's rows. Were it to wait for the lock, it would
    fail with "database is locked" after the engine's timeout."""
    from casework.db import read_only

    assert session.exec(select(School).where(School.name == "Alpha Primary")).one()  # written, not committed
    with Session(read_only(session.get_bind().engine)) as reader:
        assert reader.exec(select(School).where(School.name == "Alpha Primary")).all() == []


# ---------------------------------------------------------------- charts


def test_a_bar_chart_is_well_formed_svg_with_a_title_and_its_values_as_text():
    chart = bar_chart("c1", "Cases <by> state", [Bar("Concern & raised", 3, "3"), Bar("Plan", 12.5, "12.5%", 20)],
                      description="Counts", marker_label="National")
    svg = ET.fromstring(svg_of(chart))
    assert svg.tag == f"{SVG}svg" and svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Cases <by> state"
    assert svg.get("aria-labelledby") == "c1-title c1-desc"
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"Concern & raised", "3", "12.5%", "National"} <= set(texts)
    assert len(list(svg.iter(f"{SVG}path"))) == 2, "one marker and its legend"
    assert "style=" not in chart and "<script" not in chart


def test_a_line_chart_is_well_formed_svg_with_a_reference_line():
    chart = line_chart("c2", "By week", [Point("7 Sep", 12.0, "a"), Point("14 Sep", 22.0, "b")],
                       description="Weekly", reference=(7.1, "England 7.1%"))
    svg = ET.fromstring(svg_of(chart))
    assert svg.find(f"{SVG}title").text == "By week"
    assert [c.find(f"{SVG}title").text for c in svg.iter(f"{SVG}circle")] == ["a", "b"]
    assert "England 7.1%" in [t.text for t in svg.iter(f"{SVG}text")]
    assert ET.fromstring(svg_of(line_chart("c3", "Empty", [], description="none"))).find(f"{SVG}title") is not None


# ---------------------------------------------------------------- allocation


def officer_events(session, ref: str) -> list[CaseEvent]:
    case = session.exec(select(Case).where(Case.ref == ref)).one()
    return session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                CaseEvent.trigger == "officer_allocated")).all()


def audit_rows(session, ref: str) -> list[AuditLog]:
    return session.exec(select(AuditLog).where(AuditLog.object_ref == ref, AuditLog.action == "update")).all()


def holder(session, ref: str) -> int | None:
    return session.exec(select(Case.officer_id).where(Case.ref == ref)).one()


def test_allocation_gives_the_case_records_an_event_and_audits_it(session, cases):
    version = session.exec(select(Case.version).where(Case.ref == cases.unallocated)).one()
    assert allocate(session, cases.manager, [cases.unallocated], cases.blake) == [cases.unallocated]
    assert holder(session, cases.unallocated) == get_user(session, cases.blake).id
    [event] = officer_events(session, cases.unallocated)
    assert (event.from_state, event.to_state, event.actor_email) == ("concern", "concern", cases.manager)
    assert '"officer": "blake@la.example"' in event.data
    [row] = audit_rows(session, cases.unallocated)
    assert row.user_email == cases.manager and "blake@la.example" in row.detail
    case = session.exec(select(Case).where(Case.ref == cases.unallocated)).one()
    assert case.version == version + 1 and verify(session, case) == []
    loads = {c.email: c.open_cases for c in caseloads(session)}
    assert (loads[cases.alex], loads[cases.blake]) == (2, 2)


def test_allocating_twice_changes_nothing_the_second_time(session, cases):
    allocate(session, cases.manager, [cases.unallocated], cases.blake)
    assert allocate(session, cases.manager, [cases.unallocated], cases.blake) == []
    assert len(officer_events(session, cases.unallocated)) == len(audit_rows(session, cases.unallocated)) == 1


@pytest.mark.parametrize("who", ["legal", "inactive", "unknown"])
def test_allocation_refuses_an_officer_who_is_not_an_active_aeo_and_writes_nothing(session, cases, who):
    officer = {"legal": cases.legal, "unknown": "nobody@la.example"}.get(who)
    if who == "inactive":
        user = make_user(session, "aeo")
        user.active = False
        session.add(user)
        officer = user.email
    with pytest.raises(BadInput, match="not an active AEO|no user"):
        allocate(session, cases.manager, [cases.unallocated], officer)
    assert holder(session, cases.unallocated) is None
    assert officer_events(session, cases.unallocated) == [] and audit_rows(session, cases.unallocated) == []


def test_allocation_refuses_a_closed_case_and_writes_nothing_for_the_others(session, cases):
    with pytest.raises(StaleCase) as refused:
        allocate(session, cases.manager, [cases.unallocated, cases.closed], cases.alex)
    assert refused.value.reasons == [f"{cases.closed} has been closed"]
    assert holder(session, cases.unallocated) is None and officer_events(session, cases.unallocated) == []
    assert audit_rows(session, cases.unallocated) == []


def test_allocation_refuses_a_case_given_to_someone_else_meanwhile(session, cases):
    allocate(session, cases.manager, [cases.unallocated], cases.blake)
    with pytest.raises(StaleCase, match=r"now held by Blake Moss \(blake@la.example\)"):
        allocate(session, cases.manager, [cases.unallocated], cases.alex)
    with pytest.raises(StaleCase, match=r"now held by Alex Fielding .*, not Blake Moss"):
        allocate(session, cases.manager, [cases.consultation.lower()], cases.manager, expected_officer=cases.blake)
    moved = allocate(session, cases.manager, [cases.concern], cases.blake, expected_officer=cases.alex)
    assert moved == [cases.concern]
    assert holder(session, cases.concern) == get_user(session, cases.blake).id


def test_only_managers_allocate_and_only_known_cases(session, cases):
    with pytest.raises(PermissionDenied):
        allocate(session, cases.alex, [cases.unallocated], cases.alex)
    with pytest.raises(BadInput, match="no case CW-2099-00001"):
        allocate(session, cases.manager, ["CW-2099-00001"], cases.alex)
    with pytest.raises(BadInput, match="Select at least one case"):
        allocate(session, cases.manager, [" "], cases.alex)


# ---------------------------------------------------------------- pages (committed data)


@dataclass
class Pages:
    manager: str
    legal: str
    aeo: str
    school_user: str
    ref: str  # Ava's case, the world AEO's
    unallocated: str  # raised by Hilltop's school user


@pytest.fixture(scope="module")
def pages(web_world, pages_url) -> Pages:
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        hilltop = session.get(School, web_world.other_school_id)
        pupil = make_pupil(session, hilltop, forename="Noah", surname="Hill")
        pupil.fsm = True
        fill_register(session, pupil, hilltop, date(2026, 9, 3), date(2026, 11, 20), absent=ABSENT, closed=HALF_TERM)
        unallocated = open_case(session, pupil.upn, web_world.other_school_user, date(2026, 11, 2)).case.ref
        manager, legal = make_user(session, "manager").email, make_user(session, "legal").email
        session.commit()
    return Pages(manager, legal, web_world.aeo, web_world.school_user, web_world.ref, unallocated)


def chart_of(html: str, chart_id: str) -> ET.Element:
    return ET.fromstring(re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.S).group(0))


def value_texts(svg: ET.Element) -> list[str]:
    return [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "casework-chart__value"]


def test_only_managers_see_the_dashboard(app, pages):
    for url in ("/dashboard", "/dashboard/absence", "/dashboard/allocation"):
        assert app.test_client().get(url).status_code == 302
        for email in (pages.aeo, pages.legal, pages.school_user):
            assert signed_in(app, email).get(url).status_code == 403, (url, email)
    client = signed_in(app, pages.aeo)
    assert client.post("/dashboard/allocation", data={"action": "assign"}).status_code in (400, 403)


def test_the_overview_chart_and_table_carry_the_same_counts(app, pages, pages_url):
    client = signed_in(app, pages.manager)
    words = page(client, "/dashboard").words
    assert "Open cases 2 Cases with no officer 1" in words
    html = client.get("/dashboard").get_data(as_text=True)
    svg = chart_of(html, "chart-states")
    assert svg.get("role") == "img" and svg.find(f"{SVG}title").text == "Open cases by state"
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "casework-chart__label"]
    table = dict(re.findall(r'<th scope="row" class="govuk-table__header">([^<]+)</th>\s*'
                            r'<td class="govuk-table__cell govuk-table__cell--numeric">(\d+)</td>', html))
    assert dict(zip(labels, value_texts(svg))) == {label: table[label] for label in labels}
    assert table["Concern raised"] == "1" and table["Notice to improve"] == "1"
    assert "overview" in audited(pages_url, pages.manager, "read", "dashboard")


def test_the_absence_page_shows_hand_counted_rates_and_the_national_figures(app, pages):
    """Ava (Riverside) and Noah (Hilltop, FSM) each miss 12 of 104 sessions: 11.5%, persistently absent."""
    client = signed_in(app, pages.manager)
    words = page(client, "/dashboard/absence").words
    assert "All pupils 2 11.5% 2 100.0% 20.0% (2023/24 full year) 0 0.0% 2.3% (2023/24 full year)" in words
    assert "Eligible for free school meals 1 11.5% 1 100.0% 31.7% (autumn term 2024/25)" in words
    assert "Young carers 0 no data 0 no data no national figure" in words
    assert "Riverside Primary" in words and "Hilltop Primary" in words
    html = client.get("/dashboard/absence").get_data(as_text=True)
    for chart_id in ("chart-persistent", "chart-severe", "chart-weeks", "chart-schools"):
        svg = chart_of(html, chart_id)
        assert svg.get("role") == "img" and svg.find(f"{SVG}title").text
        assert not [e for e in svg.iter() if "style" in e.attrib or e.tag in (f"{SVG}script", f"{SVG}style")]
    assert value_texts(chart_of(html, "chart-persistent"))[0] == "100.0%, national 20.0%"
    assert page(client, "/dashboard/absence?page=1").words == words
    assert client.get("/dashboard/absence?page=2").status_code == 404  # two schools: one page


def test_allocation_page_assigns_the_ticked_cases_once(app, pages, pages_url):
    client = signed_in(app, pages.manager)
    assert "Cases with no officer 1" in page(client, "/dashboard").words  # the overview's body, drawn and kept
    html = client.get("/dashboard/allocation").get_data(as_text=True)
    assert pages.unallocated in html and f'value="{pages.unallocated}"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form = {"csrf_token": token, "cases": [pages.unallocated], "officer": pages.aeo,
            "action": "assign"}
    response = client.post("/dashboard/allocation", data=form)
    assert response.status_code == 302
    after = client.get("/dashboard/allocation").get_data(as_text=True)
    assert f"{pages.unallocated} now with" in after and "Every open case has an officer" in after
    assert client.post("/dashboard/allocation", data=form).status_code == 302
    assert "Nothing changed" in client.get("/dashboard/allocation").get_data(as_text=True)
    assert "Cases with no officer 0" in page(client, "/dashboard").words  # new figures, drawn again
    with Session(get_engine(pages_url)) as session:
        case = session.exec(select(Case).where(Case.ref == pages.unallocated)).one()
        assert case.officer_id == get_user(session, pages.aeo).id
        assert len(officer_events(session, pages.unallocated)) == 1
    assert audited(pages_url, pages.manager, "update", "case") == [pages.unallocated]


def test_allocation_page_shows_a_refusal_and_changes_nothing(app, pages, pages_url):
    client = signed_in(app, pages.manager)
    html = client.get("/dashboard/allocation").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/dashboard/allocation", data={
        "csrf_token": token, "case_ref": pages.ref, "from_officer": pages.aeo,
        "to_officer": pages.legal, "action": "move"})
    assert response.status_code == 200
    assert [text for _, text in error_summary(response.get_data(as_text=True))] == [
        "Legal User (" + pages.legal + ") is not an active AEO or manager, so cannot hold cases"]
    empty = client.post("/dashboard/allocation", data={"csrf_token": token, "action": "move"})
    assert [href for href, _ in error_summary(empty.get_data(as_text=True))] == [
        "#case_ref", "#from_officer", "#to_officer"]
    with Session(get_engine(pages_url)) as session:
        assert session.exec(select(Case.officer_id).where(Case.ref == pages.ref)).one() == \
            get_user(session, pages.aeo).id
        assert officer_events(session, pages.ref) == []
