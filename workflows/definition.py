"""Load and validate a pathway definition (YAML data shaped like transitions.Machine arguments)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

from .guards import GUARDS

PATHWAY_DIR = Path(__file__).parent / "pathways"
NEW = "~"
ROLES = ("school", "aeo", "legal", "manager", "admin")


class DefinitionError(ValueError):
    """The pathway definition itself is inconsistent."""


@dataclass(frozen=True)
class TransitionDef:
    trigger: str
    label: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    requires: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()
    letters: tuple[str, ...] = ()
    letters_when: dict = field(default_factory=dict)  # the letters go only when the data has all these values
    letters_unless: dict = field(default_factory=dict)  # ... and none of these
    deadlines: tuple[dict, ...] = ()
    defaults: dict = field(default_factory=dict)

    def dest_from(self, state: str) -> str:
        return state if self.dest == "=" else self.dest


@dataclass(frozen=True)
class Pathway:
    name: str
    version: int
    states: tuple[str, ...]
    labels: dict
    final_states: tuple[str, ...]
    transitions: tuple[TransitionDef, ...]
    settings: dict
    letters: dict
    choices: dict

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    # Worked out once per (immutable) pathway: pages and guards ask for these many times a request.
    @cached_property
    def open_states(self) -> tuple[str, ...]:
        return tuple(s for s in self.states if s not in self.final_states)

    @cached_property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    @cached_property
    def _from_state(self) -> dict[str, tuple[TransitionDef, ...]]:
        sources = {source for t in self.transitions for source in t.sources}
        return {state: tuple(t for t in self.transitions if state in t.sources) for state in sources}

    def transitions_from(self, state: str | None) -> list[TransitionDef]:
        return list(self._from_state.get(NEW if state is None else state, ()))

    def find(self, trigger: str, state: str | None) -> TransitionDef | None:
        for t in self.transitions_from(state):
            if t.trigger == trigger:
                return t
        return None

    def label(self, state: str) -> str:
        return self.labels.get(state, state)

    def guard_settings(self) -> dict:
        return {**self.settings, "choices": self.choices}


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def from_dict(raw: dict) -> Pathway:
    states = tuple(s["name"] for s in raw["states"])
    labels = {s["name"]: s.get("label", s["name"]) for s in raw["states"]}
    final = tuple(s["name"] for s in raw["states"] if s.get("final"))
    transitions = []
    for t in raw["transitions"]:
        roles = _as_tuple(t["roles"])
        if "aeo" in roles and "manager" not in roles:
            roles = roles + ("manager",)  # a manager may do anything an AEO may
        transitions.append(TransitionDef(
            trigger=t["trigger"], label=t.get("label", t["trigger"]), sources=_as_tuple(t["source"]),
            dest=t["dest"], roles=roles, requires=_as_tuple(t.get("requires")), guards=_as_tuple(t.get("guards")),
            letters=_as_tuple(t.get("letters")), letters_when=t.get("letters_when") or {},
            letters_unless=t.get("letters_unless") or {}, deadlines=_as_tuple(t.get("deadlines")), defaults=t.get("defaults") or {},
        ))
    pathway = Pathway(
        name=raw["name"], version=int(raw["version"]), states=states, labels=labels, final_states=final,
        transitions=tuple(transitions), settings=raw.get("settings", {}), letters=raw.get("letters", {}),
        choices=raw.get("choices", {}),
    )
    validate(pathway)
    return pathway


def validate(p: Pathway) -> None:
    """Reject definitions that name unknown states, guards, roles or letters, or repeat a (trigger, source)."""
    seen = set()
    for t in p.transitions:
        for source in t.sources:
            if source != NEW and source not in p.states:
                raise DefinitionError(f"{t.trigger}: unknown source state {source!r}")
            if (t.trigger, source) in seen:
                raise DefinitionError(f"{t.trigger}: defined twice from {source!r}")
            seen.add((t.trigger, source))
        if t.dest != "=" and t.dest not in p.states:
            raise DefinitionError(f"{t.trigger}: unknown destination {t.dest!r}")
        for name in t.guards:
            if name not in GUARDS:
                raise DefinitionError(f"{t.trigger}: unknown guard {name!r}")
        for role in t.roles:
            if role not in ROLES:
                raise DefinitionError(f"{t.trigger}: unknown role {role!r}")
        for kind in t.letters:
            if kind not in p.letters:
                raise DefinitionError(f"{t.trigger}: unknown letter kind {kind!r}")


@lru_cache(maxsize=None)
def load(name: str = "england-2024", version: int | None = None) -> Pathway:
    """Load a published pathway by name (and version; the newest file of that name otherwise)."""
    candidates = []
    for path in sorted(PATHWAY_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if raw["name"] == name and (version is None or int(raw["version"]) == version):
            candidates.append(raw)
    if not candidates:
        raise DefinitionError(f"no pathway {name}" + (f"@{version}" if version else ""))
    return from_dict(max(candidates, key=lambda r: int(r["version"])))


def load_key(key: str) -> Pathway:
    name, _, version = key.partition("@")
    return load(name, int(version) if version else None)
