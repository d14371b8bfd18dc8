"""The allocation page's two forms. Choices are not checked against the page's lists: a case or officer that changed
since the page was drawn is for the allocation service to refuse, with its own reason."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired


class AssignForm(FlaskForm):
    """Give the ticked cases (which nobody holds) to one officer."""

    cases = SelectMultipleField("Cases to allocate", validate_choice=False,
                                validators=[DataRequired("Select at least one case")])
    officer = SelectField("Officer", validate_choice=False,
                          validators=[DataRequired("Select the officer to give the cases to")])


class MoveForm(FlaskForm):
    """Move one case from the officer holding it to another."""

    case_ref = StringField("Case reference", validators=[DataRequired("Enter the reference of the case to move")])
    from_officer = SelectField("Officer holding the case now", validate_choice=False,
                               validators=[DataRequired("Select the officer holding the case now")])
    to_officer = SelectField("Officer to move the case to", validate_choice=False,
                             validators=[DataRequired("Select the officer to move the case to")])
