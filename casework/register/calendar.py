"""Date arithmetic: working days, school days and weeks, the default term calendar and compulsory school age."""
from __future__ import annotations

from bisect import bisect_right
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import yaml

TERMS_FILE = Path(__file__).resolve().parent.parent / "data" / "terms.yaml"

# England and Wales (gov.uk/bank-holidays), with the substitute days and the one-off holidays of 2022 and 2023.
BANK_HOLIDAYS: frozenset[date] = frozenset(date(*ymd) for ymd in (
    (2022, 1, 3), (2022, 4, 15), (2022, 4, 18), (2022, 5, 2), (2022, 6, 2), (2022, 6, 3), (2022, 8, 29),
    (2022, 9, 19), (2022, 12, 26), (2022, 12, 27),
    (2023, 1, 2), (2023, 4, 7), (2023, 4, 10), (2023, 5, 1), (2023, 5, 8), (2023, 5, 29), (2023, 8, 28),
    (2023, 12, 25), (2023, 12, 26),
    (2024, 1, 1), (2024, 3, 29), (2024, 4, 1), (2024, 5, 6), (2024, 5, 27), (2024, 8, 26), (2024, 12, 25),
    (2024, 12, 26),
    (2025, 1, 1), (2025, 4, 18), (2025, 4, 21), (2025, 5, 5), (2025, 5, 26), (2025, 8, 25), (2025, 12, 25),
    (2025, 12, 26),
    (2026, 1, 1), (2026, 4, 3), (2026, 4, 6), (2026, 5, 4), (2026, 5, 25), (2026, 8, 31), (2026, 12, 25),
    (2026, 12, 28),
    (2027, 1, 1), (2027, 3, 26), (2027, 3, 29), (2027, 5, 3), (2027, 5, 31), (2027, 8, 30), (2027, 12, 27),
    (2027, 12, 28),
    (2028, 1, 3), (2028, 4, 14), (2028, 4, 17), (2028, 5, 1), (2028, 5, 29), (2028, 8, 28), (2028, 12, 25),
    (2028, 12, 26),
    (2029, 1, 1), (2029, 3, 30), (2029, 4, 2), (2029, 5, 7), (2029, 5, 28), (2029, 8, 27), (2029, 12, 25),
    (2029, 12, 26),
    (2030, 1, 1), (2030, 4, 19), (2030, 4, 22), (2030, 5, 6), (2030, 5, 27), (2030, 8, 26), (2030, 12, 25),
    (2030, 12, 26),
))

CSA_PRESCRIBED_DAYS = ((3, 31), (8, 31), (12, 31))
ONE_DAY = timedelta(days=1)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a bank holiday."""
    return day.weekday() < 5 and day not in BANK_HOLIDAYS


def add_working_days(day: date, n: int) -> date:
    """The n-th working day after `day` (deemed receipt of a posted letter is 2 working days after posting)."""
    for _ in range(n):
        day += ONE_DAY
        while not is_working_day(day):
            day += ONE_DAY
    return day


@lru_cache(maxsize=1)
def term_ranges() -> tuple[tuple[date, date], ...]:
    """Every half term of the default calendar as (first day, last day), in date order."""
    years = yaml.safe_load(TERMS_FILE.read_text(encoding="utf-8"))
    return tuple(sorted((first, last) for halves in years.values() for first, last in halves))


def is_term_day(day: date) -> bool:
    """A weekday inside a half term of the default calendar that is not a bank holiday."""
    ranges = term_ranges()
    i = bisect_right(ranges, (day, date.max)) - 1
    return i >= 0 and ranges[i][0] <= day <= ranges[i][1] and is_working_day(day)


def _school_day_test(known_school_days: Iterable[date] | None) -> tuple[Callable[[date], bool], date]:
    """A test for school days (the register up to its last day, the calendar after) and the last day it can answer."""
    known = set(known_school_days or ())
    last_known = max(known, default=date.min)
    last_answerable = max(last_known, term_ranges()[-1][1])

    def is_school_day(day: date) -> bool:
        return day in known if day <= last_known else is_term_day(day)

    return is_school_day, last_answerable


def _beyond(day: date, last_answerable: date) -> ValueError:
    return ValueError(f"no school days are known after {last_answerable.isoformat()} (needed beyond "
                      f"{day.isoformat()}): extend the term calendar in {TERMS_FILE.name}")


def add_school_days(day: date, n: int, known_school_days: list[date] | None = None) -> date:
    """The n-th school day after `day`: the pupil's register days up to its last one, then the term calendar."""
    is_school_day, last_answerable = _school_day_test(known_school_days)
    for _ in range(n):
        day += ONE_DAY
        while not is_school_day(day):
            if day > last_answerable:
                raise _beyond(day, last_answerable)
            day += ONE_DAY
    return day


def add_school_weeks(day: date, n: int, known_school_days: list[date] | None = None) -> date:
    """The same weekday n school weeks later; a Monday-to-Sunday week without a school day does not count."""
    is_school_day, last_answerable = _school_day_test(known_school_days)
    monday = day - timedelta(days=day.weekday())
    for _ in range(n):
        monday += timedelta(days=7)
        while not any(is_school_day(monday + timedelta(days=i)) for i in range(7)):
            if monday > last_answerable:
                raise _beyond(monday, last_answerable)
            monday += timedelta(days=7)
    return monday + timedelta(days=day.weekday())


def _birthday(dob: date, age: int) -> date:
    """The day a person born on `dob` attains `age` (a 29 February birthday falls on 1 March in other years)."""
    try:
        return dob.replace(year=dob.year + age)
    except ValueError:
        return date(dob.year + age, 3, 1)


def csa_start(dob: date) -> date:
    """The first prescribed day (31 Mar, 31 Aug, 31 Dec) on or after the fifth birthday."""
    fifth = _birthday(dob, 5)
    return min(date(year, month, d) for year in (fifth.year, fifth.year + 1) for month, d in CSA_PRESCRIBED_DAYS
               if date(year, month, d) >= fifth)


def csa_end(dob: date) -> date:
    """The last Friday in June of the school year (1 Sep to 31 Aug) in which the child turns 16."""
    sixteenth = _birthday(dob, 16)
    year = sixteenth.year + 1 if sixteenth.month >= 9 else sixteenth.year
    last_of_june = date(year, 6, 30)
    return last_of_june - timedelta(days=(last_of_june.weekday() - 4) % 7)


def _long(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def csa_problem(dob: date, start: date, end: date) -> str | None:
    """Why some day of [start, end] is outside compulsory school age, or None when every day is inside it."""
    first, last = csa_start(dob), csa_end(dob)
    if first <= start and end <= last:
        return None
    return (f"the pupil is of compulsory school age only from {_long(first)} to {_long(last)}, "
            f"and the period {_long(start)} to {_long(end)} falls partly or wholly outside it")
