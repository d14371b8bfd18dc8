"""Attendance measures, the PN threshold and the CME alert: boundaries, merged registers, and the vectorised roll."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from casework.models import Pupil, RegisterYear, School
from casework.register import codes, measures
from casework.register.calendar import is_term_day
from casework.register.marks import SESSIONS, academic_year, session_index, set_mark, year_start
from casework.register.measures import (Segment, cme_days, last_marked_day, measures_for_all, n_code_sessions,
                                        pupil_measures, school_days, threshold_at, threshold_in_period,
                                        unauthorised_sessions)

PRESENT = ("/", "\\")
URN_A, URN_B = "100001", "100002"


def term_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=d) for d in range((last - first).days + 1) if is_term_day(first + timedelta(days=d))]


def attending(first: date, last: date, **_) -> dict[date, tuple[str, str]]:
    return {day: PRESENT for day in term_days(first, last)}


def register(year: int, days: dict[date, str | tuple[str, str]]) -> str:
    """Stored marks of one academic year; a day maps to one code for both sessions or to (AM, PM)."""
    marks = ""
    for day, code in sorted(days.items()):
        for session, value in zip(SESSIONS, (code, code) if isinstance(code, str) else code):
            marks = set_mark(marks, session_index(year_start(year), day, session), codes.validate(value, day))
    return marks


def segment(urn: str, days: dict[date, str | tuple[str, str]]) -> Segment:
    year = academic_year(min(days))
    return Segment(urn, year_start(year), register(year, days))


def with_absences(base: dict, absences: list[tuple[date, str, str]]) -> dict:
    """`base` with (day, session, code) marks replacing the ones there."""
    days = dict(base)
    for day, session, code in absences:
        am, pm = days.get(day, PRESENT)
        days[day] = (code, pm) if session == "AM" else (am, code)
    return days


# The PN threshold: 10 unauthorised sessions in the last 10 school weeks.

WINDOW_SESSIONS = [  # all inside the 10 school weeks ending w/c 23 Nov 2026 (14 Sep to 29 Nov; half term skipped)
    (date(2026, 9, 14), "AM", "O"), (date(2026, 9, 14), "PM", "O"), (date(2026, 9, 22), "AM", "G"),
    (date(2026, 10, 6), "PM", "U"), (date(2026, 10, 13), "AM", "N"), (date(2026, 10, 21), "AM", "O"),
    (date(2026, 11, 3), "AM", "O"), (date(2026, 11, 3), "PM", "O"), (date(2026, 11, 18), "PM", "G"),
    (date(2026, 11, 23), "AM", "O"),
]
OUTSIDE = [(date(2026, 9, 11), "AM", "O"), (date(2026, 9, 11), "PM", "O")]  # w/c 7 Sep: an 11th school week back
AFTER_AS_OF = [(date(2026, 11, 25), "AM", "O")]  # pre-entered, after the date asked about


def autumn_pupil(n_in_window: int) -> list[Segment]:
    base = attending(date(2026, 9, 3), date(2026, 11, 23)) | attending(date(2026, 11, 25), date(2026, 11, 25))
    return [segment(URN_A, with_absences(base, WINDOW_SESSIONS[:n_in_window] + OUTSIDE + AFTER_AS_OF))]


@pytest.mark.parametrize("n, met", [(10, True), (9, False)])
def test_threshold_needs_ten_unauthorised_sessions_in_ten_school_weeks(n, met):
    result = threshold_at(autumn_pupil(n), date(2026, 11, 23))
    assert result.met is met
    assert result.unauthorised_sessions == n
    assert (result.window_start, result.window_end) == (date(2026, 9, 14), date(2026, 11, 29))
    assert result.sessions == sorted(WINDOW_SESSIONS[:n])


def test_half_term_is_not_a_school_week_so_the_window_reaches_back_a_week():
    # without the half-term week (no possible session) the 10 weeks would start on 21 Sep and miss 14 Sep
    result = threshold_at(autumn_pupil(10), date(2026, 11, 23))
    assert result.window_start == date(2026, 9, 14)
    assert result.sessions[:2] == [(date(2026, 9, 14), "AM", "O"), (date(2026, 9, 14), "PM", "O")]


def test_weeks_of_only_not_possible_marks_are_not_school_weeks():
    base = with_absences(attending(date(2026, 9, 3), date(2026, 11, 23)), WINDOW_SESSIONS + OUTSIDE)
    closed = {day: "#" for day in term_days(date(2026, 11, 16), date(2026, 11, 20))}
    elsewhere = {day: "D" for day in term_days(date(2026, 11, 9), date(2026, 11, 13))}
    days = {day: code for day, code in base.items() if day not in closed and day not in elsewhere}
    result = threshold_at([segment(URN_A, days | closed | elsewhere)], date(2026, 11, 23))
    assert (result.window_start, result.window_end) == (date(2026, 8, 31), date(2026, 11, 29))
    assert result.unauthorised_sessions == 11  # 18 Nov is a closed session; 11 Sep is back in the window


def test_window_spans_two_schools_and_the_summer_holiday():
    result = threshold_at(two_school_pupil(), date(2026, 10, 2))
    assert result.met
    assert (result.window_start, result.window_end) == (date(2026, 6, 22), date(2026, 10, 4))
    assert result.sessions == [
        (date(2026, 6, 22), "AM", "O"), (date(2026, 6, 22), "PM", "O"), (date(2026, 7, 1), "AM", "G"),
        (date(2026, 7, 1), "PM", "G"), (date(2026, 7, 21), "AM", "U"), (date(2026, 7, 21), "PM", "U"),
        (date(2026, 9, 7), "AM", "N"), (date(2026, 9, 7), "PM", "N"), (date(2026, 10, 1), "AM", "O"),
        (date(2026, 10, 1), "PM", "O")]


def two_school_pupil() -> list[Segment]:
    """School A until 21 Jul 2026 (end of 2025/26), school B from 3 Sep 2026."""
    at_a = with_absences(attending(date(2026, 4, 13), date(2026, 7, 21)), [
        (date(2026, 6, 19), "AM", "O"),  # w/c 15 Jun: the 11th school week back
        (date(2026, 6, 22), "AM", "O"), (date(2026, 6, 22), "PM", "O"), (date(2026, 7, 1), "AM", "G"),
        (date(2026, 7, 1), "PM", "G"), (date(2026, 7, 21), "AM", "U"), (date(2026, 7, 21), "PM", "U")])
    at_b = with_absences(attending(date(2026, 9, 3), date(2026, 10, 2)), [
        (date(2026, 9, 7), "AM", "N"), (date(2026, 9, 7), "PM", "N"), (date(2026, 10, 1), "AM", "O"),
        (date(2026, 10, 1), "PM", "O")])
    return [segment(URN_A, at_a), segment(URN_B, at_b)]


def test_measures_count_only_the_current_school_this_year():
    m = pupil_measures(two_school_pupil(), date(2026, 10, 2), URN_B)
    assert (m["possible_sessions"], m["present_sessions"], m["authorised_absence"], m["unauthorised_absence"]) == (
        44, 40, 0, 4)
    assert m["absence_rate"] == 9.1 and not m["persistent_absence"]
    assert m["pn_threshold"]["met"] and m["pn_threshold"]["window_start"] == "2026-06-22"
    assert m["pn_threshold"]["sessions"][0] == ("2026-06-22", "AM", "O")


def test_the_week_of_as_of_without_a_school_day_is_not_in_the_window():
    result = threshold_at(autumn_pupil(10), date(2026, 10, 28))  # half-term Wednesday
    assert (result.window_start, result.window_end) == (date(2026, 8, 31), date(2026, 10, 25))
    assert result.unauthorised_sessions == 8  # 14 Sep to 21 Oct (6), plus 11 Sep (2)


def test_shorter_history_is_the_window():
    result = threshold_at(autumn_pupil(3), date(2026, 9, 22))
    assert (result.window_start, result.window_end) == (date(2026, 8, 31), date(2026, 9, 27))
    assert result.unauthorised_sessions == 5 and not result.met
    assert threshold_at([], date(2026, 9, 22)) == measures.NO_WINDOW


# Merged registers and N codes.


def test_a_possible_mark_wins_over_a_dual_registration_mark():
    days = term_days(date(2026, 9, 7), date(2026, 9, 11))
    at_a = segment(URN_A, {day: "D" for day in days})
    at_b = segment(URN_B, {days[0]: "O", days[1]: "N", days[2]: PRESENT, days[3]: "I", days[4]: "D"})
    assert unauthorised_sessions([at_a, at_b], days[0], days[-1]) == [
        (days[0], "AM", "O"), (days[0], "PM", "O"), (days[1], "AM", "N"), (days[1], "PM", "N")]
    assert school_days([at_a, at_b]) == days[:4]


def test_n_codes_in_the_period_and_the_merge_keeps_n_over_other_unauthorised_marks():
    days = term_days(date(2026, 9, 7), date(2026, 9, 11))
    at_a = segment(URN_A, {days[0]: "N", days[1]: "N", days[2]: ("N", "O"), days[3]: PRESENT, days[4]: PRESENT})
    at_b = segment(URN_B, {days[0]: PRESENT, days[1]: "O", days[2]: "O", days[3]: "D", days[4]: "G"})
    assert n_code_sessions([at_a, at_b], days[0], days[-1]) == [
        (days[1], "AM"), (days[1], "PM"), (days[2], "AM")]
    assert n_code_sessions([at_a, at_b], days[2], days[-1]) == [(days[2], "AM")]
    assert threshold_in_period([at_a, at_b], days[0], days[-1]).unauthorised_sessions == 4


def test_n_counts_towards_the_threshold():
    base = attending(date(2026, 9, 3), date(2026, 11, 23))
    n_codes = [(day, session, "N") for day, session, _ in WINDOW_SESSIONS]
    assert threshold_at([segment(URN_A, with_absences(base, n_codes))], date(2026, 11, 23)).met


def test_retired_codes_count_before_19_august_2024():
    days = term_days(date(2024, 1, 8), date(2024, 1, 12))
    marks = {days[0]: "H", days[1]: "F", days[2]: "J", days[3]: "Y", days[4]: ("O", "I")}
    m = pupil_measures([segment(URN_A, marks)], date(2024, 1, 31), URN_A)
    assert (m["possible_sessions"], m["present_sessions"], m["authorised_absence"], m["unauthorised_absence"]) == (
        8, 2, 5, 1)
    assert codes.validate("H", date(2024, 8, 18)) == "H"
    with pytest.raises(codes.CodeError):
        codes.validate("H", date(2024, 8, 19))


# Absence rate, persistent and severe absence.


def sequential(absent: int, possible: int) -> list[Segment]:
    """`possible` sessions one after another from 1 Sep 2025, the first `absent` of them absences (I and O)."""
    chars = [codes.encode("I" if i % 2 else "O") for i in range(absent)] + ["/"] * (possible - absent)
    offset = (date(2025, 9, 1) - year_start(2025)).days * 2
    return [Segment(URN_A, year_start(2025), codes.NO_MARK * offset + "".join(chars))]


RATES = [  # absent, possible, rate (half up), persistent (>= 10 %, unrounded), severe (>= 50 %)
    (1, 8, 12.5, True, False),
    (1, 16, 6.3, False, False),       # 6.25: round() would give 6.2
    (5, 16, 31.3, True, False),       # 31.25
    (1, 400, 0.3, False, False),      # 0.25
    (1, 401, 0.2, False, False),      # 0.2494
    (10, 100, 10.0, True, False),     # exactly 10 %
    (10, 101, 9.9, False, False),
    (20, 201, 10.0, False, False),    # 9.95 % shows as 10.0 but is not persistent absence
    (50, 100, 50.0, True, True),      # exactly 50 %
    (50, 101, 49.5, True, False),
    (0, 10, 0.0, False, False),
]


@pytest.mark.parametrize("absent, possible, rate, persistent, severe", RATES)
def test_absence_rate_and_flags(absent, possible, rate, persistent, severe):
    m = pupil_measures(sequential(absent, possible), date(2026, 7, 31), URN_A)
    assert (m["possible_sessions"], m["authorised_absence"] + m["unauthorised_absence"]) == (possible, absent)
    assert m["absence_rate"] == rate
    assert (m["persistent_absence"], m["severe_absence"]) == (persistent, severe)


def test_no_possible_sessions():
    days = term_days(date(2026, 9, 7), date(2026, 9, 11))
    for segments in ([], [segment(URN_A, {day: "#" for day in days})], [segment(URN_B, {day: "O" for day in days})]):
        m = pupil_measures(segments, date(2026, 9, 30), URN_A)
        assert m["possible_sessions"] == 0 and m["absence_rate"] is None
        assert not m["persistent_absence"] and not m["severe_absence"]


# Children missing education: consecutive school days with every possible session unauthorised.

CME_RUN = term_days(date(2026, 11, 9), date(2026, 11, 20))  # ten school days over a weekend


def cme_pupil(changes: dict) -> list[Segment]:
    days = attending(date(2026, 11, 2), date(2026, 11, 20)) | {day: "O" for day in CME_RUN}
    days[date(2026, 11, 6)] = ("O", "I")  # partly authorised: breaks the run
    return [segment(URN_A, days | changes)]


def test_ten_consecutive_unauthorised_days_raise_the_alert():
    segments = cme_pupil({date(2026, 11, 12): ("G", "#")})  # the closed afternoon is not a possible session
    assert cme_days(segments, date(2026, 11, 20)) == CME_RUN
    m = pupil_measures(segments, date(2026, 11, 22), URN_A)  # Sunday: the run ends on the last school day
    assert m["consecutive_unauthorised_days"] == 10 and m["cme_alert"]


@pytest.mark.parametrize("change", [("O", "M"), ("/", "O"), "L"])
def test_a_day_not_wholly_unauthorised_breaks_the_run(change):
    segments = cme_pupil({date(2026, 11, 9): change})
    assert cme_days(segments, date(2026, 11, 20)) == CME_RUN[1:]
    m = pupil_measures(segments, date(2026, 11, 20), URN_A)
    assert m["consecutive_unauthorised_days"] == 9 and not m["cme_alert"]


def test_run_ends_with_the_last_school_day_on_or_before_as_of():
    assert cme_days(cme_pupil({}), date(2026, 11, 16)) == CME_RUN[:6]
    assert cme_days(cme_pupil({}), date(2026, 11, 6)) == []


# Threshold over an offence period.

PERIOD_SESSIONS = [  # 8 in the school weeks of 14 Sep to 16 Nov, 2 on Monday 23 Nov
    (date(2026, 9, 15), "AM", "O"), (date(2026, 9, 29), "PM", "O"), (date(2026, 10, 5), "AM", "G"),
    (date(2026, 10, 14), "AM", "O"), (date(2026, 10, 22), "PM", "U"), (date(2026, 11, 4), "AM", "O"),
    (date(2026, 11, 10), "AM", "O"), (date(2026, 11, 17), "PM", "O"),
    (date(2026, 11, 23), "AM", "O"), (date(2026, 11, 23), "PM", "O"),
]


def period_pupil() -> list[Segment]:
    return [segment(URN_A, with_absences(attending(date(2026, 9, 3), date(2026, 11, 27)), PERIOD_SESSIONS))]


def test_threshold_in_period_finds_the_best_ten_week_window():
    result = threshold_in_period(period_pupil(), date(2026, 9, 7), date(2026, 11, 23))
    assert result.met and result.unauthorised_sessions == 10
    assert (result.window_start, result.window_end) == (date(2026, 9, 14), date(2026, 11, 23))
    assert result.sessions == PERIOD_SESSIONS


def test_threshold_in_period_ignores_sessions_after_the_period():
    result = threshold_in_period(period_pupil(), date(2026, 9, 7), date(2026, 11, 22))
    assert not result.met and result.unauthorised_sessions == 8


def test_a_period_of_ten_school_weeks_is_one_window():
    segments = period_pupil()
    met = threshold_in_period(segments, date(2026, 9, 15), date(2026, 11, 23))
    assert met.met and (met.window_start, met.window_end) == (date(2026, 9, 15), date(2026, 11, 23))
    short = threshold_in_period(segments, date(2026, 9, 16), date(2026, 11, 23))
    assert not short.met and short.unauthorised_sessions == 9


def test_last_marked_day_and_school_days():
    segments = two_school_pupil()
    assert last_marked_day(segments) == date(2026, 10, 2)
    days = school_days(segments)
    assert days[0] == date(2026, 4, 13) and days[-1] == date(2026, 10, 2)
    assert date(2026, 5, 4) not in days and date(2026, 9, 3) in days
    assert last_marked_day([]) is None and school_days([]) == []


# The whole roll at once, from the database.


def add_school(session, urn: str) -> School:
    school = School(urn=urn, name=f"School {urn}", la_code="926", estab=urn[-4:], phase="primary")
    session.add(school)
    session.flush()
    return school


def add_pupil(session, upn: str, school: School | None, rows: list[tuple[School, int, str]]) -> Pupil:
    pupil = Pupil(upn=upn, school_id=school.id if school else None, surname="Tester", forename="Ava",
                  date_of_birth=date(2015, 5, 1))
    session.add(pupil)
    session.flush()
    session.add_all([RegisterYear(pupil_id=pupil.id, school_id=s.id, academic_year=year, start_date=year_start(year),
                                  marks=marks) for s, year, marks in rows])
    session.flush()
    return pupil


def without_ids(rows: list[dict]) -> list[dict]:
    """The rows as `triggers --json` prints them (without the internal pupil id)."""
    return [{k: v for k, v in r.items() if k != "pupil_id"} for r in rows]


def test_measures_for_all_from_the_database(session):
    a, b = add_school(session, URN_A), add_school(session, URN_B)
    two = two_school_pupil()
    add_pupil(session, "B926000000002", b, [(a, 2025, two[0].marks), (b, 2026, two[1].marks)])
    add_pupil(session, "A926000000001", a, [(a, 2025, sequential(20, 201)[0].marks)])
    add_pupil(session, "C926000000003", None, [(a, 2026, two[1].marks)])
    add_pupil(session, "D926000000004", a, [])
    rows = without_ids(measures_for_all(session, date(2026, 10, 2)))
    assert [r["upn"] for r in rows] == ["A926000000001", "B926000000002", "D926000000004"]
    first, second, empty = rows
    assert first["possible_sessions"] == 0 and first["absence_rate"] is None  # last year's marks only
    assert second == {"upn": "B926000000002", "school_urn": URN_B,
                      **pupil_measures(two, date(2026, 10, 2), URN_B)}
    assert second["pn_threshold"]["window_start"] == "2026-06-22" and second["pn_threshold"]["met"]
    assert empty["pn_threshold"] == {"met": False, "window_start": None, "window_end": None,
                                     "unauthorised_sessions": 0, "sessions": []}
    last_year = without_ids(measures_for_all(session, date(2026, 7, 31), URN_A))
    assert [r["upn"] for r in last_year] == ["A926000000001", "D926000000004"]
    assert last_year[0]["absence_rate"] == 10.0 and not last_year[0]["persistent_absence"]


UNAUTHORISED = ("G", "N", "O", "U")
AUTHORISED = ("C", "C1", "C2", "E", "I", "J1", "M", "R", "S", "T")
OTHER_PRESENT = ("L", "K", "V", "P", "W", "B")
NOT_POSSIBLE = ("D", "X", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "Z", "#")
RETIRED = ("H", "F", "J", "Y")


def random_marks(rng: random.Random, year: int, first: date, last: date, absence: float, unauthorised: float,
                 run: tuple[date, date] | None) -> str:
    """A random year of marks between `first` and `last`, with an optional run of whole-day O codes."""
    chars = []
    start = year_start(year)
    for d in range((year_start(year + 1) - start).days):
        day = start + timedelta(days=d)
        for session in range(2):
            if not first <= day <= last or (not is_term_day(day) and rng.random() > 0.02):
                code = codes.NO_MARK
            elif run and run[0] <= day <= run[1]:
                code = "O"
            elif rng.random() < 0.03:
                code = rng.choice(NOT_POSSIBLE + (RETIRED if day < codes.RETIRED_FROM else ()))
            elif rng.random() < absence:
                code = rng.choice(UNAUTHORISED if rng.random() < unauthorised else AUTHORISED)
            else:
                code = PRESENT[session] if rng.random() < 0.9 else rng.choice(OTHER_PRESENT)
            chars.append(codes.NO_MARK if code == codes.NO_MARK else codes.encode(code))
    return "".join(chars).rstrip(codes.NO_MARK)


def random_pupil_rows(rng: random.Random, schools: list[School]) -> list[tuple[School, int, str]]:
    """Rows of one pupil: some of the years 2023-2026, sometimes moving school or dual registered within a year."""
    years = sorted(rng.sample([2023, 2024, 2025, 2026], rng.randint(1, 4)))
    absence, unauthorised = rng.choice([0.03, 0.08, 0.2, 0.6]), rng.random()
    rows = []
    for year in years:
        first, last = year_start(year), year_start(year + 1) - timedelta(days=1)
        if year == years[0] and rng.random() < 0.5:
            first = first + timedelta(days=rng.randint(0, 330))
        run = None
        if rng.random() < 0.2:
            begin = first + timedelta(days=rng.randint(0, 300))
            run = (begin, begin + timedelta(days=rng.randint(10, 200)))
        school = rng.choice(schools)
        split = rng.random()
        if split < 0.15:
            moved = first + timedelta(days=rng.randint(20, 300))
            other = rng.choice([s for s in schools if s is not school])
            rows.append((school, year, random_marks(rng, year, first, moved - timedelta(days=1), absence,
                                                    unauthorised, run)))
            rows.append((other, year, random_marks(rng, year, moved, last, absence, unauthorised, run)))
        elif split < 0.25:
            other = rng.choice([s for s in schools if s is not school])
            rows.append((school, year, random_marks(rng, year, first, last, absence, unauthorised, run)))
            rows.append((other, year, random_marks(rng, year, first + timedelta(days=rng.randint(0, 200)), last,
                                                   absence, unauthorised, None)))
        else:
            rows.append((school, year, random_marks(rng, year, first, last, absence, unauthorised, run)))
    return rows


AS_OF_DATES = [date(2026, 10, 2), date(2026, 11, 23), date(2027, 3, 10), date(2026, 8, 15), date(2025, 9, 10),
               date(2026, 7, 31), date(2027, 7, 30), date(2024, 6, 5), date(2023, 12, 1)]


def test_measures_for_all_agrees_with_pupil_measures_on_random_pupils(session, monkeypatch):
    rng = random.Random(20260923)
    schools = [add_school(session, f"{110000 + i}") for i in range(6)]
    current = {}
    for n in range(200):
        rows = random_pupil_rows(rng, schools)
        roll = rng.choice([None, rng.choice(schools)] + [rows[-1][0]] * 8)
        pupil = add_pupil(session, f"R926{rng.randrange(10 ** 9):09d}", roll, rows)
        current[pupil.upn] = (pupil.id, roll.urn if roll else None)
    segments = measures.load_segments(session)
    full_history_reads = []
    read_full_history = measures._with_full_history
    monkeypatch.setattr(measures, "_with_full_history",
                        lambda conn, roll, windows, ids, as_of: full_history_reads.append(len(ids))
                        or read_full_history(conn, roll, windows, ids, as_of))
    checked = met = alerts = 0
    for as_of in AS_OF_DATES:
        rows = without_ids(measures_for_all(session, as_of))
        assert [r["upn"] for r in rows] == sorted(upn for upn, (_, urn) in current.items() if urn)
        for row in rows:
            pupil_id, urn = current[row["upn"]]
            expected = {"upn": row["upn"], "school_urn": urn, **pupil_measures(segments.get(pupil_id, []), as_of, urn)}
            assert row == expected, (row["upn"], as_of)
            checked += 1
            met += row["pn_threshold"]["met"]
            alerts += row["cme_alert"]
    assert checked > 1400 and met > 50 and alerts > 10
    assert sum(full_history_reads) > 0

    urn = schools[2].urn
    assert measures_for_all(session, AS_OF_DATES[0], urn) == [
        r for r in measures_for_all(session, AS_OF_DATES[0]) if r["school_urn"] == urn]


def test_measures_for_some_pupils_equal_those_for_the_whole_roll(session, monkeypatch):
    """The incremental recompute (a few pupils, or many via the filtered whole roll) matches the full run."""
    from casework.register import measures as m

    school = School(urn="139999", name="Subset School", la_code="926", estab="2999", phase="primary")
    session.add(school)
    session.flush()
    pupils = []
    for n in range(12):
        pupil = Pupil(upn=f"Z926299926{n:03d}", school_id=school.id, surname="S", forename="P",
                      date_of_birth=date(2016, 1, 1))
        session.add(pupil)
        session.flush()
        marks = "".join("O" if (i + n) % 7 == 0 else "/" for i in range(300))
        session.add(RegisterYear(pupil_id=pupil.id, school_id=school.id, academic_year=2026,
                                 start_date=date(2026, 8, 1), marks=marks))
        pupils.append(pupil)
    session.flush()
    full = {r["pupil_id"]: r for r in measures_for_all(session, date(2026, 10, 2), "139999")}
    chosen = [pupils[1].id, pupils[5].id, pupils[9].id]
    some = measures_for_all(session, date(2026, 10, 2), pupil_ids=chosen)
    assert [r["pupil_id"] for r in some] == sorted(chosen, key=lambda i: full[i]["upn"])
    assert all(r == full[r["pupil_id"]] for r in some)
    monkeypatch.setattr(m, "SUBSET_LIMIT", 2)
    assert measures_for_all(session, date(2026, 10, 2), "139999", pupil_ids=chosen) == some
