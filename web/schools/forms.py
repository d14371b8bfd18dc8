"""The school portal's forms: the pupil list's filters (GET) and raising a concern (POST)."""
from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, Form, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from casework import clock
from casework.services.portal import NOTHING_YET, SORTS, TRIED, ConcernAnswers, PupilFilters

TEXT_LIMIT = 5000
NOTHING_YET_LABEL = "Nothing yet"


class PupilFilterForm(Form):
    """The pupil list's filters, read from the query string."""

    year = SelectField("Year group", choices=[("", "All year groups")], validate_choice=False)
    persistent = BooleanField("Persistently absent only (10% or more)")
    threshold = BooleanField("Penalty notice threshold met only")
    sort = SelectField("Sort by", choices=list(SORTS.items()), validate_choice=False)

    def filters(self) -> PupilFilters:
        return PupilFilters(year_group=self.year.data or "", persistent_only=bool(self.persistent.data),
                            threshold_only=bool(self.threshold.data),
                            sort=self.sort.data if self.sort.data in SORTS else "name")


class DatePartsField(Field):
    """A date entered as day, month and year boxes named `<name>-day`, `<name>-month`, `<name>-year` (GOV.UK date input).

    Its id is the day box's, so the error summary links there; `parts` keeps what was typed and `bad_parts` the boxes
    to highlight.
    """

    PARTS = ("day", "month", "year")

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.id = f"{self.name}-day"
        self.parts = dict.fromkeys(self.PARTS, "")
        self.bad_parts: tuple[str, ...] = ()
        self.problem = ""

    def process(self, formdata, data=None, extra_filters=None):
        self.process_errors, self.raw_data, self.object_data, self.data = [], [], data, data
        if formdata is None:
            return
        self.parts = {part: formdata.get(f"{self.name}-{part}", "").strip() for part in self.PARTS}
        self.raw_data = [self.parts[part] for part in self.PARTS]
        self.data, self.problem, self.bad_parts = self._parse()

    def _parse(self) -> tuple[date | None, str, tuple[str, ...]]:
        missing = tuple(part for part in self.PARTS if not self.parts[part])
        if len(missing) == len(self.PARTS):
            return None, "", ()
        if missing:
            return None, f"{self.label.text} must include a {' and a '.join(missing)}", missing
        day, month, year = (self.parts[part] for part in self.PARTS)
        try:
            if not (day.isdigit() and month.isdigit() and year.isdigit() and len(year) == 4):
                raise ValueError
            return date(int(year), int(month), int(day)), "", ()
        except ValueError:
            return None, f"{self.label.text} must be a real date", self.PARTS

    def pre_validate(self, form):
        if self.problem:
            raise ValidationError(self.problem)

    def post_validate(self, form, validation_stopped):
        if not self.errors and self.data and self.data > clock.today():
            self.bad_parts = self.PARTS
            self.errors.append(f"{self.label.text} must be today or in the past")


class ConcernForm(FlaskForm):
    """A school's concern about one pupil's attendance, with what it has already tried."""

    upn = StringField("Unique pupil number (UPN)")
    pupil = SelectField("Or choose the pupil", choices=[("", "Choose a pupil")], validate_choice=False)
    concern = TextAreaField("What is your concern about the pupil's attendance?", validators=[
        DataRequired("Enter your concern about the pupil's attendance"),
        Length(max=TEXT_LIMIT, message=f"Your concern must be {TEXT_LIMIT:,} characters or fewer")])
    tried = SelectMultipleField("What has the school already tried?",
                                choices=[*TRIED, (NOTHING_YET, NOTHING_YET_LABEL)], validate_choice=False)
    details = TextAreaField("Details of what the school has tried", validators=[
        Length(max=TEXT_LIMIT, message=f"The details must be {TEXT_LIMIT:,} characters or fewer")])
    last_action = DatePartsField("The date of the school's most recent action")
    confirm = BooleanField("I understand that the local authority will open a case and write to each of the pupil's "
                           "parents, quoting the concern above", validators=[
        DataRequired("Confirm that you understand the local authority will write to the pupil's parents")])

    def chosen_upn(self) -> str:
        return (self.upn.data or "").strip().upper() or (self.pupil.data or "").strip().upper()

    def validate_upn(self, field):
        typed, chosen = (field.data or "").strip().upper(), (self.pupil.data or "").strip().upper()
        if not typed and not chosen:
            raise ValidationError("Enter the pupil's UPN or choose the pupil from the list")
        if typed and chosen and typed != chosen:
            raise ValidationError("Enter a UPN or choose a pupil from the list, not both")

    def validate_tried(self, field):
        chosen = set(field.data or ())
        if not chosen:
            raise ValidationError(f"Select what the school has already tried, or select '{NOTHING_YET_LABEL}'")
        if NOTHING_YET in chosen and len(chosen) > 1:
            raise ValidationError(f"Select '{NOTHING_YET_LABEL}' on its own, or only what the school has tried")
        unknown = chosen - {value for value, _ in self.tried.choices}
        if unknown:
            raise ValidationError("Select what the school has already tried from the list")

    def validate_details(self, field):
        if "other" in (self.tried.data or ()) and not (field.data or "").strip():
            raise ValidationError("Describe the other things the school has tried")

    def validate_last_action(self, field):
        nothing_yet = list(self.tried.data or ()) == [NOTHING_YET]
        if nothing_yet and field.data:
            field.bad_parts = field.PARTS
            raise ValidationError("Leave the date blank when the school has not tried anything yet")
        if self.tried.data and not nothing_yet and field.data is None and not field.problem:
            field.bad_parts = field.PARTS
            raise ValidationError("Enter the date of the school's most recent action")

    def answers(self) -> ConcernAnswers:
        return ConcernAnswers(upn=self.chosen_upn(), concern=self.concern.data or "", tried=tuple(self.tried.data or ()),
                              details=self.details.data or "", last_action_on=self.last_action.data)
