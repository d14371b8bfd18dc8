"""Trigger forms, generated from the pathway definition: one WTForms class per transition, a field per data key it
takes (see `casework.services.triggers_ui.field_specs`), the date it happened and the case version it was read at."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache

from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, RadioField, StringField
from wtforms.utils import unset_value
from wtforms.validators import StopValidation, ValidationError

from casework import clock
from casework.services.triggers_ui import LATER_DATE_KEYS, PAST_DATE_KEYS, FieldSpec, field_specs, happened_text
from workflows.data import DataError, parse_money
from workflows.definition import Pathway, TransitionDef

PARTS = ("day", "month", "year")


def _sentence(what: str) -> str:
    return what[0].upper() + what[1:]


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class DateInput(Field):
    """A GOV.UK date input: three boxes named `<key>-day`, `<key>-month`, `<key>-year`; `data` is a date or None."""

    def __init__(self, spec: FieldSpec, **kwargs):
        super().__init__(spec.text.label, id=f"{spec.key}-day", **kwargs)
        self.spec = spec
        self.parts = dict.fromkeys(PARTS, "")
        self.problem = ""

    def process(self, formdata, data=unset_value, extra_filters=None):
        super().process(None, data, extra_filters)
        if self.data:
            self.parts = {"day": str(self.data.day), "month": str(self.data.month), "year": str(self.data.year)}
        if formdata is not None:
            self.parts = {p: formdata.get(f"{self.name}-{p}", "").strip() for p in PARTS}
            self.data, self.problem = _read_date(self.parts)

    def pre_validate(self, form):
        if self.problem:
            raise StopValidation(f"{_sentence(self.spec.text.what)} {self.problem}")
        if self.data is None and self.spec.required:
            raise StopValidation(f"Enter {self.spec.text.what}")

    @property
    def value(self) -> str:
        return self.data.isoformat() if self.data else ""


def _read_date(parts: dict[str, str]) -> tuple[date | None, str]:
    """(the date, or None) and what is wrong with the three parts ("" when nothing is)."""
    missing = [p for p in PARTS if not parts[p]]
    if len(missing) == len(PARTS):
        return None, ""
    if missing:
        return None, "must include a " + " and a ".join(missing)
    if not all(parts[p].isdigit() for p in PARTS):
        return None, "must be a real date"
    if len(parts["year"]) != 4:
        return None, "must include a year with 4 numbers"
    try:
        return date(int(parts["year"]), int(parts["month"]), int(parts["day"])), ""
    except ValueError:
        return None, "must be a real date"


class Choice(RadioField):
    """GOV.UK radios: one of the definition's choices (or the case's penalty notices)."""

    def __init__(self, spec: FieldSpec, **kwargs):
        super().__init__(spec.text.label, choices=list(spec.choices), **kwargs)
        self.spec = spec

    def pre_validate(self, form):
        if _blank(self.data):
            if self.spec.required:
                raise StopValidation(f"Select {self.spec.text.what}")
            return
        if self.data not in {value for value, _ in self.choices}:
            raise StopValidation(f"Select {self.spec.text.what} from the list")

    @property
    def value(self) -> str:
        return self.data or ""


class Text(StringField):
    """Free text (a textarea), a whole number or an amount of money, kept as the string typed."""

    def __init__(self, spec: FieldSpec, **kwargs):
        super().__init__(spec.text.label, filters=[lambda v: v.strip() if isinstance(v, str) else v], **kwargs)
        self.spec = spec

    def pre_validate(self, form):
        if _blank(self.data):
            if self.spec.required:
                raise StopValidation(f"Enter {self.spec.text.what}")
            return
        check = {"number": _check_number, "money": _check_money}.get(self.spec.kind)
        if check:
            check(self.spec, self.data)

    @property
    def value(self) -> str:
        return self.data or ""


def _check_number(spec: FieldSpec, text: str) -> None:
    what = _sentence(spec.text.what)
    if not re.fullmatch(r"\d+", text):
        raise ValidationError(f"{what} must be a whole number, like {spec.minimum or 1}")
    if spec.minimum is not None and spec.maximum is not None and not spec.minimum <= int(text) <= spec.maximum:
        raise ValidationError(f"{what} must be between {spec.minimum} and {spec.maximum}")


def _check_money(spec: FieldSpec, text: str) -> None:
    what = _sentence(spec.text.what)
    try:
        amount = parse_money(spec.key, text)
    except DataError:
        raise ValidationError(f"{what} must be an amount in pounds, like 80.00") from None
    if amount < 0 or (spec.key == "amount" and amount == Decimal("0.00")):
        raise ValidationError(f"{what} must be more than £0.00")


def _field(spec: FieldSpec):
    if spec.kind == "date":
        return DateInput(spec)
    if spec.kind in ("choice", "penalty_notice"):
        return Choice(spec)
    return Text(spec)  # the template draws it by kind: a textarea, or an input for numbers and money


class TriggerForm(FlaskForm):
    """The fields of one transition, then the date it happened and the version of the case the form was read at."""

    specs: tuple[FieldSpec, ...] = ()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        happened = self.happened_on.data
        if happened and happened > clock.today():
            self.happened_on.errors.append(f"{_sentence(self.happened_on.spec.text.what)} must be today or in the past")
        on = happened if happened and happened <= clock.today() else clock.today()
        for spec in self.specs:
            field = self[spec.key]
            if spec.kind == "date" and field.data and not field.errors:
                field.errors.extend(_date_against(spec, field.data, on, self))
        return valid and not any(self[key].errors for key in (*(s.key for s in self.specs), "happened_on"))

    def raw(self) -> dict[str, str]:
        """The trigger data as the CLI's `--set KEY=VALUE` strings (blank fields left out)."""
        return {spec.key: self[spec.key].value for spec in self.specs if self[spec.key].value}

    def expected_version(self) -> int | None:
        return int(self.version.data) if (self.version.data or "").isdigit() else None

    def field_for(self, message: str):
        """The field a service message like `review_on: ...` is about, or None."""
        key = message.split(":", 1)[0].strip()
        if message.startswith("--on "):
            key = "happened_on"
        return self[key] if key in {s.key for s in self.specs} | {"happened_on"} else None


def _date_against(spec: FieldSpec, value: date, on: date, form: TriggerForm) -> list[str]:
    what = _sentence(spec.text.what)
    when = "today" if on == clock.today() else form.happened_on.spec.text.what
    if spec.key in PAST_DATE_KEYS and value > on:
        return [f"{what} must be today or in the past" if when == "today" else f"{what} must be on or before {when}"]
    if LATER_DATE_KEYS.get(spec.key) == "after" and value <= on:
        return [f"{what} must be after {when}"]
    if LATER_DATE_KEYS.get(spec.key) == "on_or_after" and value < on:
        return [f"{what} must be {when} or later"]
    start = form["offence_start"].data if "offence_start" in form else None
    if spec.key == "offence_end" and start and value < start:
        return [f"{what} must be on or after the start of the offence period"]
    return []


@lru_cache(maxsize=None)
def _form_class(trigger: str, specs: tuple[FieldSpec, ...]):
    attrs = {spec.key: _field(spec) for spec in specs}
    happened = FieldSpec("happened_on", "date", happened_text(trigger), required=True)
    attrs.update(specs=specs, happened_on=DateInput(happened), version=HiddenField())
    name = "".join(part.title() for part in trigger.split("_")) + "Form"
    return type(name, (TriggerForm,), attrs)


def trigger_form(pathway: Pathway, t: TransitionDef, initial: dict | None, version: int,
                 pn_options: list[tuple[str, str]]) -> TriggerForm:
    """The transition's form: read from the request when posted, else filled with `initial` and the case version."""
    specs = field_specs(pathway, t)
    cls = _form_class(t.trigger, specs)
    form = cls(data={**(initial or {}), "version": str(version)}) if initial is not None else cls()
    if "pn" in form:
        form.pn.choices = pn_options
    return form
