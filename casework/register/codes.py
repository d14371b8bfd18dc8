"""Register codes (School Attendance (Pupil Registration) (England) Regulations 2024) and their storage form.

Marks are stored one character per session. Two-character codes (C1, C2, J1, Y1–Y7) are stored as one
digit each so that a year of marks stays a fixed-width string; `-` means no mark recorded for the session.
"""
from __future__ import annotations

from datetime import date
from enum import Enum


class Category(str, Enum):
    PRESENT = "present"                  # present or attending approved education off-site
    AUTHORISED = "authorised"
    UNAUTHORISED = "unauthorised"
    NOT_POSSIBLE = "not_possible"        # not a possible session (D, X, Q, Y1–Y7, Z, #)


RETIRED_FROM = date(2024, 8, 19)

CODES: dict[str, tuple[Category, str]] = {
    "/": (Category.PRESENT, "Present (morning)"),
    "\\": (Category.PRESENT, "Present (afternoon)"),
    "L": (Category.PRESENT, "Late, arrived before the register closed"),
    "K": (Category.PRESENT, "Attending education arranged by the local authority"),
    "V": (Category.PRESENT, "Educational visit or trip"),
    "P": (Category.PRESENT, "Approved sporting activity"),
    "W": (Category.PRESENT, "Work experience"),
    "B": (Category.PRESENT, "Other approved educational activity"),
    "C": (Category.AUTHORISED, "Leave of absence: exceptional circumstances"),
    "C1": (Category.AUTHORISED, "Leave of absence: regulated performance or employment abroad"),
    "C2": (Category.AUTHORISED, "Leave of absence: temporary part-time timetable"),
    "E": (Category.AUTHORISED, "Suspended or excluded, no alternative provision"),
    "I": (Category.AUTHORISED, "Illness"),
    "J1": (Category.AUTHORISED, "Leave of absence: interview"),
    "M": (Category.AUTHORISED, "Leave of absence: medical or dental appointment"),
    "R": (Category.AUTHORISED, "Religious observance"),
    "S": (Category.AUTHORISED, "Leave of absence: study leave"),
    "T": (Category.AUTHORISED, "Parent travelling for occupational purposes"),
    "G": (Category.UNAUTHORISED, "Holiday not authorised"),
    "N": (Category.UNAUTHORISED, "Reason for absence not yet provided"),
    "O": (Category.UNAUTHORISED, "Absent in other or unknown circumstances"),
    "U": (Category.UNAUTHORISED, "Arrived after the register closed"),
    "D": (Category.NOT_POSSIBLE, "Dual registered: attending another school"),
    "X": (Category.NOT_POSSIBLE, "Not of compulsory school age, not required to attend"),
    "Q": (Category.NOT_POSSIBLE, "Unable to attend: no local-authority access arrangements"),
    "Y1": (Category.NOT_POSSIBLE, "Unable to attend: transport not available"),
    "Y2": (Category.NOT_POSSIBLE, "Unable to attend: widespread travel disruption"),
    "Y3": (Category.NOT_POSSIBLE, "Unable to attend: part of the school premises closed"),
    "Y4": (Category.NOT_POSSIBLE, "Unable to attend: whole school site unexpectedly closed"),
    "Y5": (Category.NOT_POSSIBLE, "Unable to attend: in criminal justice detention"),
    "Y6": (Category.NOT_POSSIBLE, "Unable to attend: public health guidance or law"),
    "Y7": (Category.NOT_POSSIBLE, "Unable to attend: other unavoidable cause"),
    "Z": (Category.NOT_POSSIBLE, "Prospective pupil not yet on the admission register"),
    "#": (Category.NOT_POSSIBLE, "Planned whole-school closure"),
}

# Codes retired on 19 Aug 2024: accepted only for sessions before that date.
RETIRED: dict[str, tuple[Category, str]] = {
    "H": (Category.AUTHORISED, "Authorised holiday (retired 2024)"),
    "F": (Category.AUTHORISED, "Authorised extended holiday (retired 2024)"),
    "J": (Category.PRESENT, "Interview (approved activity, retired 2024)"),
    "Y": (Category.NOT_POSSIBLE, "Exceptional circumstances (retired 2024)"),
}

NO_MARK = "-"

_TWO_CHAR = {"C1": "1", "C2": "2", "J1": "3", "Y1": "4", "Y2": "5", "Y3": "6", "Y4": "7", "Y5": "8", "Y6": "9", "Y7": "0"}
_STORED = {**{code: code for code in (*CODES, *RETIRED) if len(code) == 1}, **_TWO_CHAR}
_DECODE = {char: code for code, char in _STORED.items()}

ALL_CODES = {**CODES, **RETIRED}


class CodeError(ValueError):
    """An unknown code, or a retired code used for a session on or after 19 Aug 2024."""


def validate(code: str, on: date) -> str:
    """The code as stored (one character); raises CodeError naming what is wrong."""
    if code in RETIRED:
        if on >= RETIRED_FROM:
            raise CodeError(f"code {code!r} was retired on 19 Aug 2024 and cannot be used for {on.isoformat()}")
        return _STORED[code]
    if code not in CODES:
        raise CodeError(f"unknown register code {code!r}")
    return _STORED[code]


def encode(code: str) -> str:
    return _STORED[code]


def decode(char: str) -> str:
    """The register code for a stored character ('' for no mark)."""
    return "" if char == NO_MARK else _DECODE[char]


def category(code: str) -> Category:
    return ALL_CODES[code][0]


def description(code: str) -> str:
    return ALL_CODES[code][1]


def stored_chars(cat: Category) -> set[str]:
    """Stored characters of every code (current or retired) in a category."""
    return {_STORED[code] for code, (c, _) in ALL_CODES.items() if c is cat}
