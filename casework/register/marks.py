"""Where a session sits in a stored marks string: academic years run 1 Aug to 31 Jul, AM then PM each day."""
from __future__ import annotations

from datetime import date, timedelta

from .codes import NO_MARK

SESSIONS = ("AM", "PM")


def academic_year(day: date) -> int:
    """The calendar year in which the academic year containing `day` starts."""
    return day.year if day.month >= 8 else day.year - 1


def year_start(year: int) -> date:
    return date(year, 8, 1)


def year_end(year: int) -> date:
    return date(year + 1, 7, 31)


def session_index(start: date, day: date, session: str) -> int:
    return (day - start).days * 2 + SESSIONS.index(session)


def session_at(start: date, index: int) -> tuple[date, str]:
    return start + timedelta(days=index // 2), SESSIONS[index % 2]


def set_mark(marks: str, index: int, char: str) -> str:
    """A copy of `marks` with `char` at `index`, padding with no-mark characters as needed."""
    if len(marks) <= index:
        marks = marks + NO_MARK * (index + 1 - len(marks))
    return marks[:index] + char + marks[index + 1:]
