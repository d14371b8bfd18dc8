"""The engine: judge a trigger against its guards and move a case's state through a transitions.Machine."""
from __future__ import annotations

from dataclasses import dataclass

from transitions import Machine, MachineError

from .definition import NEW, Pathway, TransitionDef
from .facts import Facts
from .guards import GUARDS

_NEW_STATE = "_new"


class InvalidTrigger(Exception):
    """The trigger does not exist in the pathway or cannot be fired from the case's state."""


@dataclass(frozen=True)
class Decision:
    trigger: str
    allowed: bool
    reasons: tuple[str, ...]
    transition: TransitionDef | None
    needs: tuple[str, ...] = ()  # required values not given: form input, not a refusal by the law

    @property
    def refused_by_guards(self) -> bool:
        """Refused for a reason other than missing input (role, or a guard of the pathway)."""
        return len(self.reasons) > len(self.needs)

    @property
    def label(self) -> str:
        return self.transition.label if self.transition else self.trigger


class StateAdapter:
    """What the machine is bound to: a `state` property read from and written to a callback pair."""

    def __init__(self, get, set_):
        self._get, self._set = get, set_

    @property
    def state(self) -> str:
        return self._get() or _NEW_STATE

    @state.setter
    def state(self, value: str) -> None:
        self._set(None if value == _NEW_STATE else value)


def missing_requirements(t: TransitionDef, data: dict) -> list[str]:
    return [f"{key} is required" for key in t.requires if data.get(key) in (None, "")]


def judge(pathway: Pathway, state: str | None, trigger: str, facts: Facts, data: dict) -> Decision:
    """Every reason the trigger is refused now (role, required data, guards), or allowed."""
    if trigger not in pathway.triggers:
        raise InvalidTrigger(f"{trigger!r} is not a trigger of pathway {pathway.key}")
    t = pathway.find(trigger, state)
    if t is None:
        where = "a new case" if state is None else f"state {state!r} ({pathway.label(state)})"
        raise InvalidTrigger(f"{trigger} cannot be fired from {where}")
    reasons: list[str] = []
    if facts.actor_role not in t.roles:
        reasons.append(f"your role ({facts.actor_role}) may not {t.label.lower()}")
    needs = [key for key in t.requires if data.get(key) in (None, "")]
    reasons += missing_requirements(t, data)
    for name in t.guards:
        reasons += GUARDS[name](facts, data)
    return Decision(trigger, not reasons, tuple(reasons), t, tuple(needs))


def available(pathway: Pathway, state: str | None, facts: Facts, data: dict | None = None) -> list[Decision]:
    """Every trigger of the state, judged for the actor in `facts`."""
    data = data or {}
    return [judge(pathway, state, t.trigger, facts, data) for t in pathway.transitions_from(state)]


def _condition(guard_name: str):
    def condition(event) -> bool:
        return not GUARDS[guard_name](event.kwargs["facts"], event.kwargs["data"])
    condition.__name__ = guard_name
    return condition


def _role_condition(roles: tuple[str, ...]):
    return lambda event: event.kwargs["facts"].actor_role in roles


def build_machine(pathway: Pathway, adapter: StateAdapter) -> Machine:
    """One machine per operation, bound to the adapter (never to the SQLModel row)."""
    transitions = []
    for t in pathway.transitions:
        sources = [_NEW_STATE if s == NEW else s for s in t.sources]
        conditions = [_role_condition(t.roles)] + [_condition(g) for g in t.guards]
        transitions.append({"trigger": t.trigger, "source": sources, "dest": t.dest, "conditions": conditions})
    return Machine(
        model=adapter, states=[_NEW_STATE, *pathway.states], transitions=transitions, initial=adapter.state,
        auto_transitions=False, send_event=True, ignore_invalid_triggers=False, model_override=False,
    )


def fire(pathway: Pathway, adapter: StateAdapter, trigger: str, facts: Facts, data: dict) -> Decision:
    """Judge the trigger and, when allowed, move the adapter's state through the machine."""
    state = None if adapter.state == _NEW_STATE else adapter.state
    decision = judge(pathway, state, trigger, facts, data)
    if not decision.allowed:
        return decision
    machine = build_machine(pathway, adapter)
    try:
        moved = machine.events[trigger].trigger(adapter, facts=facts, data=data)
    except MachineError as exc:
        raise InvalidTrigger(str(exc)) from exc
    if not moved:
        raise AssertionError(f"{trigger}: guards passed when judged but the machine refused")
    return decision
