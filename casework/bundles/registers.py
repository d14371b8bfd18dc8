"""Register extracts: every session of one school's register in a period, week by week, with totals and a legend.

Read straight from the stored marks (not the merged measures), so that codes which are not possible sessions (X, #,
Y1…) show as recorded. The s.566 certificate and the register extract of the same period are built from the same
extract, so their totals cannot differ.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ..register import codes
from ..register.marks import SESSIONS, academic_year, session_index, year_start
from ..register.measures import Segment

CATEGORY_WORDS = {
    codes.Category.PRESENT: "Present or approved educational activity",
    codes.Category.AUTHORISED: "Authorised absence",
    codes.Category.UNAUTHORISED: "Unauthorised absence",
    codes.Category.NOT_POSSIBLE: "Not a possible session",
}
NO_MARK_WORDS = "No mark recorded"


@dataclass(frozen=True)
class Totals:
    present: int
    authorised: int
    unauthorised: int
    not_possible: int
    no_mark: int

    @property
    def possible(self) -> int:
        return self.present + self.authorised + self.unauthorised

    @property
    def attendance(self) -> str:
        """Attendance as a percentage of possible sessions, one decimal ('' when nothing was possible)."""
        return f"{100 * self.present / self.possible:.1f}" if self.possible else ""

    def as_dict(self) -> dict:
        return {"possible": self.possible, "present": self.present, "authorised": self.authorised,
                "unauthorised": self.unauthorised, "not_possible": self.not_possible, "no_mark": self.no_mark,
                "attendance": self.attendance}


@dataclass(frozen=True)
class Extract:
    """One school's register from `start` to `end`: (date, session, code) for every session ('' = no mark)."""

    school_urn: str
    start: date
    end: date
    sessions: list[tuple[date, str, str]]

    @property
    def totals(self) -> Totals:
        counts = {category: 0 for category in codes.Category}
        no_mark = 0
        for _day, _session, code in self.sessions:
            if code:
                counts[codes.category(code)] += 1
            else:
                no_mark += 1
        return Totals(counts[codes.Category.PRESENT], counts[codes.Category.AUTHORISED],
                      counts[codes.Category.UNAUTHORISED], counts[codes.Category.NOT_POSSIBLE], no_mark)

    @property
    def unauthorised(self) -> list[tuple[date, str, str]]:
        return [s for s in self.sessions if s[2] and codes.category(s[2]) is codes.Category.UNAUTHORISED]

    @property
    def has_marks(self) -> bool:
        return any(code for _d, _s, code in self.sessions)

    def weeks(self) -> tuple[int, list[dict]]:
        """(days shown per week: 5, or 7 when a weekend session has a mark; the weeks, Monday first)."""
        by_day: dict[date, dict[str, str]] = {}
        for day, session, code in self.sessions:
            by_day.setdefault(day, {})[session] = code
        weekend = any(code for day, _s, code in self.sessions if day.weekday() >= 5)
        width = 7 if weekend else 5
        monday = self.start - timedelta(days=self.start.weekday())
        weeks = []
        while monday <= self.end:
            days = [monday + timedelta(days=i) for i in range(width)]
            weeks.append({"monday": monday, "days": [
                None if day not in by_day else {"date": day, "am": by_day[day].get("AM", ""),
                                                "pm": by_day[day].get("PM", "")} for day in days]})
            monday += timedelta(days=7)
        return width, weeks

    def legend(self) -> list[dict]:
        """The codes used, grouped by category, with their meaning."""
        used = {code for _d, _s, code in self.sessions}
        rows = [{"code": code, "meaning": codes.description(code), "category": CATEGORY_WORDS[codes.category(code)]}
                for code in sorted(used - {""}, key=lambda c: (list(codes.Category).index(codes.category(c)), c))]
        if "" in used:
            rows.append({"code": "-", "meaning": NO_MARK_WORDS, "category": ""})
        return rows


def extract(segments: list[Segment], school_urn: str, start: date, end: date) -> Extract:
    """Every session of one school's register from `start` to `end`, as recorded."""
    rows = {academic_year(s.start_date): s for s in segments if s.school_urn == school_urn}
    sessions = []
    day = start
    while day <= end:
        segment = rows.get(academic_year(day))
        for session in SESSIONS:
            char = codes.NO_MARK
            if segment is not None and day >= segment.start_date:
                index = session_index(segment.start_date, day, session)
                char = segment.marks[index] if index < len(segment.marks) else codes.NO_MARK
            sessions.append((day, session, codes.decode(char)))
        day += timedelta(days=1)
    return Extract(school_urn, start, end, sessions)


def schools_with_marks(segments: list[Segment], start: date, end: date, first: str) -> list[str]:
    """URNs of the schools with any mark in [start, end], `first` (the case's school) first; [first] if none."""
    found = [urn for urn in dict.fromkeys(s.school_urn for s in segments)
             if extract(segments, urn, start, end).has_marks]
    found.sort(key=lambda urn: urn != first)
    return found or [first]


def year_to_date(segments: list[Segment], today: date) -> tuple[date, date]:
    """The academic year containing the last marked day on or before `today`, from its start to that day."""
    last = None
    for segment in segments:
        marked = segment.marks.rstrip(codes.NO_MARK)
        if marked:
            day = segment.start_date + timedelta(days=(len(marked) - 1) // 2)
            last = max(last or day, day)
    end = min(last or today, today)
    return year_start(academic_year(end)), end
