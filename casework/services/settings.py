"""Authority settings used by letters, with defaults an admin overrides (stored in the `setting` table)."""
from __future__ import annotations

import io
import re

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from email_validator import EmailNotValidError, validate_email
from PIL import Image
from sqlmodel import Session, select

from ..letters import storage
from ..models import Setting
from .audit import audit
from .errors import BadInput

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
    "logo": "",  # the letterhead logo's path in the file store (casework.letters.storage); "" for none
    "logo_type": "",  # its media type: image/png or image/svg+xml
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


# ---- Editing from the admin pages: every field checked before anything is saved.

# The fields of the settings form, in page order. The two addresses are edited as lines and a postcode, and stored
# as one setting each with the postcode as its last line.
ADDRESSES = {"authority_address": ("address_lines", "address_postcode"),
             "payee_address": ("payee_address_lines", "payee_postcode")}
FIELDS = ("authority_name", "address_lines", "address_postcode", "authority_phone", "authority_email",
          "authority_website", "signatory_name", "signatory_title", "payee_name", "payee_address_lines",
          "payee_postcode", "payment_methods", "payment_reference_hint")
MAX_ADDRESS_LINES = 5
MAX_PAYMENT_METHODS = 8
MAX_LOGO_BYTES = 500 * 1024
LOGO_TYPES = ("image/png", "image/svg+xml")

_POSTCODE = re.compile(r"(GIR0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|"
                       r"[A-HK-Y][0-9][ABEHMNPRVWXY])[0-9][ABD-HJLNP-UW-Z]{2})")
_PHONE = re.compile(r"\+?[0-9 ()-]+")
_WEBSITE = re.compile(r"(https?://)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]+)?(/\S*)?")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SVG = "{http://www.w3.org/2000/svg}svg"
_EXTERNAL_URL = re.compile(r"url\(\s*['\"]?\s*(?!#)|@import", re.I)
_EMBEDDED_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,", re.I)


class InvalidSettings(BadInput):
    """Settings refused: `problems` maps each form field (see FIELDS, and "logo") to the reason."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


def editable_settings(session: Session) -> dict[str, str]:
    """The current settings as the form's fields (each address split into its lines and postcode)."""
    values = authority_settings(session)
    fields = {field: values[field] for field in FIELDS if field in values}
    for key, (lines_field, postcode_field) in ADDRESSES.items():
        lines = [line for line in values[key].splitlines() if line.strip()]
        postcode = lines.pop() if lines and normalise_postcode(lines[-1]) else ""
        fields[lines_field], fields[postcode_field] = "\n".join(lines), postcode
    return fields


def update_authority_settings(session: Session, fields: dict[str, str], actor: str) -> list[str]:
    """Check every field of the settings form, then save those that changed (audited); returns the changed keys.

    InvalidSettings (nothing saved) when any field is wrong."""
    values, problems = {}, {}
    for field in FIELDS:
        try:
            values[field] = _CHECKS[field](fields.get(field) or "")
        except BadInput as refused:
            problems[field] = str(refused)
    if problems:
        raise InvalidSettings(problems)
    for key, (lines_field, postcode_field) in ADDRESSES.items():
        values[key] = values.pop(lines_field) + "\n" + values.pop(postcode_field)
    current = authority_settings(session)
    changed = [key for key, value in values.items() if current[key] != value]
    for key in changed:
        set_setting(session, key, values[key])
    if changed:
        audit(session, actor, "update", "setting", "authority", {key: values[key] for key in changed})
        session.flush()
    return changed


def normalise_postcode(text: str) -> str:
    """The UK postcode in its usual form ("NR1 2DH"), or "" when `text` is not one."""
    compact = "".join(text.split()).upper()
    return f"{compact[:-3]} {compact[-3:]}" if _POSTCODE.fullmatch(compact) else ""


def set_logo(session: Session, data: bytes, actor: str) -> str:
    """Check the uploaded logo by its content, store it (content-addressed) and make it the letterhead logo;
    returns its media type. InvalidSettings (nothing stored or saved) when it is refused."""
    try:
        media_type = logo_type(data)
    except BadInput as refused:
        raise InvalidSettings({"logo": str(refused)}) from None
    sha256, path = storage.store(data, suffix=".png" if media_type == "image/png" else ".svg")
    current = authority_settings(session)
    if (current["logo"], current["logo_type"]) == (path, media_type):
        return media_type  # the same logo again: nothing changes
    set_setting(session, "logo", path)
    set_setting(session, "logo_type", media_type)
    audit(session, actor, "update", "setting", "logo", {"sha256": sha256, "type": media_type, "bytes": len(data)})
    session.flush()
    return media_type


def remove_logo(session: Session, actor: str) -> bool:
    """Letters go out without a logo from now on; False when there was none."""
    if not authority_settings(session)["logo"]:
        return False
    set_setting(session, "logo", "")
    set_setting(session, "logo_type", "")
    audit(session, actor, "update", "setting", "logo", {"removed": True})
    session.flush()
    return True


def current_logo(session: Session) -> tuple[bytes, str] | None:
    """The letterhead logo's bytes and media type, or None when there is none (or its file is missing)."""
    values = authority_settings(session)
    if not values["logo"] or values["logo_type"] not in LOGO_TYPES:
        return None
    try:
        return storage.load(values["logo"]), values["logo_type"]
    except storage.StorageError:
        return None


def logo_type(data: bytes) -> str:
    """The media type of an acceptable logo judged by its content (PNG signature and structure, or SVG parsed as
    XML with no script, event handler, DTD or external reference); BadInput otherwise."""
    if not data:
        raise BadInput("Choose a PNG or SVG file for the logo")
    if len(data) > MAX_LOGO_BYTES:
        raise BadInput(f"The logo must be {MAX_LOGO_BYTES // 1024} KB or smaller")
    if data.startswith(_PNG_SIGNATURE):
        _check_png(data)
        return "image/png"
    _check_svg(data)
    return "image/svg+xml"


def _check_png(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise BadInput("The logo is not a valid PNG image")
            image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise BadInput("The logo is not a valid PNG image: it may be damaged") from None


def _check_svg(data: bytes) -> None:
    not_an_image = BadInput("The logo must be a PNG or SVG image")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise not_an_image from None
    if re.search(r"<\?(?!xml\s)", text):
        raise BadInput("The SVG logo must not contain processing instructions such as style sheet links")
    try:
        root = DefusedET.fromstring(text, forbid_dtd=True)
    except (DefusedET.ParseError, DefusedXmlException) as error:
        if isinstance(error, DefusedXmlException):
            raise BadInput("The SVG logo must not have a DOCTYPE or entities: remove them and upload it again") \
                from None
        raise not_an_image from None
    if root.tag != _SVG:
        raise not_an_image
    for element in root.iter():
        _check_svg_element(element)


def _check_svg_element(element) -> None:
    name = element.tag.rsplit("}", 1)[-1].lower()
    if name == "script":
        raise BadInput("The SVG logo must not contain scripts")
    if name == "foreignobject":
        raise BadInput("The SVG logo must not contain embedded web content (foreignObject)")
    if name == "style" and _EXTERNAL_URL.search(element.text or ""):
        raise BadInput("The SVG logo must not refer to other files or web addresses")
    for attribute, value in element.attrib.items():
        attribute = attribute.rsplit("}", 1)[-1].lower()
        if attribute.startswith("on"):
            raise BadInput("The SVG logo must not contain scripts (event handlers)")
        if value.strip().lower().startswith("javascript:") or (
                name in ("animate", "set") and attribute == "attributename" and value.strip().endswith("href")):
            raise BadInput("The SVG logo must not contain scripts")
        external = attribute in ("href", "src") and not (value.strip().startswith("#") or
                                                          _EMBEDDED_IMAGE.match(value.strip()))
        if external or _EXTERNAL_URL.search(value):
            raise BadInput("The SVG logo must not refer to other files or web addresses")


def _text(what: str, limit: int = 120):
    """A check for a one-line text field: required, at most `limit` characters, spaces tidied."""
    def check(value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise BadInput(f"Enter {what}")
        if len(value) > limit:
            raise BadInput(f"{what[0].upper()}{what[1:]} must be {limit} characters or fewer")
        return value
    return check


def _lines(what: str, most: int, limit: int = 100):
    """A check for a textarea of lines: at least one, at most `most`, each at most `limit` characters."""
    def check(value: str) -> str:
        lines = [" ".join(line.split()) for line in value.splitlines() if line.strip()]
        if not lines:
            raise BadInput(f"Enter {what}")
        if len(lines) > most:
            raise BadInput(f"Enter no more than {most} lines for {what}")
        if any(len(line) > limit for line in lines):
            raise BadInput(f"Each line of {what} must be {limit} characters or fewer")
        return "\n".join(lines)
    return check


def _postcode(value: str) -> str:
    if not value.strip():
        raise BadInput("Enter a postcode")
    postcode = normalise_postcode(value)
    if not postcode:
        raise BadInput("Enter a real UK postcode, like NR1 2DH")
    return postcode


def _phone(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise BadInput("Enter a phone number")
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE.fullmatch(value) or not 10 <= digits <= 13:
        raise BadInput("Enter a UK phone number, like 0344 800 8020")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if not value:
        raise BadInput("Enter an email address")
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise BadInput("Enter an email address in the correct format, like attendance@example.gov.uk") from None
    return value


def _website(value: str) -> str:
    value = value.strip()
    if not value:
        raise BadInput("Enter a website address")
    if len(value) > 200 or not _WEBSITE.fullmatch(value):
        raise BadInput("Enter a website address in the correct format, like www.example.gov.uk/attendance")
    return value


_CHECKS = {
    "authority_name": _text("the authority's name"),
    "address_lines": _lines("the authority's address", MAX_ADDRESS_LINES),
    "address_postcode": _postcode,
    "authority_phone": _phone,
    "authority_email": _email,
    "authority_website": _website,
    "signatory_name": _text("the signatory's name"),
    "signatory_title": _text("the signatory's job title"),
    "payee_name": _text("who penalties are paid to"),
    "payee_address_lines": _lines("the payment address", MAX_ADDRESS_LINES),
    "payee_postcode": _postcode,
    "payment_methods": _lines("the ways to pay", MAX_PAYMENT_METHODS, 200),
    "payment_reference_hint": _text("what reference to quote", 300),
}
