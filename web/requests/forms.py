"""The requests area's forms: a school's request (its evidence fields made from the code of conduct), a CSV upload,
an officer's decision and the queue's bulk accept. The code of conduct's checks live in casework.pn_requests; the
forms only read the answers and put each problem the service finds against the answer it is about."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from casework.pn_requests.conduct import CodeOfConduct
from casework.pn_requests.evidence import Upload
from casework.pn_requests.submit import Draft, EvidenceGiven

from ..schools.forms import DatePartsField

TEXT_LIMIT = 5000
NAME_LIMIT = 200


def _read(storage, limit: int) -> Upload | None:
    """The uploaded file (at most `limit` + 1 bytes are read: enough to tell it is too large), or None."""
    if storage is None or not getattr(storage, "filename", ""):
        return None
    return Upload(storage.filename, storage.stream.read(limit + 1))


class RequestFormBase(FlaskForm):
    """A school's request for one absence of one or more brothers and sisters."""

    upns = TextAreaField("Unique pupil number (UPN) of each child", validators=[
        Length(max=TEXT_LIMIT, message="The UPNs must be 5,000 characters or fewer")])
    reason = RadioField("Why is the school asking for penalty notices?", choices=[], validate_choice=False)
    first_day = DatePartsField("The first day of the absence")
    last_day = DatePartsField("The last day of the absence")
    details = TextAreaField("Anything else the attendance team should know (optional)", validators=[
        Length(max=TEXT_LIMIT, message=f"The details must be {TEXT_LIMIT:,} characters or fewer")])
    headteacher = StringField("Name of the headteacher", validators=[
        Length(max=NAME_LIMIT, message=f"The name must be {NAME_LIMIT} characters or fewer")])
    confirm = BooleanField("Confirmed")
    submission_key = HiddenField()
    replaces = HiddenField()

    conduct: CodeOfConduct

    def evidence_fields(self) -> list[tuple[str, object, object]]:
        """(kind, file field, statement field) for each kind of evidence, in the code of conduct's order."""
        return [(kind, self[f"{kind}_file"], self[f"{kind}_statement"]) for kind in self.conduct.evidence]

    def draft(self) -> Draft:
        limit = self.conduct.max_upload_bytes
        evidence = tuple(EvidenceGiven(kind, statement.data or "", _read(upload.data, limit))
                         for kind, upload, statement in self.evidence_fields())
        return Draft(upns=tuple((self.upns.data or "").replace(",", "\n").split()), reason=self.reason.data or "",
                     period_start=self.first_day.data, period_end=self.last_day.data, evidence=evidence,
                     headteacher=self.headteacher.data or "", confirmed=bool(self.confirm.data),
                     details=self.details.data or "")

    def field_for(self, key: str):
        """The field a service problem is about (`upns`, `period`, `evidence:<requirement>`, `upload:<kind>`, ...)."""
        area, _, name = key.partition(":")
        if area == "period":
            return self.first_day
        if area == "evidence":
            first_kind = self.conduct.requirements[name].any_of[0][0]
            return self[f"{first_kind}_statement"]
        if area == "upload":
            return self[f"{name}_file"]
        return self[area] if area in self else None

    def put_problems(self, keyed: list[tuple[str, str]]) -> None:
        """Each problem on its field, unless the field already says what is wrong (a date that is not a date)."""
        for key, message in keyed:
            field = self.field_for(key)
            if field is None:
                self.form_errors.append(message)
            elif not (key == "period" and (self.first_day.errors or self.last_day.errors)):
                field.errors = [*field.errors, message]


_forms: dict[int, tuple[CodeOfConduct, type]] = {}


def request_form_class(conduct: CodeOfConduct) -> type[RequestFormBase]:
    """The request form for this code of conduct: a file and a statement for each kind of evidence it names."""
    cached = _forms.get(id(conduct))
    if cached and cached[0] is conduct:
        return cached[1]
    attrs: dict = {"conduct": conduct}
    for kind, evidence in conduct.evidence.items():
        attrs[f"{kind}_file"] = FileField(f"{evidence.label}: file")
        attrs[f"{kind}_statement"] = TextAreaField(f"{evidence.label}: statement", validators=[
            Length(max=TEXT_LIMIT, message=f"The statement must be {TEXT_LIMIT:,} characters or fewer")])
    form_class = type("RequestForm", (RequestFormBase,), attrs)
    _forms.clear()
    _forms[id(conduct)] = (conduct, form_class)
    return form_class


def new_request_form(conduct: CodeOfConduct, **kwargs) -> RequestFormBase:
    form = request_form_class(conduct)(**kwargs)
    form.reason.choices = [(key, reason.label) for key, reason in conduct.reasons.items()]
    return form


class CsvForm(FlaskForm):
    """Many requests at once: a CSV file, confirmed by the headteacher."""

    file = FileField("CSV file")
    headteacher = StringField("Name of the headteacher", validators=[
        Length(max=NAME_LIMIT, message=f"The name must be {NAME_LIMIT} characters or fewer")])
    confirm = BooleanField("Confirmed")
    submission_key = HiddenField()

    def validate_file(self, field):
        if field.data is None or not getattr(field.data, "filename", ""):
            raise ValidationError("Choose the CSV file to upload")

    def validate_headteacher(self, field):
        if not (field.data or "").strip():
            raise ValidationError("Give the name of the headteacher confirming the requests")

    def validate_confirm(self, field):
        if not field.data:
            raise ValidationError("The headteacher must confirm the requests")


class DecisionForm(FlaskForm):
    """An officer's decision on one request."""

    decision = RadioField("Your decision", choices=[("accept", "Accept: issue the penalty notices"),
                                                    ("returned", "Return it to the school to correct"),
                                                    ("refused", "Refuse it")], validate_choice=False)
    reason = TextAreaField("Reason the school will read (needed to return or refuse)", validators=[
        Length(max=TEXT_LIMIT, message=f"The reason must be {TEXT_LIMIT:,} characters or fewer")])

    def validate_decision(self, field):
        if field.data not in {value for value, _ in field.choices}:
            raise ValidationError("Choose whether to accept, return or refuse the request")

    def validate_reason(self, field):
        if self.decision.data in ("returned", "refused") and not (field.data or "").strip():
            raise ValidationError("Give the reason the school will read")


class BulkForm(FlaskForm):
    """Accept several waiting requests at once."""

    refs = SelectMultipleField("Requests to accept", choices=[], validate_choice=False)

    def validate_refs(self, field):
        if not field.data:
            raise ValidationError("Select the requests to accept")
