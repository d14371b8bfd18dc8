"""The facts a guard may look at: plain frozen values, built by `casework` from the database."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Threshold:
    """The national PN threshold judged over a window of school weeks."""

    met: bool
    window_start: date | None
    window_end: date | None
    unauthorised_sessions: int


@dataclass(frozen=True)
class ParentFacts:
    """One s.576 parent of the pupil and their penalty-notice history for this child."""

    contact_ref: str
    name: str
    counting_pns_in_limit_window: int = 0
    overlapping_pn_refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PenaltyNoticeFacts:
    """One penalty notice on the case (or for the pupil) as the guards need it."""

    ref: str
    contact_ref: str
    status: str
    offence_start: date
    offence_end: date
    pay_by: date | None
    on_this_case: bool = True
    payments_total: Decimal = Decimal("0.00")

    @property
    def has_payment(self) -> bool:
        return self.payments_total > 0

    def overlaps(self, start: date, end: date) -> bool:
        return self.offence_start <= end and start <= self.offence_end


@dataclass(frozen=True)
class Facts:
    """Everything the guards of one trigger on one case may consult."""

    on: date
    actor_role: str
    state: str | None = None
    actor_school_has_pupil: bool = True
    other_open_case_refs: tuple[str, ...] = ()
    history_triggers: tuple[str, ...] = ()
    threshold_now: Threshold | None = None
    offence_threshold: Threshold | None = None
    offence_start: date | None = None
    offence_end: date | None = None
    offence_unauthorised_sessions: int = 0
    n_codes_in_offence_period: tuple[tuple[date, str], ...] = ()
    earliest_absence_in_offence_period: date | None = None
    compulsory_school_age_problem: str | None = None
    school_independent: bool = False
    improvement_period_ends: date | None = None
    parents: tuple[ParentFacts, ...] = ()
    penalty_notices: tuple[PenaltyNoticeFacts, ...] = ()
    pupil_needs_health_review: bool = False
    limitation_date: date | None = None
    settings: dict = field(default_factory=dict)
