"""Common Transfer File reader (CTF 17 to 25): pupils, contacts and attendance marks as import rows.

The file is parsed with defusedxml (CTFs come from outside the authority). Rows are keyed by the CSV column names of
their kind (`imports.HEADERS`) so that the CSV checks apply unchanged; each row carries the line of its element's
start tag, read from the expat parser as the tree is built.

Decisions where the CTF specification leaves room:
- `contact_ref` of a CTF contact is `CTF-` and 16 hex digits of the SHA-256 of surname, forename and postcode
  (upper case, spaces removed): the same person given for two siblings becomes one contact. A contact without a
  postcode (and not living at the pupil's address) is keyed by the pupil's UPN and their `Order` instead, so that
  two unrelated people of the same name are never merged.
- Fields a CTF does not carry are left out of the rows and the importer keeps what is stored: the pupil's EAL, social
  worker and young carer flags; SEN, FSM and looked-after status when their CTF blocks are absent; a contact's email,
  phone and address confidentiality when absent.
- `AttendanceMarks` holding a comma is split on commas, otherwise it is read one character per session; tokens
  alternate AM, PM from the morning of `AttendanceStartDate`. `-` and empty tokens are no mark and are skipped; `#`
  (no session: weekends, holidays, closures) is stored as given, a session that is not possible.
- `SessionsPossible`, `SessionsAuthorised` and `SessionsUnauthorised`, where given, must equal the counts of the
  marks; `SessionsAttended` is ignored (writers disagree on whether late and off-site codes count).
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Callable
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import XMLParser

from .register import codes

SUPPORTED_VERSIONS = range(17, 26)
FEED_BYTES = 1 << 16
RELATIONSHIPS = {
    "PAM": "mother",
    "PAF": "father",
    "STM": "step-mother",
    "STF": "step-father",
    "FOM": "foster mother",
    "FOF": "foster father",
    "CAR": "carer",
    "FAM": "other family member",
    "REL": "other relative",
    "CHM": "childminder",
    "SWR": "social worker",
    "DOC": "doctor",
    "HTC": "head teacher",
    "TCH": "teacher",
    "RLG": "religious contact",
    "OTH": "other",
}
SEN_PROVISION = {"N": "none", "A": "support", "P": "support", "K": "support", "S": "ehcp", "E": "ehcp"}
TOTALS = (
    ("SessionsPossible", "possible", (codes.Category.PRESENT, codes.Category.AUTHORISED, codes.Category.UNAUTHORISED)),
    ("SessionsAuthorised", "authorised", (codes.Category.AUTHORISED,)),
    ("SessionsUnauthorised", "unauthorised", (codes.Category.UNAUTHORISED,)),
)
_VERSION = re.compile(r"(\d+)(\.\d+)?")

LineProblem = tuple[int, "str | None", str]
Row = tuple[int, dict[str, str]]


@dataclass
class AttendanceRun:
    """One YearData's session marks: `tokens` alternate AM, PM from the morning of `start`, at school (lea, estab)."""

    line: int
    upn: str
    lea: str
    estab: str
    start: date
    tokens: list[str]


@dataclass
class CtfContent:
    """What one CTF holds: rows keyed by CSV column names with the line of their element, and the problems found."""

    school: tuple[str, str] = ("", "")
    school_line: int = 1
    pupils: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)
    attendance: list[AttendanceRun] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)


class Unreadable(ValueError):
    """A file that cannot be read as a supported CTF at all: not well-formed XML, not a CTF, or another version."""

    def __init__(self, line: int, field_name: str | None, message: str):
        super().__init__(message)
        self.line, self.field, self.message = line, field_name, message


class _LineTreeBuilder(TreeBuilder):
    """A tree builder that remembers the line of each element's start tag."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Element, int] = {}
        self.parser: XMLParser | None = None

    def start(self, tag, attrs):
        element = super().start(tag, attrs)
        self.lines[element] = self.parser.parser.CurrentLineNumber
        return element


def read_ctf(data: bytes, progress: Callable[[int], None] | None = None) -> CtfContent:
    """The pupils, contacts and marks of a CTF (Unreadable if it is not one); `progress(n)` hears of n bytes parsed."""
    builder = _LineTreeBuilder()
    parser = builder.parser = XMLParser(target=builder)
    try:
        for start in range(0, len(data), FEED_BYTES):
            chunk = data[start:start + FEED_BYTES]
            parser.feed(chunk)
            if progress:
                progress(len(chunk))
        root = parser.close()
    except ParseError as exc:
        raise Unreadable(exc.position[0], None, f"the XML is not well formed: {exc}") from None
    except DefusedXmlException as exc:
        raise Unreadable(parser.parser.CurrentLineNumber, None, f"the XML is refused for safety: {exc}") from None
    return _Reader(builder.lines).content(root)


def contact_ref(surname: str, forename: str, postcode: str) -> str:
    """The stable reference of a CTF contact: the same name at the same postcode is the same person."""
    key = "|".join(_compact(value) for value in (surname, forename, postcode))
    return "CTF-" + hashlib.sha256(key.encode()).hexdigest()[:16].upper()


def _compact(value: str) -> str:
    return "".join(value.split()).upper()


def _text(element: Element | None, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def _marks_tokens(text: str) -> list[str]:
    """One token per session: comma-separated (whitespace ignored) if there is a comma, else one character each."""
    text = text.strip()
    return "".join(text.split()).split(",") if "," in text else list(text)


def _address(element: Element | None) -> dict[str, str]:
    """CSV address columns from a CTF Address (BS7666Address, or AddressLines with the last line as the town)."""
    if element is None:
        return {}
    postcode = _text(element, "PostCode")
    bs7666 = element.find("BS7666Address")
    if bs7666 is not None:
        return {
            "address_line1": " ".join(filter(None, (_text(bs7666, name) for name in ("SAON", "PAON", "Street")))),
            "address_line2": _text(bs7666, "Locality"),
            "town": _text(bs7666, "Town") or _text(bs7666, "PostTown"),
            "postcode": postcode,
        }
    lines = [_text(element, f"AddressLines/AddressLine{n}") for n in range(1, 6)]
    lines = [line for line in lines if line]
    first, *rest = lines or [""]
    return {
        "address_line1": first,
        "address_line2": ", ".join(rest[:-1]),
        "town": rest[-1] if rest else "",
        "postcode": postcode,
    }


class _Reader:
    def __init__(self, lines: dict[Element, int]):
        self.lines = lines
        self.result = CtfContent()

    def problem(self, element: Element, field_name: str | None, message: str) -> None:
        self.result.problems.append((self.lines.get(element, 1), field_name, message))

    def content(self, root: Element) -> CtfContent:
        content = self.result
        if root.tag != "CTfile":
            raise Unreadable(self.lines[root], None, f"the root element is <{root.tag}>, not <CTfile>: not a Common Transfer File")
        header = root.find("Header")
        version = _text(header, "CTFversion")
        match = _VERSION.fullmatch(version)
        if not match or int(match[1]) not in SUPPORTED_VERSIONS:
            line = self.lines.get(root.find("Header/CTFversion"), self.lines[root])
            raise Unreadable(line, "CTFversion", f"CTFversion {version!r}: only CTF versions 17 to 25 are supported")
        source = header.find("SourceSchool")
        content.school = (_text(source, "LEA"), _text(source, "Estab"))
        content.school_line = self.lines.get(source if source is not None else header, 1)
        for pupil in root.iterfind("CTFpupilData/Pupil"):
            self.read_pupil(pupil)
        return content

    def read_pupil(self, pupil: Element) -> None:
        line = self.lines[pupil]
        upn = _text(pupil, "UPN")
        row = {
            "upn": upn,
            "surname": _text(pupil, "Surname"),
            "forename": _text(pupil, "Forename"),
            "date_of_birth": _text(pupil, "DOB"),
            "year_group": _text(pupil, "BasicDetails/NCyearActual"),
            **_address(pupil.find("Address")),
            **self.statuses(pupil),
        }
        self.result.pupils.append((line, row))
        for contact in sorted(pupil.iterfind("Contacts/Contact"), key=lambda c: _text(c, "Order").zfill(4)):
            self.read_contact(contact, row)
        label = f"pupil {upn} ({row['forename']} {row['surname']})"
        for year_data in pupil.iterfind("Attendance/YearData"):
            self.read_year(year_data, upn, label)

    @staticmethod
    def statuses(pupil: Element) -> dict[str, str]:
        """SEN, FSM and looked-after status, each only when the CTF has its block."""
        found: dict[str, str] = {}
        provisions = [_text(sen, "SENprovision") for sen in pupil.iterfind("SENhistory/SEN")]
        if provisions:
            found["sen"] = SEN_PROVISION.get(provisions[-1], provisions[-1])
        fsm = pupil.find("FSMhistory")
        if fsm is not None:
            current = any(not _text(spell, "FSMendDate") for spell in fsm.iterfind("FSMinstance"))
            found["fsm"] = "yes" if current else "no"
        in_care = _text(pupil, "LookedAfter/InCare")
        if in_care:
            found["looked_after"] = "yes" if in_care == "true" else "no"
        return found

    def read_contact(self, contact: Element, pupil: dict[str, str]) -> None:
        address = contact.find("Address")
        as_pupil = _text(address, "AddressAsPupil") == "true"
        place = {key: pupil.get(key, "") for key in ("address_line1", "address_line2", "town", "postcode")} \
            if as_pupil else _address(address)
        surname, forename = _text(contact, "Surname"), _text(contact, "Forename")
        postcode = place.get("postcode", "")
        ref = contact_ref(surname, forename, postcode) if postcode else f"CTF-{pupil['upn']}-{_text(contact, 'Order')}"
        code = _text(contact, "Relationship")
        row = {
            "upn": pupil["upn"],
            "contact_ref": ref,
            "title": _text(contact, "Title"),
            "forename": forename,
            "surname": surname,
            "relationship": RELATIONSHIPS.get(code, code),
            "parental_responsibility": "yes" if _text(contact, "Responsibility") == "true" else "no",
            "lives_with_pupil": "yes" if as_pupil else "no",
            "address_line1": "",
            "address_line2": "",
            "town": "",
            "postcode": "",
            **place,
        }
        email, phone = _text(contact, "Email"), _text(contact, "Phones/Phone/PhoneNo")
        if email:
            row["email"] = email
        if phone:
            row["phone"] = phone
        self.result.contacts.append((self.lines[contact], row))

    def read_year(self, year_data: Element, upn: str, label: str) -> None:
        sessions = year_data.find("AttendSessions")
        if sessions is None:
            return
        lea, estab = _text(year_data, "LEA"), _text(year_data, "Estab")
        start_text = _text(sessions, "AttendanceStartDate")
        try:
            start = date.fromisoformat(start_text)
        except ValueError:
            self.problem(sessions, "AttendanceStartDate",
                         f"{label}: AttendanceStartDate {start_text!r}: must be a date as YYYY-MM-DD")
            return
        tokens = _marks_tokens(_text(sessions, "AttendanceMarks"))
        self.result.attendance.append(AttendanceRun(self.lines[year_data], upn, lea, estab, start, tokens))
        self.reconcile(year_data, tokens, f"{label}, LEA {lea} Estab {estab} from {start_text}")

    def reconcile(self, year_data: Element, tokens: list[str], label: str) -> None:
        """Each session total the YearData gives must equal the count of its marks."""
        by_category: Counter = Counter()
        for token, n in Counter(tokens).items():
            if token in codes.ALL_CODES:
                by_category[codes.category(token)] += n
        for name, word, categories in TOTALS:
            given = _text(year_data, name)
            if not given:
                continue
            counted = sum(by_category[category] for category in categories)
            element = year_data.find(name)
            if not given.isdigit():
                self.problem(element, name, f"{label}: {name} {given!r}: must be a whole number")
            elif int(given) != counted:
                self.problem(element, name,
                             f"{label}: {name} is {int(given)} but the marks hold {counted} {word} sessions")
