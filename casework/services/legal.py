"""The legal officer's list: cases in legal action with the s.127 limitation clock, the interview and the court step."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from ..models import Case, CaseEvent, Pupil, School

LEGAL_STATE = "prosecution"
STEPS = ("refer_for_prosecution", "record_interview", "lay_information")
URGENT_DAYS = 28  # information not yet laid this close to the limitation date is flagged as urgent


@dataclass
class Prosecution:
    ref: str
    pupil: str
    school: str
    section: str
    offence_start: date | None
    offence_end: date | None
    limitation_date: date | None
    days_left: int | None
    referred_on: date | None = None
    interviewed_on: date | None = None
    interview_invited: bool = False
    laid_on: date | None = None
    court: str = ""
    hearing_on: date | None = None

    @property
    def clock(self) -> str:
        """The limitation clock in words: what a legal officer must act on first."""
        if self.laid_on:
            return "Information laid"
        if self.days_left is None:
            return "No limitation date"
        if self.days_left < 0:
            return "Limitation passed"
        return "Urgent" if self.days_left <= URGENT_DAYS else "Running"


def prosecutions(session: Session, today: date) -> list[Prosecution]:
    """Every case in legal action, the nearest limitation date first (information already laid last)."""
    rows = session.exec(
        select(Case.id, Case.ref, Pupil.forename, Pupil.surname, School.name, Case.offence_start, Case.offence_end,
               Case.limitation_date)
        .join(Pupil, Pupil.id == Case.pupil_id).join(School, School.id == Case.school_id)
        .where(Case.state == LEGAL_STATE)).all()
    found = {row[0]: Prosecution(
        ref=row[1], pupil=f"{row[2]} {row[3]}", school=row[4], section="", offence_start=row[5], offence_end=row[6],
        limitation_date=row[7], days_left=(row[7] - today).days if row[7] else None) for row in rows}
    if found:
        _add_steps(session, found)
    return sorted(found.values(), key=lambda p: (p.laid_on is not None, p.limitation_date or date.max, p.ref))


def _add_steps(session: Session, found: dict[int, Prosecution]) -> None:
    """The latest referral, interview and information laid on each case (one query for all of them)."""
    events = session.exec(select(CaseEvent.case_id, CaseEvent.trigger, CaseEvent.on, CaseEvent.data)
                          .where(CaseEvent.case_id.in_(list(found)), CaseEvent.trigger.in_(STEPS))
                          .order_by(CaseEvent.case_id, CaseEvent.seq)).all()
    for case_id, trigger, on, raw in events:
        item, data = found[case_id], json.loads(raw or "{}")
        if trigger == "refer_for_prosecution":
            item.referred_on, item.section = on, str(data.get("section", ""))
        elif trigger == "record_interview":
            item.interviewed_on, item.interview_invited = on, str(data.get("invite", "")).lower() in ("yes", "true")
        else:
            item.laid_on, item.court = on, str(data.get("court", ""))
            hearing = data.get("hearing_on")
            item.hearing_on = date.fromisoformat(hearing) if isinstance(hearing, str) and hearing else None
