"""Authority settings used by letters, with defaults an admin overrides (stored in the `setting` table)."""
from __future__ import annotations

from sqlmodel import Session, select

from ..models import Setting

DEFAULTS = {
    "authority_name": "Norshire County Council",
    "authority_address": "County Hall\nMartineau Lane\nNorwich\nNR1 2DH",
    "authority_phone": "0344 800 8020",
    "authority_email": "attendance@norshire.example.gov.uk",
    "authority_website": "www.norshire.example.gov.uk/attendance",
    "signatory_name": "Head of Attendance and Entitlement",
    "signatory_title": "Attendance and Entitlement Service",
    "payee_name": "Norshire County Council",
    "payee_address": "Penalty Notice Team\nCounty Hall\nMartineau Lane\nNorwich\nNR1 2DH",
    "payment_methods": "Online at www.norshire.example.gov.uk/payfine using the notice reference\n"
                       "By telephone on 0344 800 8020 (Monday to Friday, 9am to 5pm)",
    "payment_reference_hint": "Quote the penalty notice reference printed at the top of this notice.",
}


def authority_settings(session: Session) -> dict[str, str]:
    values = dict(DEFAULTS)
    for row in session.exec(select(Setting)).all():
        values[row.key] = row.value
    return values


def set_setting(session: Session, key: str, value: str) -> None:
    if key not in DEFAULTS:
        raise KeyError(f"unknown authority setting {key!r}")
    row = session.get(Setting, key) or Setting(key=key)
    row.value = value
    session.add(row)
