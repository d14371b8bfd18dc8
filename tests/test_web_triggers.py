"""A web form for every pathway trigger, and the case page's next steps: submissions as a browser makes them, on
committed data, with the case's version, events and letters counted before and after every refusal."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

import workflows
from casework import clock
from casework.db import get_engine
from casework.models import Case, CaseEvent, Deadline, Letter, Payment, PenaltyNotice, School
from casework.services.cases import fire, open_case
from casework.services.errors import Blocked
from casework.services.show import judge_triggers
from casework.services.tick import tick
from casework.services.triggers_ui import deadline_label
from casework.services.users import get_user

from . import scenarios
from .factories import fill_register, make_parent, make_pupil, make_school, make_user
from .scenarios import ABSENT, HALF_TERM, to_notice_to_improve
from .web_support import audited, error_summary, page, signed_in

PATHWAY = workflows.load()
TODAY = date(2026, 11, 23)  # the frozen clock of tests/conftest.py
REFERRAL = {"section": "444(1)", "offence_start": date(2026, 9, 14), "offence_end": date(2026, 9, 21),
            "eso_considered": "Considered: the family engaged with support, so an order would add nothing",
            "decision": "Evidence of 12 unauthorised sessions; support plan and notice to improve ignored"}


# ---------------------------------------------------------------- the people and the cases

@dataclass
class People:
    aeo: str
    manager: str
    legal: str
    school_user: str
    other_school_user: str
    school_id: int


@pytest.fixture(scope="module")
def people(app, pages_url) -> People:
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        school, other = make_school(session, name="Riverside Primary"), make_school(session, name="Hilltop Primary")
        found = People(make_user(session, "aeo").email, make_user(session, "manager").email,
                       make_user(session, "legal").email, make_user(session, "school", schools=[school]).email,
                       make_user(session, "school", schools=[other]).email, school.id)
        session.commit()
    return found


def at_concern(session, w) -> str:
    return open_case(session, w.pupil.upn, w.school_user, date(2026, 10, 1)).case.ref


def at_consultation(session, w) -> str:
    ref = at_concern(session, w)
    fire(session, ref, "start_consultation", w.aeo, date(2026, 10, 1))
    return ref


def at_action_plan(session, w) -> str:
    ref = at_consultation(session, w)
    fire(session, ref, "agree_action_plan", w.aeo, date(2026, 10, 2), {"actions": "Morning check-in",
                                                                        "review_on": "2026-10-30"})
    return ref


def at_contract(session, w) -> str:
    ref = at_consultation(session, w)
    fire(session, ref, "offer_parenting_contract", w.aeo, date(2026, 10, 2),
         {"requirements": "Daily attendance", "support": "Weekly mentor", "review_on": "2026-11-13",
          "parent_agreed": "yes"})
    return ref


def at_notice_to_improve(session, w) -> str:
    return to_notice_to_improve(session, w)  # issued 5 Oct for 3 school weeks: the period ended on 2 Nov


def at_penalty_notice(session, w) -> str:
    ref = at_notice_to_improve(session, w)
    fire(session, ref, "issue_penalty_notice", w.aeo, date(2026, 11, 16))
    return ref


def at_prosecution(session, w) -> str:
    ref = at_notice_to_improve(session, w)
    fire(session, ref, "refer_for_prosecution", w.aeo, date(2026, 11, 10),
         {k: v.isoformat() if isinstance(v, date) else v for k, v in REFERRAL.items()})
    return ref


def new_case(pages_url, people: People, build=at_concern, *, father: bool = True) -> str:
    """A pupil of Riverside with a mother and a father (both s.576 parents; the father left out where a test needs
    no letters, to render half as many), 12 unauthorised sessions in September, and a case taken through the
    services to the state `build` leaves it in (committed)."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        school = session.get(School, people.school_id)
        pupil = make_pupil(session, school, forename="Noah", surname="Field")
        mother = make_parent(session, pupil, forename="Sam", surname="Field", title="Ms", relationship="mother")
        dad = make_parent(session, pupil, forename="Chris", surname="Field", title="Mr", relationship="father",
                          lives=False) if father else None
        fill_register(session, pupil, school, date(2026, 9, 3), date(2026, 11, 20), absent=ABSENT, closed=HALF_TERM)
        w = scenarios.World(school, pupil, mother, dad, people.aeo, people.legal, people.school_user,
                            people.other_school_user)
        ref = build(session, w)
        session.commit()
    return ref


@dataclass(frozen=True)
class Snapshot:
    state: str
    version: int
    events: int
    letters: int
    penalty_notices: int
    payments: int
    deadlines: int


def snapshot(pages_url, ref: str) -> Snapshot:
    """What a refused submission must leave unchanged."""
    with Session(get_engine(pages_url)) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()

        def count(model, *where):
            return session.exec(select(func.count()).select_from(model).where(*where)).one()

        pn_ids = select(PenaltyNotice.id).where(PenaltyNotice.case_id == case.id)
        return Snapshot(case.state, case.version, count(CaseEvent, CaseEvent.case_id == case.id),
                        count(Letter, Letter.case_id == case.id),
                        count(PenaltyNotice, PenaltyNotice.case_id == case.id),
                        count(Payment, Payment.penalty_notice_id.in_(pn_ids)),
                        count(Deadline, Deadline.case_id == case.id))


def letters_of(pages_url, ref: str) -> list[tuple[str, str]]:
    """(kind, recipient's forename) of every letter on the case, in issue order."""
    from casework.models import Contact

    with Session(get_engine(pages_url)) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        return list(session.exec(select(Letter.kind, Contact.forename).join(Contact, Contact.id == Letter.contact_id)
                                 .where(Letter.case_id == case.id).order_by(Letter.id)))


def last_event(pages_url, ref: str) -> CaseEvent:
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        return session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)
                            .order_by(CaseEvent.seq.desc())).first()


def service_fire(pages_url, ref: str, trigger: str, actor: str, on: date, raw: dict | None = None) -> None:
    """Another officer's change, made through the service between a form's GET and its POST (committed)."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        fire(session, ref, trigger, actor, on, raw or {})
        session.commit()


# ---------------------------------------------------------------- a browser's form submission

class FormReader(HTMLParser):
    """The values a browser would post from the page's trigger form: inputs, checked radios and textareas."""

    def __init__(self, html: str):
        super().__init__()
        self.values: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}  # each radio group's values, in page order
        self._textarea: str | None = None
        self._in_form = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method") == "post" and "/triggers/" in (a.get("action") or ""):
            self._in_form = True
        if not self._in_form or not a.get("name"):
            return
        if tag == "input" and a.get("type") == "radio":
            self.options.setdefault(a["name"], []).append(a["value"])
            if "checked" in a:
                self.values[a["name"]] = a["value"]
        elif tag == "input":
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[a["name"]] = ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


FIRST = object()  # choose the first of a radio group's options


def form_values(html: str, changes: dict) -> dict:
    """The form's own values (its defaults, version and CSRF token) with `changes` typed in; dates as three boxes."""
    reader = FormReader(html)
    values = reader.values
    for key, value in changes.items():
        if value is FIRST:
            values[key] = reader.options[key][0]
        elif isinstance(value, date):
            values.update({f"{key}-day": str(value.day), f"{key}-month": str(value.month),
                           f"{key}-year": str(value.year)})
        elif isinstance(value, tuple):  # (day, month, year) as typed
            values.update(dict(zip((f"{key}-day", f"{key}-month", f"{key}-year"), value)))
        elif value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


def url(ref: str, trigger: str) -> str:
    return f"/cases/{ref}/triggers/{trigger}"


def submit(client, ref: str, trigger: str, changes: dict | None = None):
    form = client.get(url(ref, trigger))
    assert form.status_code == 200, form.get_data(as_text=True)
    return client.post(url(ref, trigger), data=form_values(form.get_data(as_text=True), changes or {}))


def summary(response) -> list[tuple[str, str]]:
    assert response.status_code == 200
    return error_summary(response.get_data(as_text=True))


# ---------------------------------------------------------------- every transition of the pathway, through the web

@dataclass(frozen=True)
class Success:
    trigger: str
    build: object
    actor: str  # a People attribute
    changes: dict
    state: str
    letters: tuple[str, ...]  # the kinds issued, one per recipient


SUCCESSES = [
    Success("start_consultation", at_concern, "aeo", {}, "consultation", ()),
    Success("agree_action_plan", at_consultation, "aeo", {"actions": "Walk to school with a neighbour"},
            "action_plan", ("action_plan", "action_plan")),
    Success("offer_parenting_contract", at_action_plan, "manager",
            {"requirements": "Noah attends every day", "support": "A mentor each week", "parent_agreed": "yes"},
            "parenting_contract", ("parenting_contract", "parenting_contract")),
    Success("issue_notice_to_improve", at_contract, "aeo",
            {"improvement_weeks": "4", "happened_on": date(2026, 11, 20)},
            "notice_to_improve", ("notice_to_improve", "notice_to_improve")),
    Success("issue_penalty_notice", at_notice_to_improve, "aeo", {}, "penalty_notice",
            ("penalty_notice", "penalty_notice")),
    Success("issue_penalty_notice", at_concern, "aeo",
            {"support_inappropriate": "holiday in term time", "offence_start": date(2026, 9, 14),
             "offence_end": date(2026, 9, 21)}, "penalty_notice", ("penalty_notice", "penalty_notice")),
    Success("record_payment", at_penalty_notice, "aeo", {"pn": FIRST, "amount": "80.00"}, "penalty_notice", ()),
    Success("withdraw_penalty_notice", at_penalty_notice, "manager", {"pn": FIRST, "ground": "wrong_person"},
            "penalty_notice",
            ("penalty_notice_withdrawal",)),
    Success("refer_for_prosecution", at_notice_to_improve, "aeo", REFERRAL, "prosecution",
            ("prosecution_warning", "prosecution_warning")),
    Success("record_interview", at_prosecution, "legal", {"invite": "yes", "interview_notes": "Offered 2 dates"},
            "prosecution", ("interview_invitation", "interview_invitation")),
    Success("lay_information", at_prosecution, "legal",
            {"court": "Norwich Magistrates' Court", "hearing_on": date(2027, 1, 15)}, "prosecution", ()),
    Success("record_outcome", at_prosecution, "legal",
            {"outcome": "convicted", "fine": "120.00", "costs": "60.00", "parenting_order_months": "6"}, "closed", ()),
    Success("step_down", at_notice_to_improve, "aeo", {"reason": "Attendance is back above 95%"}, "action_plan", ()),
    Success("close", at_concern, "school_user", {"outcome": "attendance_improved", "note": "Back every day"},
            "closed", ()),
    Success("close", at_notice_to_improve, "aeo", {"outcome": "no_further_action", "note": "Family moved house"},
            "closed", ()),
]


def _transition(success: Success):
    start = {at_concern: "concern", at_consultation: "consultation", at_action_plan: "action_plan",
             at_contract: "parenting_contract", at_notice_to_improve: "notice_to_improve",
             at_penalty_notice: "penalty_notice", at_prosecution: "prosecution"}[success.build]
    return PATHWAY.find(success.trigger, start)


def test_the_table_fires_every_transition_of_the_pathway():
    """Every transition of the definition but raise_concern (which opens a case: the school portal's form) is
    submitted through the web below at least once."""
    covered = {(t.trigger, t.sources) for t in map(_transition, SUCCESSES)}
    wanted = {(t.trigger, t.sources) for t in PATHWAY.transitions if t.trigger != "raise_concern"}
    assert covered == wanted


@pytest.mark.parametrize("success", SUCCESSES, ids=lambda s: f"{s.trigger}-from-{s.build.__name__[3:]}")
def test_each_trigger_fires_from_its_web_form(app, pages_url, people, success):
    ref = new_case(pages_url, people, success.build)
    before = snapshot(pages_url, ref)
    actor = getattr(people, success.actor)
    client = signed_in(app, actor)
    form_page = page(client, url(ref, success.trigger)).words
    assert PATHWAY.label(success.state) in form_page, "the page says where the case will go"
    response = submit(client, ref, success.trigger, success.changes)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{ref}"), \
        error_summary(response.get_data(as_text=True))

    after = snapshot(pages_url, ref)
    event = last_event(pages_url, ref)
    assert after.state == success.state and event.trigger == success.trigger and event.actor_email == actor
    assert after.version == before.version + 1 and after.events == before.events + 1
    issued = letters_of(pages_url, ref)[before.letters:]
    assert tuple(kind for kind, _ in issued) == success.letters
    case_page = page(client, f"/cases/{ref}").words
    assert "Success" in case_page and f"The case is now at {PATHWAY.label(success.state)}" in case_page
    for kind, forename in issued:
        title = "Ms" if forename == "Sam" else "Mr"
        assert f"{PATHWAY.letters[kind]['label']} to {title} {forename} Field" in case_page
    assert ref in audited(pages_url, actor, "update", "case")


def test_a_penalty_notice_form_starts_with_the_threshold_window_and_issues_one_notice_per_parent(app, pages_url,
                                                                                                   people):
    ref = new_case(pages_url, people, at_notice_to_improve)
    client = signed_in(app, people.aeo)
    html = client.get(url(ref, "issue_penalty_notice")).get_data(as_text=True)
    values = FormReader(html).values
    assert (values["happened_on-day"], values["happened_on-month"], values["happened_on-year"]) == ("23", "11", "2026")
    assert values["offence_start-year"] == "2026" and values["offence_end-day"], "the service's default period, shown"
    words = page(client, url(ref, "issue_penalty_notice")).words
    assert re.search(r"Penalty notice, one to each of: (Ms Sam Field \(mother\) Mr Chris Field \(father\)|"
                     r"Mr Chris Field \(father\) Ms Sam Field \(mother\)) Deadlines", words)
    assert "Penalty notice: payment period ends: for each penalty notice, 28 days after receipt" in words
    assert client.post(url(ref, "issue_penalty_notice"), data=form_values(html, {})).status_code == 302
    with Session(get_engine(pages_url)) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        pns = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)).all()
        assert len(pns) == 2 and {pn.status for pn in pns} == {"issued"}
        assert str(pns[0].offence_start) == "-".join((values["offence_start-year"],
                                                      values["offence_start-month"].zfill(2),
                                                      values["offence_start-day"].zfill(2)))
    words = page(client, f"/cases/{ref}").words
    assert re.search(r"Penalty notices issued: PN-2026-\d{5}, PN-2026-\d{5}", words)
    assert "Penalty notice: payment period ends" in words and "Issued to Mr Chris Field" in words


def test_a_payment_shows_on_the_case_page_with_the_notice_paid(app, pages_url, people):
    ref = new_case(pages_url, people, at_penalty_notice, father=False)
    client = signed_in(app, people.aeo)
    html = client.get(url(ref, "record_payment")).get_data(as_text=True)
    first = re.search(r'name="pn" type="radio" value="(PN-[\d-]+)"', html).group(1)
    assert client.post(url(ref, "record_payment"), data=form_values(html, {"pn": first, "amount": "80"})).status_code \
        == 302
    words = page(client, f"/cases/{ref}").words
    assert f"{first} paid in full (£80.00 of £80.00)" in words
    assert re.search(rf"{first} Paid .*Status Paid .*Payments £80\.00 on 2026-11-23", words)


# ---------------------------------------------------------------- bad input: the field is named, nothing changes

BAD_INPUT = [
    ("missing required text", at_consultation, "agree_action_plan", {"actions": ""},
     [("#actions", "Enter the actions agreed")]),
    ("impossible date", at_consultation, "agree_action_plan", {"actions": "Check-in", "review_on": ("31", "2", "2027")},
     [("#review_on-day", "The review date must be a real date")]),
    ("part of a date", at_consultation, "agree_action_plan", {"actions": "Check-in", "review_on": ("", "12", "2026")},
     [("#review_on-day", "The review date must include a day")]),
    ("missing required date", at_consultation, "agree_action_plan", {"actions": "Check-in", "review_on": ("", "", "")},
     [("#review_on-day", "Enter the review date")]),
    ("review date not after the day it happened", at_consultation, "agree_action_plan",
     {"actions": "Check-in", "review_on": TODAY}, [("#review_on-day", "The review date must be after today")]),
    ("future effective date", at_concern, "start_consultation", {"happened_on": TODAY + timedelta(days=1)},
     [("#happened_on-day", "The date this happened must be today or in the past")]),
    ("future offence date", at_notice_to_improve, "refer_for_prosecution",
     {**REFERRAL, "offence_end": TODAY + timedelta(days=3)},
     [("#offence_end-day", "The end of the offence period must be today or in the past")]),
    ("offence period backwards", at_notice_to_improve, "refer_for_prosecution",
     {**REFERRAL, "offence_start": date(2026, 9, 21), "offence_end": date(2026, 9, 14)},
     [("#offence_end-day", "The end of the offence period must be on or after the start of the offence period")]),
    ("unknown choice", at_notice_to_improve, "close", {"outcome": "bored", "note": "x"},
     [("#outcome", "Select why the case is closing from the list")]),
    ("missing choice", at_notice_to_improve, "refer_for_prosecution", {**REFERRAL, "section": None},
     [("#section", "Select the offence")]),
    ("improvement weeks too few", at_action_plan, "issue_notice_to_improve", {"improvement_weeks": "2"},
     [("#improvement_weeks", "The improvement period must be between 3 and 6")]),
    ("improvement weeks too many", at_action_plan, "issue_notice_to_improve", {"improvement_weeks": "7"},
     [("#improvement_weeks", "The improvement period must be between 3 and 6")]),
    ("not a number", at_action_plan, "issue_notice_to_improve", {"improvement_weeks": "six"},
     [("#improvement_weeks", "The improvement period must be a whole number, like 3")]),
    ("not money", at_penalty_notice, "record_payment", {"pn": FIRST, "amount": "eighty"},
     [("#amount", "The amount paid must be an amount in pounds, like 80.00")]),
    ("unknown penalty notice", at_penalty_notice, "record_payment", {"pn": "PN-1999-00001", "amount": "80"},
     [("#pn", "Select a penalty notice from the list")]),
    ("parent did not agree", at_action_plan, "offer_parenting_contract", {"parent_agreed": None},
     [("#requirements", "Enter what the parent agrees to do"),
      ("#support", "Enter the support the local authority will give"),
      ("#parent_agreed", "Select whether the parent has agreed")]),
]


@pytest.mark.parametrize("what, build, trigger, changes, expected", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_names_the_field_and_changes_nothing(app, pages_url, people, what, build, trigger, changes, expected):
    ref = new_case(pages_url, people, build, father=False)
    before = snapshot(pages_url, ref)
    response = submit(signed_in(app, people.aeo), ref, trigger, changes)
    assert summary(response) == expected
    html = response.get_data(as_text=True)
    for href, message in expected:
        assert f'id="{href[1:].removesuffix("-day")}-error"' in html and message in html, "the field shows it too"
    assert snapshot(pages_url, ref) == before


def test_a_refused_submission_keeps_what_was_typed(app, pages_url, people):
    ref = new_case(pages_url, people, at_consultation, father=False)
    response = submit(signed_in(app, people.aeo), ref, "agree_action_plan",
                      {"actions": "Walk to school", "review_on": ("31", "2", "2027")})
    values = FormReader(response.get_data(as_text=True)).values
    assert values["actions"].strip() == "Walk to school" and values["review_on-day"] == "31"


# ---------------------------------------------------------------- refusals by the pathway: the same words as judge

def _judged(pages_url, ref: str, actor: str, trigger: str) -> list[str]:
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        judged = judge_triggers(session, case, get_user(session, actor))
        reasons = next(d.reasons for d in judged if d.trigger == trigger)
        session.rollback()
    return list(reasons)


def _cli_refusal(pages_url, ref: str, trigger: str, actor: str, raw: dict) -> list[str]:
    """The `blocked:` lines `casework case fire` would print (nothing is kept)."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        with pytest.raises(Blocked) as refused:
            fire(session, ref, trigger, actor, clock.today(), raw)
        session.rollback()
    return refused.value.reasons


def test_a_guard_refusal_is_explained_in_the_words_of_judge_and_offers_no_form(app, pages_url, people):
    ref = new_case(pages_url, people, at_consultation, father=False)  # no support offered yet
    reasons = _judged(pages_url, ref, people.aeo, "issue_notice_to_improve")
    assert any("no support has been offered" in r for r in reasons)
    client = signed_in(app, people.aeo)
    response = client.get(url(ref, "issue_notice_to_improve"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="version"' not in html and '<form method="post" action="/cases' not in html, "no form that fails"
    words = page(client, url(ref, "issue_notice_to_improve")).words
    for reason in reasons:
        assert reason in words
    case_page = page(client, f"/cases/{ref}").words
    assert f"Issue a notice to improve Not available: {reasons[-1]}" in case_page
    before = snapshot(pages_url, ref)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    posted = client.post(url(ref, "issue_notice_to_improve"), data={"csrf_token": token, "version": str(before.version),
                                                                    "improvement_weeks": "4"})
    assert posted.status_code == 200 and reasons[-1] in posted.get_data(as_text=True)
    assert snapshot(pages_url, ref) == before


def test_a_guard_refusal_on_posting_lists_the_cli_reasons_and_changes_nothing(app, pages_url, people):
    ref = new_case(pages_url, people, at_notice_to_improve, father=False)
    quiet = {"offence_start": date(2026, 10, 5), "offence_end": date(2026, 10, 9)}  # present every session
    expected = _cli_refusal(pages_url, ref, "refer_for_prosecution", people.aeo,
                            {k: v.isoformat() if isinstance(v, date) else v for k, v in {**REFERRAL, **quiet}.items()})
    assert any("there is no unauthorised absence" in r for r in expected)
    before = snapshot(pages_url, ref)
    response = submit(signed_in(app, people.aeo), ref, "refer_for_prosecution", {**REFERRAL, **quiet})
    assert [text for _, text in summary(response)] == [r[0].upper() + r[1:] for r in expected], "as a sentence"
    assert snapshot(pages_url, ref) == before


def test_the_form_warns_of_what_its_input_must_overcome(app, pages_url, people):
    """A notice to improve issued today leaves its improvement period running: the PN form says so up front and is
    refused without an early reason, then accepted with one."""
    def nti_today(session, w):
        ref = at_action_plan(session, w)
        fire(session, ref, "issue_notice_to_improve", w.aeo, TODAY - timedelta(days=3), {"improvement_weeks": "6"})
        return ref

    ref = new_case(pages_url, people, nti_today)
    client = signed_in(app, people.aeo)
    words = page(client, url(ref, "issue_penalty_notice")).words
    running = next(r for r in _judged(pages_url, ref, people.aeo, "issue_penalty_notice")
                   if r.startswith("the improvement period runs until"))
    assert "early_reason" in running, "the CLI's reason names the key to set"
    in_words = "T" + running[1:].replace("early_reason", "the reason to issue before the improvement period ends")
    assert f"As things stand today, this would be refused. What you enter below decides it: {in_words}" in words
    refused = submit(client, ref, "issue_penalty_notice")
    assert summary(refused) == [("#early_reason", in_words)], "the refusal is put on the field that can overcome it"
    assert submit(client, ref, "issue_penalty_notice", {"early_reason": "Parent said they will not engage"}) \
        .status_code == 302


# ---------------------------------------------------------------- stale forms and double posts

def test_a_stale_form_is_refused_with_a_reload_link_and_changes_nothing(app, pages_url, people):
    ref = new_case(pages_url, people, at_notice_to_improve, father=False)
    client = signed_in(app, people.aeo)
    html = client.get(url(ref, "close")).get_data(as_text=True)
    service_fire(pages_url, ref, "step_down", people.aeo, TODAY, {"reason": "Improving"})  # close is still offered
    before = snapshot(pages_url, ref)
    response = client.post(url(ref, "close"), data=form_values(html, {"outcome": "other", "note": "x"}))
    assert summary(response)[0] == (url(ref, "close"), "This case changed while you were working on it. Reload this "
                                                       "page to see it as it is now, then try again.")
    assert snapshot(pages_url, ref) == before and before.state == "action_plan"


def test_a_form_posted_twice_fires_once(app, pages_url, people):
    ref = new_case(pages_url, people, at_consultation)
    client = signed_in(app, people.aeo)
    html = client.get(url(ref, "agree_action_plan")).get_data(as_text=True)
    data = form_values(html, {"actions": "Walk to school"})
    assert client.post(url(ref, "agree_action_plan"), data=data).status_code == 302
    once = snapshot(pages_url, ref)
    again = client.post(url(ref, "agree_action_plan"), data=data)
    assert "This case changed while you were working on it" in again.get_data(as_text=True)
    assert snapshot(pages_url, ref) == once
    assert [kind for kind, _ in letters_of(pages_url, ref)].count("action_plan") == 2, "one to each parent, once"


def test_a_payment_posted_twice_is_recorded_once(app, pages_url, people):
    """Same state after the first post, so the second is refused as stale by the service's version check."""
    ref = new_case(pages_url, people, at_penalty_notice, father=False)
    client = signed_in(app, people.aeo)
    data = form_values(client.get(url(ref, "record_payment")).get_data(as_text=True),
                       {"amount": "20", "pn": _first_pn(pages_url, ref)})
    assert client.post(url(ref, "record_payment"), data=data).status_code == 302
    once = snapshot(pages_url, ref)
    again = client.post(url(ref, "record_payment"), data=data)
    assert summary(again)[0][1].startswith("This case changed while you were working on it")
    assert snapshot(pages_url, ref) == once and once.payments == 1


def _first_pn(pages_url, ref: str) -> str:
    with Session(get_engine(pages_url)) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        return session.exec(select(PenaltyNotice.ref).where(PenaltyNotice.case_id == case.id)
                            .order_by(PenaltyNotice.id)).first()


# ---------------------------------------------------------------- who may do what

def test_a_school_user_may_close_a_concern_but_nothing_later(app, pages_url, people):
    concern = new_case(pages_url, people, at_concern, father=False)
    school = signed_in(app, people.school_user)
    assert "Close the case" in page(school, f"/cases/{concern}").words
    assert school.get(url(concern, "start_consultation")).status_code == 403
    later = new_case(pages_url, people, at_notice_to_improve, father=False)
    before = snapshot(pages_url, later)
    refused = school.get(url(later, "close"))
    assert refused.status_code == 403 and "your role (school) may not close the case" in refused.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', refused.get_data(as_text=True)).group(1)
    posted = school.post(url(later, "close"), data={"csrf_token": token, "version": str(before.version),
                                                    "outcome": "other", "note": "x"})
    assert posted.status_code == 403 and snapshot(pages_url, later) == before
    words = page(school, f"/cases/{later}").words
    assert "Nothing can be done by you on this case today" in words and "your role" not in words


def test_another_schools_user_gets_not_found_for_every_trigger(app, pages_url, people):
    ref = new_case(pages_url, people, at_concern, father=False)
    before = snapshot(pages_url, ref)
    outsider = signed_in(app, people.other_school_user)
    for trigger in PATHWAY.triggers:
        assert outsider.get(url(ref, trigger)).status_code == 404
    token = re.search(r'name="csrf_token" value="([^"]+)"', outsider.get("/cases").get_data(as_text=True)).group(1)
    assert outsider.post(url(ref, "close"), data={"csrf_token": token, "version": "1", "outcome": "other",
                                                  "note": "x"}).status_code == 404
    assert snapshot(pages_url, ref) == before


def test_legal_officers_only_get_the_prosecution_triggers(app, pages_url, people):
    ref = new_case(pages_url, people, at_prosecution, father=False)
    legal = signed_in(app, people.legal)
    words = page(legal, f"/cases/{ref}").words
    for trigger in ("record_interview", "lay_information", "record_outcome"):
        assert f'href="{url(ref, trigger)}"' in legal.get(f"/cases/{ref}").get_data(as_text=True)
    assert "Step down to a support plan Not available: your role (legal) may not step down to a support plan" in words
    assert legal.get(url(ref, "step_down")).status_code == 403


def test_unknown_triggers_and_cases_are_not_found_and_admin_is_forbidden(app, pages_url, people):
    ref = new_case(pages_url, people, at_concern, father=False)
    aeo = signed_in(app, people.aeo)
    assert aeo.get(url(ref, "make_tea")).status_code == 404
    assert aeo.get(url("CW-2026-99999", "close")).status_code == 404
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        admin = make_user(session, "admin").email
        session.commit()
    assert signed_in(app, admin).get(url(ref, "close")).status_code == 403


def test_a_trigger_the_state_does_not_offer_is_explained(app, pages_url, people):
    ref = new_case(pages_url, people, at_concern, father=False)
    words = page(signed_in(app, people.aeo), url(ref, "record_payment")).words
    assert "This cannot be done now: this cannot be done while the case is at Concern raised" in words


def test_a_post_without_its_csrf_token_is_refused(app, pages_url, people):
    ref = new_case(pages_url, people, at_concern, father=False)
    before = snapshot(pages_url, ref)
    aeo = signed_in(app, people.aeo)
    assert aeo.post(url(ref, "start_consultation"), data={"version": str(before.version)}).status_code == 400
    assert snapshot(pages_url, ref) == before


def test_the_trigger_page_is_audited_as_a_read_of_the_case(app, pages_url, people):
    ref = new_case(pages_url, people, at_concern, father=False)
    page(signed_in(app, people.manager), url(ref, "start_consultation"))
    assert ref in audited(pages_url, people.manager, "read", "case")


# ---------------------------------------------------------------- the case page and the worklist

def test_the_case_page_offers_each_allowed_trigger_as_a_button_and_draws_the_pathway(app, pages_url, people):
    ref = new_case(pages_url, people, at_penalty_notice)
    client = signed_in(app, people.aeo)
    html = client.get(f"/cases/{ref}").get_data(as_text=True)
    for trigger in ("record_payment", "withdraw_penalty_notice", "refer_for_prosecution", "step_down"):
        assert re.search(rf'<a href="{url(ref, trigger)}" role="button"[^>]*class="govuk-button', html), trigger
    assert re.search(rf'href="{url(ref, "step_down")}"[^>]*class="govuk-button govuk-button--secondary', html, re.S)
    assert f'href="{url(ref, "close")}"' not in html, "refused: no button"
    words = page(client, f"/cases/{ref}").words
    refusal = next(r for r in _judged(pages_url, ref, people.aeo, "close") if r.startswith("penalty notice PN-"))
    assert f"Not available: {refusal}" in words
    assert re.search(r"Notice to improve Passed Penalty notice Current stage Legal action Possible next stage by: "
                     r"Refer for prosecution", words)
    assert 'aria-current="step"' in html and "stateDiagram" not in html
    for kind in ("pn_reduced_period_ends", "pn_payment_period_ends"):
        assert deadline_label(kind) in words


def test_school_users_see_no_penalty_notice_details_on_the_case_page(app, pages_url, people):
    ref = new_case(pages_url, people, at_penalty_notice)
    words = page(signed_in(app, people.school_user), f"/cases/{ref}").words
    assert "Penalty notice Current stage" in words
    for hidden in ("PN-2026", "Penalty notices", "reduced rate", "payment period", "Ms Sam Field", "Mr Chris Field"):
        assert hidden not in words, hidden


def test_the_worklist_names_deadline_kinds_in_words(app, pages_url, people):
    ref = new_case(pages_url, people, at_contract, father=False)  # its contract review (13 Nov) is overdue
    words = page(signed_in(app, people.aeo), "/worklist").words
    assert f"{ref} Attendance contract review due 2026-11-13 Overdue" in words


def test_school_users_see_no_penalty_notice_work_on_the_worklist(app, pages_url, people):
    ref = new_case(pages_url, people, at_penalty_notice)
    clock.freeze(date(2026, 12, 20))  # both notices' payment periods have ended unpaid
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        tick(session)
        session.commit()
    aeo = page(signed_in(app, people.aeo), "/worklist").words
    assert f"{ref} {deadline_label('pn_reduced_period_ends')} 2026-12-09 Overdue" in aeo
    assert re.search(rf"Unpaid penalty notices .*{ref} PN-2026-\d{{5}} 2026-12-16", aeo)
    school = page(signed_in(app, people.school_user), "/worklist").words
    assert "PN-2026" not in school and "Unpaid penalty notices" not in school
    assert deadline_label("pn_reduced_period_ends") not in school


def test_a_long_worklist_shows_the_most_urgent_and_says_how_many_there_are(app, pages_url, people, monkeypatch):
    import web.cases

    new_case(pages_url, people, at_contract, father=False)
    new_case(pages_url, people, at_contract, father=False)
    whole = page(signed_in(app, people.manager), "/worklist").words
    due = len(re.findall(r"Overdue|Due today", whole))
    assert due >= 2
    monkeypatch.setattr(web.cases, "WORKLIST_ROWS", 1)
    words = page(signed_in(app, people.manager), "/worklist").words
    assert f"The 1 most overdue of {due} deadlines due." in words
    assert len(re.findall(r"Overdue|Due today", words)) == 1


def test_a_service_message_about_a_value_is_put_on_that_field(app):
    """What the service says about malformed data (`key: ...`, as the CLI prints it) lands on the field it names."""
    from web.cases.forms import trigger_form

    t = PATHWAY.find("agree_action_plan", "consultation")
    with app.test_request_context(method="POST", data={"version": "3"}):
        form = trigger_form(PATHWAY, t, None, 3, [])
        assert form.field_for("review_on: '2026-13-01' is not a date (use YYYY-MM-DD)") is form.review_on
        assert form.field_for("--on 2026-12-01 is in the future") is form.happened_on
        assert form.field_for("case CW-2026-99999: no such case") is None
        assert form.expected_version() == 3
