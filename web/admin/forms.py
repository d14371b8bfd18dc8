"""The administration forms. They only carry the fields: the services check the values (and say what is wrong with
each), so the rules live in one place for the pages and the command line."""
from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, HiddenField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, Length

from casework.models import PHASES, ROLES

ROLE_LABELS = {
    "school": ("School user", "Sees only their schools' pupils and cases, and raises concerns"),
    "aeo": ("Attendance officer (AEO)", "Works cases along the pathway and issues letters"),
    "legal": ("Legal officer", "Prepares prosecutions and evidence bundles"),
    "manager": ("Manager", "Sees every case and school, and allocates work"),
    "admin": ("Administrator", "Manages users, schools, feed tokens and the authority's settings"),
}
PHASE_LABELS = {"primary": "Primary", "secondary": "Secondary", "special": "Special",
                "alternative_provision": "Alternative provision", "all_through": "All-through"}
assert set(ROLE_LABELS) == set(ROLES) and set(PHASE_LABELS) == set(PHASES)


def one_time_id() -> str:
    return secrets.token_urlsafe(16)


def urns(text: str) -> list[str]:
    """The URNs typed into a schools field, separated by commas, spaces or new lines."""
    return text.replace(",", " ").split()


def _role_field() -> RadioField:
    return RadioField("Role", choices=[(role, label) for role, (label, _) in ROLE_LABELS.items()],
                      validate_choice=False)


class NewUserForm(FlaskForm):
    email = EmailField("Email address")
    name = StringField("Full name")
    role = _role_field()
    schools = StringField("Schools")
    password = PasswordField("Password (optional)")
    request_id = HiddenField(default=one_time_id)


class UserDetailsForm(FlaskForm):
    name = StringField("Full name")
    role = _role_field()
    schools = StringField("Schools")


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password (optional)")
    request_id = HiddenField(default=one_time_id)


class ButtonForm(FlaskForm):
    """A form that is only a button (deactivate, reactivate, unlock, remove the logo): its CSRF token."""


class SchoolForm(FlaskForm):
    name = StringField("Name")
    phase = RadioField("Phase", choices=list(PHASE_LABELS.items()), validate_choice=False)
    independent = RadioField("Is this an independent school?", choices=[("no", "No"), ("yes", "Yes")],
                             validate_choice=False, validators=[AnyOf(("no", "yes"), "Choose whether this is an independent school")])


class IssueTokenForm(FlaskForm):
    school = SelectField("School", validate_choice=False)
    label = StringField("Label (optional)", validators=[Length(max=100, message="The label must be 100 characters "
                                                                                  "or fewer")])
    request_id = HiddenField(default=one_time_id)


class RevokeTokenForm(FlaskForm):
    prefix = HiddenField()


class SettingsForm(FlaskForm):
    authority_name = StringField("Authority name")
    address_lines = TextAreaField("Address")
    address_postcode = StringField("Postcode")
    authority_phone = StringField("Phone number")
    authority_email = EmailField("Email address")
    authority_website = StringField("Website")
    signatory_name = StringField("Signatory's name")
    signatory_title = StringField("Signatory's job title")
    payee_name = StringField("Pay to")
    payee_address_lines = TextAreaField("Payment address")
    payee_postcode = StringField("Payment address postcode")
    payment_methods = TextAreaField("Ways to pay")
    payment_reference_hint = StringField("Reference to quote")


class LogoForm(FlaskForm):
    logo = FileField("Upload a logo")
