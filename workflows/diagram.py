"""The pathway as a Mermaid state diagram, drawn by transitions' own Mermaid backend (no graphviz)."""
from __future__ import annotations

from transitions.extensions import GraphMachine

from .definition import NEW, Pathway

_START = "new_case"


class _Model:
    pass


def mermaid(pathway: Pathway, current: str | None = None) -> str:
    """Mermaid `stateDiagram-v2` text for the pathway; `current` is highlighted when given."""
    states = [_START, *pathway.states]
    transitions = []
    for t in pathway.transitions:
        for source in t.sources:
            src = _START if source == NEW else source
            transitions.append({"trigger": t.trigger, "source": src, "dest": t.dest_from(src)})
    model = _Model()
    GraphMachine(model=model, states=states, transitions=transitions, initial=current or _START,
                 auto_transitions=False, graph_engine="mermaid", title=f"Pathway {pathway.key}", show_state_attributes=False)
    text = model.get_graph().draw(None)
    for name in pathway.states:
        text = text.replace(f'state "{name}" as {name}', f'state "{pathway.label(name)}" as {name}')
    text = text.replace(f'state "{_START}" as {_START}', f'state "New case" as {_START}')
    return text
