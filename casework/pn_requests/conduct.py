"""The authority's code of conduct for penalty notice requests: read from YAML, and the checks it sets.

The file shipped is casework/data/pn_code_of_conduct.yaml; an authority points CASEWORK_CODE_OF_CONDUCT at its own
copy. The checks here are pure functions of a request's answers and a pupil's register: each returns the reasons it
fails, in words a school can act on (empty when it passes). The law's own guards (threshold over the offence period,
N codes, compulsory school age, the 2-in-3-years rule) are judged again by the pathway when notices are issued.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import yaml

from ..register import calendar, codes, measures
from ..register.marks import SESSIONS, session_index
from ..register.measures import Segment

CONDUCT_FILE = Path(__file__).resolve().parent.parent / "data" / "pn_code_of_conduct.yaml"
CONDUCT_ENV = "CASEWORK_CODE_OF_CONDUCT"
REASONS = ("holiday", "late", "other")
QUALIFYING = {"G", "O", "U"}  # N (reason not yet provided) never qualifies: it must be re-coded first
RETURN_SEARCH_DAYS = 120  # how far after the absence the pupil's return is looked for


class ConductError(ValueError):
    """The code of conduct file is malformed."""


@dataclass(frozen=True)
class Reason:
    key: str
    label: str
    hint: str
    codes: tuple[str, ...]
    requirements: tuple[str, ...]

    @property
    def codes_text(self) -> str:
        return " or ".join(self.codes)


@dataclass(frozen=True)
class Requirement:
    key: str
    label: str
    any_of: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class EvidenceKind:
    key: str
    label: str
    hint: str


@dataclass(frozen=True)
class CodeOfConduct:
    time_limit_school_days: int
    threshold_sessions: int
    max_upload_bytes: int
    confirmation: str
    reasons: dict[str, Reason]
    requirements: dict[str, Requirement]
    evidence: dict[str, EvidenceKind]

    def reason(self, key: str) -> Reason:
        return self.reasons[key]

    def evidence_for(self, reason: str) -> tuple[str, ...]:
        """Evidence kinds that can meet the reason's requirements, in the file's order."""
        wanted = {kind for req in self.reasons[reason].requirements for group in self.requirements[req].any_of
                  for kind in group}
        return tuple(kind for kind in self.evidence if kind in wanted)


def parse(raw: dict) -> CodeOfConduct:
    """Check and read the file's contents; ConductError names what is wrong."""
    try:
        evidence = {k: EvidenceKind(k, v["label"], v.get("hint", "")) for k, v in raw["evidence"].items()}
        requirements = {k: Requirement(k, v["label"], tuple(tuple(group) for group in v["any_of"]))
                        for k, v in raw["requirements"].items()}
        reasons = {k: Reason(k, v["label"], v.get("hint", ""), tuple(v["codes"]), tuple(v["requirements"]))
                   for k, v in raw["reasons"].items()}
        conduct = CodeOfConduct(int(raw["time_limit_school_days"]), int(raw["threshold_sessions"]),
                                int(raw["max_upload_bytes"]), " ".join(str(raw["confirmation"]).split()),
                                reasons, requirements, evidence)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConductError(f"the code of conduct is malformed: {exc!r}") from None
    _validate(conduct)
    return conduct


def _validate(c: CodeOfConduct) -> None:
    if set(c.reasons) - set(REASONS):
        raise ConductError(f"reasons must be among {', '.join(REASONS)}")
    if c.threshold_sessions < measures.THRESHOLD_SESSIONS:
        raise ConductError(f"threshold_sessions may not be below the national {measures.THRESHOLD_SESSIONS}")
    if c.time_limit_school_days < 1 or c.max_upload_bytes < 1:
        raise ConductError("time_limit_school_days and max_upload_bytes must be positive")
    for reason in c.reasons.values():
        if not reason.codes or set(reason.codes) - QUALIFYING:
            raise ConductError(f"{reason.key}: codes must be among {', '.join(sorted(QUALIFYING))}")
        unknown = set(reason.requirements) - set(c.requirements)
        if unknown:
            raise ConductError(f"{reason.key}: unknown requirements {', '.join(sorted(unknown))}")
    for req in c.requirements.values():
        unknown = {kind for group in req.any_of for kind in group} - set(c.evidence)
        if not req.any_of or unknown:
            raise ConductError(f"{req.key}: unknown evidence {', '.join(sorted(unknown))}")


_cache: dict[Path, tuple[int, CodeOfConduct]] = {}
_lock = threading.Lock()


def conduct_file() -> Path:
    override = os.environ.get(CONDUCT_ENV)
    return Path(override).resolve() if override else CONDUCT_FILE


def code_of_conduct() -> CodeOfConduct:
    """The code of conduct in force, read again whenever its file changes."""
    path = conduct_file()
    stamp = path.stat().st_mtime_ns
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
    conduct = parse(yaml.safe_load(path.read_text(encoding="utf-8")))
    with _lock:
        _cache[path] = (stamp, conduct)
    return conduct


# ---------------------------------------------------------------- words

def long_date(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _sessions_text(sessions: list[tuple[date, str]], limit: int = 6) -> str:
    shown = ", ".join(f"{long_date(day)} {'morning' if s == 'AM' else 'afternoon'}" for day, s in sessions[:limit])
    more = len(sessions) - limit
    return shown + (f" and {more} more" if more > 0 else "")


# ---------------------------------------------------------------- the register over a period

@dataclass(frozen=True)
class DayMarks:
    day: date
    am: str
    pm: str


def merged_code(segments: list[Segment], day: date, session: str) -> str:
    """The session's mark across every school's register (present beats authorised beats unauthorised), or ''."""
    best_key, best_code = -1, ""
    for segment in segments:
        index = session_index(segment.start_date, day, session)
        if 0 <= index < len(segment.marks) and segment.marks[index] != codes.NO_MARK:
            char = segment.marks[index]
            key = int(measures.KEY_OF[ord(char)])
            if key > best_key:
                best_key, best_code = key, codes.decode(char)
    return best_code


def marks_in_period(segments: list[Segment], start: date, end: date) -> list[DayMarks]:
    """Every day of [start, end] with a mark, as the authority sees it."""
    days = []
    day = start
    while day <= end:
        am, pm = (merged_code(segments, day, s) for s in SESSIONS)
        if am or pm:
            days.append(DayMarks(day, am, pm))
        day += timedelta(days=1)
    return days


def returned_on(segments: list[Segment], end: date) -> date | None:
    """The first day after `end` on which the pupil was present at some session; None if not (yet) back."""
    for offset in range(1, RETURN_SEARCH_DAYS + 1):
        day = end + timedelta(days=offset)
        if any(codes.category(code) is codes.Category.PRESENT
               for code in (merged_code(segments, day, s) for s in SESSIONS) if code):
            return day
    return None


def best_window_count(sessions: list[tuple[date, str, str]], school_days: list[date], start: date, end: date) -> int:
    """The most of `sessions` inside any 10 consecutive school weeks of [start, end]."""
    mondays = sorted({d - timedelta(days=d.weekday()) for d in school_days if start <= d <= end})
    if not mondays:
        return 0
    per_week: dict[date, int] = {}
    for day, _, _ in sessions:
        monday = day - timedelta(days=day.weekday())
        per_week[monday] = per_week.get(monday, 0) + 1
    counts = [per_week.get(m, 0) for m in mondays]
    weeks = measures.THRESHOLD_WEEKS
    return max(sum(counts[i:i + weeks]) for i in range(max(1, len(counts) - weeks + 1)))


# ---------------------------------------------------------------- the checks

@dataclass(frozen=True)
class PupilFacts:
    """What the checks need to know about one pupil."""

    upn: str
    name: str
    date_of_birth: date
    segments: list[Segment]
    school_name: str
    school_independent: bool


@dataclass(frozen=True)
class PupilCheck:
    """One pupil judged against the code of conduct: the problems, and what the school and officer are shown."""

    upn: str
    name: str
    problems: tuple[str, ...]
    marks: tuple[DayMarks, ...]
    qualifying_sessions: int
    returned_on: date | None
    request_by: date | None

    @property
    def passes(self) -> bool:
        return not self.problems


def period_problems(start: date | None, end: date | None, today: date) -> list[str]:
    if start is None or end is None:
        return ["Give the first and last day of the absence"]
    if start > end:
        return ["The first day of the absence must be on or before the last day"]
    if end > today:
        return ["The absence must have ended: the last day cannot be in the future"]
    return []


def evidence_problems(conduct: CodeOfConduct, reason: str, given: set[str], keyed: bool = False) -> list:
    """The requirements of the reason that no group of the evidence given meets ((requirement, message) if keyed)."""
    problems = []
    for key in conduct.reason(reason).requirements:
        req = conduct.requirements[key]
        if not any(set(group) <= given for group in req.any_of):
            message = f"Evidence missing: {req.label[:1].lower() + req.label[1:]}"
            problems.append((key, message) if keyed else message)
    return problems


def _threshold_problem(conduct, reason: Reason, pupil: PupilFacts, qualifying, school_days, start, end) -> list[str]:
    count = best_window_count(qualifying, school_days, start, end)
    if count >= conduct.threshold_sessions:
        return []
    return [f"{pupil.name} has {count} session{'s' if count != 1 else ''} coded {reason.codes_text} in 10 school weeks "
            f"between {long_date(start)} and {long_date(end)}: the threshold is {conduct.threshold_sessions}"]


def _code_problems(reason: Reason, pupil: PupilFacts, unauthorised) -> list[str]:
    problems = []
    still_n = [(day, s) for day, s, code in unauthorised if code == "N"]
    if still_n:
        problems.append(f"{pupil.name} has sessions still coded N (reason not yet provided): {_sessions_text(still_n)}. "
                        "Record the reason in the register first")
    other = [(day, s, code) for day, s, code in unauthorised if code != "N" and code not in reason.codes]
    if other:
        found = ", ".join(sorted({code for _, _, code in other}))
        problems.append(f"{pupil.name} has sessions coded {found}, not {reason.codes_text} as a request for "
                        f"{reason.label.lower()} needs: {_sessions_text([(d, s) for d, s, _ in other])}")
    return problems


def _time_limit(conduct, pupil: PupilFacts, school_days, end: date, made_on: date) -> tuple[list[str], date | None,
                                                                                            date | None]:
    back = returned_on(pupil.segments, end)
    if back is None:
        return [], None, None
    limit = conduct.time_limit_school_days
    try:
        deadline = calendar.add_school_days(back, limit, school_days)
    except ValueError:
        return [], back, None
    if made_on <= deadline:
        return [], back, deadline
    return [f"The request is too late for {pupil.name}: back at school on {long_date(back)}, so it had to reach the "
            f"authority within {limit} school days, by {long_date(deadline)}"], back, deadline


def check_pupil(conduct: CodeOfConduct, reason_key: str, start: date, end: date, made_on: date,
                pupil: PupilFacts) -> PupilCheck:
    """Every code-of-conduct check of one pupil for an absence from `start` to `end`, requested on `made_on`."""
    reason = conduct.reason(reason_key)
    school_days = measures.school_days(pupil.segments)
    unauthorised = measures.unauthorised_sessions(pupil.segments, start, end)
    qualifying = [s for s in unauthorised if s[2] in reason.codes]
    problems = _threshold_problem(conduct, reason, pupil, qualifying, school_days, start, end)
    problems += _code_problems(reason, pupil, unauthorised)
    age = calendar.csa_problem(pupil.date_of_birth, start, end)
    if age:
        problems.append(f"{pupil.name}: {age}")
    if pupil.school_independent:
        problems.append(f"{pupil.school_name} is an independent school: penalty notices cannot be issued")
    late, back, deadline = _time_limit(conduct, pupil, school_days, end, made_on)
    problems += late
    return PupilCheck(pupil.upn, pupil.name, tuple(problems), tuple(marks_in_period(pupil.segments, start, end)),
                      len(qualifying), back, deadline)
