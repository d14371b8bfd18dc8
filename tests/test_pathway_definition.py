"""Tests generated from the pathway definition itself: structure, reachability, roles, diagram."""
from __future__ import annotations

from collections import deque
from datetime import date

import pytest
import yaml

import workflows
from workflows import Facts, InvalidTrigger, StateAdapter
from workflows.definition import NEW, PATHWAY_DIR, DefinitionError, from_dict
from workflows.diagram import mermaid
from workflows.guards import GUARDS

PATHWAY = workflows.load()


def test_every_state_is_reachable_from_a_new_case():
    reached, queue = set(), deque([NEW])
    while queue:
        state = queue.popleft()
        for t in PATHWAY.transitions_from(state):
            dest = t.dest_from(state)
            if dest not in reached:
                reached.add(dest)
                queue.append(dest)
    assert reached == set(PATHWAY.states)


def test_only_closed_is_terminal():
    terminal = {s for s in PATHWAY.states if not PATHWAY.transitions_from(s)}
    assert terminal == {"closed"}
    assert PATHWAY.final_states == ("closed",)


def test_every_open_state_can_reach_closed():
    for state in PATHWAY.open_states:
        assert any(t.dest == "closed" for t in PATHWAY.transitions_from(state)), state


def test_every_trigger_of_the_spec_is_defined():
    spec = {"raise_concern", "start_consultation", "agree_action_plan", "offer_parenting_contract",
            "issue_notice_to_improve", "issue_penalty_notice", "record_payment", "withdraw_penalty_notice",
            "refer_for_prosecution", "record_interview", "lay_information", "record_outcome", "step_down", "close"}
    assert set(PATHWAY.triggers) == spec


def test_every_named_guard_exists_and_every_guard_is_used():
    used = {g for t in PATHWAY.transitions for g in t.guards}
    assert used <= set(GUARDS)
    assert set(GUARDS) - used == set(), "guards defined but never used by the pathway"


def test_manager_may_do_anything_an_aeo_may():
    for t in PATHWAY.transitions:
        if "aeo" in t.roles:
            assert "manager" in t.roles, t.trigger


def test_school_may_close_only_from_concern():
    school_close = [t for t in PATHWAY.transitions if t.trigger == "close" and "school" in t.roles]
    assert [t.sources for t in school_close] == [("concern",)]


@pytest.mark.parametrize("t", PATHWAY.transitions, ids=lambda t: f"{t.trigger}-{'-'.join(t.sources)}")
def test_each_transition_refuses_a_role_it_does_not_name(t):
    outsider = next(r for r in ("admin", "school", "legal") if r not in t.roles)
    state = None if t.sources[0] == NEW else t.sources[0]
    decision = workflows.judge(PATHWAY, state, t.trigger, Facts(on=date(2026, 1, 5), actor_role=outsider), {})
    assert not decision.allowed
    assert any(outsider in r for r in decision.reasons)


@pytest.mark.parametrize("t", [t for t in PATHWAY.transitions if t.requires], ids=lambda t: t.trigger)
def test_each_required_value_is_reported_when_missing(t):
    role = t.roles[0]
    state = None if t.sources[0] == NEW else t.sources[0]
    decision = workflows.judge(PATHWAY, state, t.trigger, Facts(on=date(2026, 1, 5), actor_role=role), {})
    for key in t.requires:
        assert f"{key} is required" in decision.reasons


def test_a_trigger_from_the_wrong_state_raises():
    with pytest.raises(InvalidTrigger):
        workflows.judge(PATHWAY, "concern", "record_payment", Facts(on=date(2026, 1, 5), actor_role="aeo"), {})
    with pytest.raises(InvalidTrigger):
        workflows.judge(PATHWAY, "concern", "no_such_trigger", Facts(on=date(2026, 1, 5), actor_role="aeo"), {})


def test_the_machine_moves_the_adapter_and_refuses_invalid_triggers():
    row = {"state": None}
    adapter = StateAdapter(lambda: row["state"], lambda v: row.__setitem__("state", v))
    facts = Facts(on=date(2026, 1, 5), actor_role="aeo")
    assert workflows.fire(PATHWAY, adapter, "raise_concern", facts, {}).allowed
    assert row["state"] == "concern"
    assert workflows.fire(PATHWAY, adapter, "start_consultation", facts, {}).allowed
    assert row["state"] == "consultation"
    refused = workflows.fire(PATHWAY, adapter, "agree_action_plan", facts, {})
    assert not refused.allowed and row["state"] == "consultation"
    with pytest.raises(InvalidTrigger):
        workflows.fire(PATHWAY, adapter, "lay_information", facts, {})


def test_definition_validation_rejects_unknown_names():
    raw = yaml.safe_load((PATHWAY_DIR / "england_2024.yaml").read_text())
    raw["transitions"][0]["guards"] = ["no_such_guard"]
    with pytest.raises(DefinitionError, match="unknown guard"):
        from_dict(raw)
    raw = yaml.safe_load((PATHWAY_DIR / "england_2024.yaml").read_text())
    raw["transitions"][1]["dest"] = "nowhere"
    with pytest.raises(DefinitionError, match="unknown destination"):
        from_dict(raw)


def test_mermaid_diagram_has_every_state_and_transition_and_highlights_current():
    text = mermaid(PATHWAY, "notice_to_improve")
    assert text.splitlines()[3] == "stateDiagram-v2"
    for state in PATHWAY.states:
        assert f'state "{PATHWAY.label(state)}" as {state}' in text
    assert "Class notice_to_improve s_active" in text
    for t in PATHWAY.transitions:
        for source in t.sources:
            src = "new_case" if source == NEW else source
            assert any(line.strip().startswith(f"{src} --> {t.dest_from(source)}:") and t.trigger in line
                       for line in text.splitlines()), (t.trigger, source)


def test_the_database_accepts_exactly_the_definitions_states(session):
    """The case.state CHECK constraint in the migrated database matches the pathway's states."""
    from datetime import date as _date

    from sqlalchemy.exc import IntegrityError

    from casework.models import Case

    from .factories import make_pupil, make_school

    school = make_school(session)
    pupil = make_pupil(session, school)
    for n, state in enumerate(PATHWAY.states):
        session.add(Case(ref=f"T-{n}", pupil_id=pupil.id, school_id=school.id, state=state, pathway=PATHWAY.key,
                         opened_on=_date(2026, 1, 5)))
        session.flush()
    nested = session.begin_nested()
    session.add(Case(ref="T-bad", pupil_id=pupil.id, school_id=school.id, state="appeal", pathway=PATHWAY.key,
                     opened_on=_date(2026, 1, 5)))
    with pytest.raises(IntegrityError):
        session.flush()
    nested.rollback()


def test_missing_input_is_reported_apart_from_refusals():
    facts = Facts(on=date(2026, 1, 5), actor_role="aeo")
    needs_only = workflows.judge(PATHWAY, "consultation", "agree_action_plan", facts, {})
    assert needs_only.needs == ("actions", "review_on") and not needs_only.refused_by_guards
    wrong_role = workflows.judge(PATHWAY, "consultation", "agree_action_plan", Facts(on=date(2026, 1, 5),
                                                                                     actor_role="legal"), {})
    assert wrong_role.refused_by_guards
    given = workflows.judge(PATHWAY, "consultation", "agree_action_plan", facts,
                            {"actions": "x", "review_on": date(2026, 1, 4)})
    assert given.needs == () and given.refused_by_guards and "must be after" in given.reasons[0]
