"""The escalation pathway as versioned data, the engine around `transitions`, and pure guards."""
from .definition import NEW, Pathway, TransitionDef, load, load_key
from .engine import Decision, InvalidTrigger, StateAdapter, available, fire, judge
from .facts import Facts, ParentFacts, PenaltyNoticeFacts, Threshold

__all__ = [
    "NEW", "Pathway", "TransitionDef", "load", "load_key", "Decision", "InvalidTrigger", "StateAdapter",
    "available", "fire", "judge", "Facts", "ParentFacts", "PenaltyNoticeFacts", "Threshold",
]
