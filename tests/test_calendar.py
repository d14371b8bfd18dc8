"""Working days, school days and weeks, the term calendar and compulsory school age."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from casework.register import calendar
from casework.register.calendar import (BANK_HOLIDAYS, add_school_days, add_school_weeks, add_working_days, csa_end,
                                        csa_problem, csa_start, is_term_day)


def _easter(year: int) -> date:
    """Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _mondays(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    return [first + timedelta(days=d) for d in range(31)
            if (first + timedelta(days=d)).month == month and (first + timedelta(days=d)).weekday() == 0]


def _rule_holidays(year: int) -> set[date]:
    """England and Wales bank holidays by the standing rules, with weekend substitutes."""
    new_year = date(year, 1, 1)
    while new_year.weekday() >= 5:
        new_year += timedelta(days=1)
    christmas, boxing = date(year, 12, 25), date(year, 12, 26)
    if christmas.weekday() == 5:
        christmas, boxing = date(year, 12, 27), date(year, 12, 28)
    elif christmas.weekday() == 6:
        christmas = date(year, 12, 27)
    elif boxing.weekday() == 5:
        boxing = date(year, 12, 28)
    easter = _easter(year)
    return {new_year, easter - timedelta(days=2), easter + timedelta(days=1), _mondays(year, 5)[0],
            _mondays(year, 5)[-1], _mondays(year, 8)[-1], christmas, boxing}


def test_bank_holidays_follow_the_rules_with_the_2022_and_2023_exceptions():
    expected = set().union(*(_rule_holidays(y) for y in range(2022, 2031)))
    expected -= {date(2022, 5, 30)}  # spring bank holiday moved to 2 June for the Platinum Jubilee
    expected |= {date(2022, 6, 2), date(2022, 6, 3), date(2022, 9, 19), date(2023, 5, 8)}
    assert BANK_HOLIDAYS == expected


def test_bank_holidays_2026():
    assert sorted(d for d in BANK_HOLIDAYS if d.year == 2026) == [
        date(2026, 1, 1), date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 4), date(2026, 5, 25),
        date(2026, 8, 31), date(2026, 12, 25), date(2026, 12, 28)]


@pytest.mark.parametrize("posted, received", [
    (date(2026, 3, 11), date(2026, 3, 13)),   # Wednesday -> Friday
    (date(2026, 3, 13), date(2026, 3, 17)),   # Friday -> Tuesday
    (date(2026, 3, 14), date(2026, 3, 17)),   # Saturday -> Tuesday
    (date(2026, 4, 2), date(2026, 4, 8)),     # Thursday before Good Friday and Easter Monday
    (date(2026, 12, 24), date(2026, 12, 30)),  # Christmas Day and the Boxing Day substitute (28 Dec)
    (date(2026, 5, 22), date(2026, 5, 27)),   # over the spring bank holiday
])
def test_deemed_receipt_two_working_days_after_posting(posted, received):
    assert add_working_days(posted, 2) == received


def test_zero_working_days_is_the_same_day():
    assert add_working_days(date(2026, 4, 3), 0) == date(2026, 4, 3)


@pytest.mark.parametrize("day, expected", [
    (date(2026, 10, 23), True),    # last day before October half term
    (date(2026, 10, 26), False),   # half-term Monday
    (date(2026, 11, 2), True),     # back after half term
    (date(2026, 11, 7), False),    # Saturday in term
    (date(2026, 5, 4), False),     # early May bank holiday in term
    (date(2026, 5, 5), True),
    (date(2026, 8, 3), False),     # summer holiday
    (date(2023, 9, 4), True),      # first day of the calendar
    (date(2022, 9, 5), False),     # before the calendar
])
def test_is_term_day(day, expected):
    assert is_term_day(day) is expected


def test_terms_are_ordered_weekday_ranges_with_half_terms_between():
    ranges = calendar.term_ranges()
    assert len(ranges) == 6 * 6
    for first, last in ranges:
        assert first <= last and first.weekday() < 5 and last.weekday() < 5
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert (start - end).days >= 3


def test_add_school_days_skips_half_term_on_the_calendar():
    assert add_school_days(date(2026, 10, 22), 1) == date(2026, 10, 23)
    assert add_school_days(date(2026, 10, 22), 2) == date(2026, 11, 2)


def test_add_school_days_uses_the_register_up_to_its_last_day_then_the_calendar():
    known = [date(2026, 10, 19), date(2026, 10, 21)]  # the pupil's school was closed on 20 Oct
    assert add_school_days(date(2026, 10, 19), 1, known) == date(2026, 10, 21)
    assert add_school_days(date(2026, 10, 19), 2, known) == date(2026, 10, 22)  # calendar after 21 Oct
    assert add_school_days(date(2026, 10, 19), 10, known) == date(2026, 11, 10)


def test_add_school_days_beyond_the_calendar_is_an_error():
    with pytest.raises(ValueError, match="terms.yaml"):
        add_school_days(date(2029, 7, 10), 30)


def test_add_school_weeks_does_not_count_half_term():
    # week 0 is w/c 12 Oct; 19 Oct is 1, half term (26 Oct) does not count, 2 Nov is 2 ... 30 Nov is 6
    assert add_school_weeks(date(2026, 10, 14), 6) == date(2026, 12, 2)
    assert add_school_weeks(date(2026, 10, 14), 1) == date(2026, 10, 21)
    assert add_school_weeks(date(2026, 10, 14), 2) == date(2026, 11, 4)


def test_add_school_weeks_follows_the_pupils_register_where_known():
    known = [date(2026, 10, 12) + timedelta(days=d) for d in range(5)] + [date(2026, 11, 2)]
    # no school day in w/c 19 Oct on this pupil's register, so it does not count either
    assert add_school_weeks(date(2026, 10, 14), 1, known) == date(2026, 11, 4)


@pytest.mark.parametrize("dob, start", [
    (date(2019, 12, 31), date(2024, 12, 31)),  # fifth birthday on a prescribed day
    (date(2020, 1, 1), date(2025, 3, 31)),
    (date(2020, 3, 31), date(2025, 3, 31)),
    (date(2020, 4, 1), date(2025, 8, 31)),
    (date(2020, 8, 31), date(2025, 8, 31)),
    (date(2020, 9, 1), date(2025, 12, 31)),
    (date(2020, 2, 29), date(2025, 3, 31)),    # leap-day birthday: fifth birthday 1 Mar 2025
])
def test_csa_start(dob, start):
    assert csa_start(dob) == start


@pytest.mark.parametrize("dob, end", [
    (date(2010, 7, 15), date(2026, 6, 26)),   # turns 16 in July: the June before
    (date(2010, 8, 31), date(2026, 6, 26)),   # turns 16 on 31 Aug: same school year
    (date(2010, 9, 1), date(2027, 6, 25)),    # turns 16 on 1 Sep: next school year
    (date(2010, 6, 26), date(2026, 6, 26)),   # turns 16 on the leaving date itself
    (date(2010, 6, 27), date(2026, 6, 26)),   # turns 16 the day after it
    (date(2012, 1, 1), date(2028, 6, 30)),    # 30 June 2028 is itself a Friday
])
def test_csa_end(dob, end):
    assert csa_end(dob) == end
    assert csa_end(dob).weekday() == 4


def test_csa_problem_names_the_dates_when_the_period_leaves_compulsory_school_age():
    dob = date(2010, 7, 15)
    assert csa_problem(dob, date(2026, 5, 1), date(2026, 6, 26)) is None
    problem = csa_problem(dob, date(2026, 5, 1), date(2026, 6, 27))
    assert problem is not None and "26 June 2026" in problem and "27 June 2026" in problem


def test_csa_problem_before_compulsory_school_age():
    dob = date(2020, 9, 1)
    assert csa_problem(dob, date(2025, 12, 31), date(2026, 2, 1)) is None
    problem = csa_problem(dob, date(2025, 12, 30), date(2026, 2, 1))
    assert problem is not None and "31 December 2025" in problem
