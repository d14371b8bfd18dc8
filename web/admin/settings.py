"""The authority settings letters print (name, address, contacts, signatory, penalty payments) and the logo."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from casework.services.errors import BadInput
from casework.services.settings import (FIELDS, MAX_LOGO_BYTES, current_logo, editable_settings, remove_logo,
                                        set_logo, update_authority_settings)

from ..auth import db
from ..permissions import roles
from . import bp
from .common import bound, posted_action, refuse
from .forms import ButtonForm, LogoForm, SettingsForm


@bp.route("/settings", methods=["GET", "POST"])
@roles("admin")
def settings():
    """Admins: the authority's name, address, contacts, signatory and penalty payment details that letters print,
    and the letterhead logo."""
    session = db()
    action = posted_action()
    forms = {"settings": bound(SettingsForm, action == "settings", **editable_settings(session)),
             "logo": bound(LogoForm, action == "logo"), "remove_logo": bound(ButtonForm, action == "remove_logo")}
    if action and action not in forms:
        abort(400)
    if action and forms[action].validate_on_submit():
        try:
            message, changed = _SAVE[action](forms[action])
            session.commit()
        except BadInput as refused:
            session.rollback()
            refuse(forms[action], refused)
        else:
            flash(message, "success" if changed else "message")
            return redirect(url_for(".settings"))
    return render_template("admin/settings.html", title="Authority settings", forms=forms,
                           failed=(forms[action], _LINKS.get(action)) if action and forms[action].errors else None,
                           has_logo=current_logo(session) is not None, max_logo_kb=MAX_LOGO_BYTES // 1024)


@bp.route("/settings/logo")
@roles("admin")
def logo():
    """Admins: the current letterhead logo (the settings page shows it); 404 when there is none."""
    found = current_logo(db())
    if found is None:
        abort(404)
    data, media_type = found
    return data, {"Content-Type": media_type, "Content-Disposition": "inline"}


# Each form of the page: what saving it does, as (the message to show, whether anything changed).

def _save_settings(form: SettingsForm) -> tuple[str, bool]:
    changed = update_authority_settings(db(), {field: form[field].data or "" for field in FIELDS},
                                        current_user.email)
    return ("Settings saved: letters issued from now on use them", True) if changed else ("Nothing was changed", False)


def _save_logo(form: LogoForm) -> tuple[str, bool]:
    upload = form.logo.data
    data = upload.read(MAX_LOGO_BYTES + 1) if upload else b""
    set_logo(db(), data, current_user.email)
    return "Logo saved: letters issued from now on show it", True


def _remove_logo(_form) -> tuple[str, bool]:
    removed = remove_logo(db(), current_user.email)
    return ("Logo removed: letters issued from now on have none", True) if removed else ("There was no logo", False)


_SAVE = {"settings": _save_settings, "logo": _save_logo, "remove_logo": _remove_logo}
_LINKS = {"remove_logo": "remove-logo-button"}  # where a refusal links to, for a form that is only a button
