"""The print-run forms: which letters to gather, and when and how a run was posted."""
from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField
from wtforms.validators import InputRequired

from casework import clock
from casework.letters.issue import ON_REQUEST
from casework.letters.render import KINDS

KIND_LABELS = {kind: kind.replace("_", " ").capitalize() for kind in KINDS} | {
    kind: spec.label for kind, spec in ON_REQUEST.items()} | {
    "parenting_contract": "Attendance contract", "action_plan": "Support plan",
    "penalty_notice_withdrawal": "Withdrawal of a penalty notice", "prosecution_warning": "Warning of legal action",
    "interview_invitation": "Invitation to interview under caution"}


class BuildRunForm(FlaskForm):
    kind = SelectField("Letters to include", choices=[("", "Every letter waiting")] + list(KIND_LABELS.items()))


class PostedForm(FlaskForm):
    """The day the run went in the post (GOV.UK date input: posted_on-day, -month, -year) and its class."""

    day = StringField("Day", name="posted_on-day")
    month = StringField("Month", name="posted_on-month")
    year = StringField("Year", name="posted_on-year")
    postal_class = RadioField("Postal class", choices=[("first", "First class"), ("second", "Second class")],
                              validators=[InputRequired("Select first class or second class")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.posted_on: date | None = None

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        problem = self._date_problem()
        if problem:
            self.day.errors = list(self.day.errors) + [problem]
            return False
        return valid

    def _date_problem(self) -> str | None:
        parts = [(field.data or "").strip() for field in (self.day, self.month, self.year)]
        if not any(parts):
            return "Enter the date the letters were posted"
        if not all(part.isdigit() for part in parts) or len(parts[2]) != 4:
            return "The date the letters were posted must be a real date, like 23 11 2026"
        try:
            self.posted_on = date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError:
            return "The date the letters were posted must be a real date, like 23 11 2026"
        if self.posted_on > clock.today():
            return "The date the letters were posted must be today or in the past"
        return None
