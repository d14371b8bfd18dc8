"""Forms of the evidence and court bundle pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from casework.bundles.uploads import MAX_TITLE


class UploadForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired("Enter a title for the document"),
                                             Length(max=MAX_TITLE, message=f"The title must be {MAX_TITLE} characters "
                                                                           "or fewer")])
    document = FileField("File", validators=[InputRequired("Choose a PDF, PNG or JPEG file")])


class BuildForm(FlaskForm):
    """Build a new version; `seen` is the newest version the page showed, so a form posted twice builds once."""

    seen = HiddenField(default="0")


class ButtonForm(FlaskForm):
    """A form that is only a button (serve a version, withdraw a document): its CSRF token."""
