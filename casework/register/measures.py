"""Attendance measures, the penalty-notice threshold and the children-missing-education alert.

Registers of every school a pupil attended are merged session by session into one key per session (see `_merge_keys`);
a school day is a day, and a school week a Monday-to-Sunday week, with at least one possible session in that merged
register. `measures_for_all` computes the same results as the per-pupil functions for a whole roll at once, with
(pupils x sessions) NumPy arrays.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache

import numpy as np
from sqlalchemy import bindparam, select

from ..models import Pupil, RegisterYear, School
from ..perf import collector_paused
from . import codes
from .marks import SESSIONS, academic_year, year_start

THRESHOLD_WEEKS = 10
THRESHOLD_SESSIONS = 10
CME_DAYS = 10
GRID_WEEKS = 20  # weeks read for every pupil; the few whose window or run reaches further back are read in full
ID_CHUNK = 2000
COUNT_BLOCK = 4096  # rows counted at a time, so the temporaries stay in cache
MERGE_ORDER = (codes.Category.UNAUTHORISED, codes.Category.AUTHORISED, codes.Category.PRESENT)


def _merge_keys() -> tuple[np.ndarray, np.ndarray, int, int]:
    """Stored character -> merge key, key -> code, and the last unauthorised and last authorised keys."""
    key_of = np.zeros(256, np.uint8)
    code_of = [""]
    last = []
    for category in MERGE_ORDER:
        for char in sorted(codes.stored_chars(category), key=lambda c: (c == "N", c)):
            code_of.append(codes.decode(char))
            key_of[ord(char)] = len(code_of) - 1
        last.append(len(code_of) - 1)
    return key_of, np.array(code_of, dtype=object), last[0], last[1]


# Merge rule (per session, across schools): the highest key wins; present > authorised > N > G, O, U > not possible.
KEY_OF, CODE_OF_KEY, LAST_UNAUTHORISED, LAST_AUTHORISED = _merge_keys()


def _count_bits() -> bytes:
    """Stored character -> one bit for its category (present 1, authorised 2, unauthorised 4), for popcounts."""
    table = bytearray(256)
    for bit, category in enumerate((codes.Category.PRESENT, codes.Category.AUTHORISED, codes.Category.UNAUTHORISED)):
        for char in codes.stored_chars(category):
            table[ord(char)] = 1 << bit
    return bytes(table)


COUNT_BITS = _count_bits()


@dataclass(frozen=True)
class Segment:
    """One register_year row: a pupil's marks at one school for one academic year."""

    school_urn: str
    start_date: date
    marks: str


@dataclass(frozen=True)
class ThresholdResult:
    """A threshold window: whether it is met, its dates, and the unauthorised sessions in it (date order)."""

    met: bool
    window_start: date | None
    window_end: date | None
    unauthorised_sessions: int
    sessions: list[tuple[date, str, str]]

    def as_json(self) -> dict:
        """The `pn_threshold` object of `casework triggers --json`."""
        return {
            "met": self.met,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "unauthorised_sessions": self.unauthorised_sessions,
            "sessions": [(day.isoformat(), session, code) for day, session, code in self.sessions],
        }


NO_WINDOW = ThresholdResult(False, None, None, 0, [])


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _unauthorised(keys: np.ndarray) -> np.ndarray:
    """Mask of unauthorised sessions (keys 1..LAST_UNAUTHORISED; 0 wraps round to 255)."""
    return keys - np.uint8(1) < LAST_UNAUTHORISED


def _year_length(year: int) -> int:
    """Sessions in an academic year."""
    return (year_start(year + 1) - year_start(year)).days * 2


# One pupil: a timeline of merged keys in whole weeks.


@dataclass(frozen=True)
class _Timeline:
    """Merged keys of one pupil, session by session, from the Monday `start`."""

    start: date
    keys: np.ndarray

    def weeks(self) -> tuple[np.ndarray, np.ndarray]:
        """Per week: whether it is a school week, and its unauthorised sessions."""
        by_week = self.keys.reshape(-1, 14)
        return by_week.max(axis=1) > 0, np.count_nonzero(_unauthorised(by_week), axis=1)

    def sessions(self, mask: np.ndarray) -> list[tuple[date, str, str]]:
        return [(self.start + timedelta(days=int(i) // 2), SESSIONS[i % 2], CODE_OF_KEY[self.keys[i]])
                for i in np.flatnonzero(mask)]

    def window(self, weeks: np.ndarray, unauthorised: np.ndarray, first: date = date.min,
               last: date = date.max) -> ThresholdResult:
        """The threshold result over the given school weeks, its dates clipped to [first, last]."""
        if len(weeks) == 0:
            return NO_WINDOW
        lo, hi = int(weeks[0]) * 14, (int(weeks[-1]) + 1) * 14
        in_window = np.zeros(len(self.keys), bool)
        in_window[lo:hi] = True
        count = int(unauthorised[weeks].sum())
        return ThresholdResult(
            met=count >= THRESHOLD_SESSIONS,
            window_start=max(first, self.start + timedelta(days=lo // 2)),
            window_end=min(last, self.start + timedelta(days=hi // 2 - 1)),
            unauthorised_sessions=count,
            sessions=self.sessions(in_window & _unauthorised(self.keys)),
        )


def _timeline(segments: list[Segment], first: date, last: date) -> _Timeline:
    """The merged register in the whole weeks around [first, last]; sessions outside [first, last] are blank."""
    start = _monday(first)
    keys = np.zeros(((_monday(last) - start).days + 7) * 2, np.uint8)
    keep_from, keep_to = (first - start).days * 2, (last - start).days * 2 + 2
    for segment in segments:
        offset = (segment.start_date - start).days * 2
        year_end = offset + _year_length(academic_year(segment.start_date))
        lo, hi = max(keep_from, offset), min(keep_to, year_end, offset + len(segment.marks))
        if lo < hi:
            marks = np.frombuffer(segment.marks[lo - offset:hi - offset].encode("latin-1"), np.uint8)
            np.maximum(keys[lo:hi], KEY_OF[marks], out=keys[lo:hi])
    return _Timeline(start, keys)


def _history(segments: list[Segment], as_of: date) -> _Timeline | None:
    first = min((s.start_date for s in segments), default=None)
    return None if first is None or first > as_of else _timeline(segments, first, as_of)


def threshold_at(segments: list[Segment], as_of: date) -> ThresholdResult:
    """The national threshold over the 10 school weeks ending with the week containing `as_of`."""
    history = _history(segments, as_of)
    if history is None:
        return NO_WINDOW
    school, unauthorised = history.weeks()
    return history.window(np.flatnonzero(school)[-THRESHOLD_WEEKS:], unauthorised)


def threshold_in_period(segments: list[Segment], start: date, end: date) -> ThresholdResult:
    """The best window of 10 consecutive school weeks inside [start, end] (the whole period when it has fewer)."""
    if start > end:
        return NO_WINDOW
    timeline = _timeline(segments, start, end)
    school, unauthorised = timeline.weeks()
    weeks = np.flatnonzero(school)
    if len(weeks) > THRESHOLD_WEEKS:
        totals = np.convolve(unauthorised[weeks], np.ones(THRESHOLD_WEEKS, int), mode="valid")
        best = int(np.argmax(totals))
        weeks = weeks[best:best + THRESHOLD_WEEKS]
    return timeline.window(weeks, unauthorised, start, end)


def unauthorised_sessions(segments: list[Segment], start: date, end: date) -> list[tuple[date, str, str]]:
    """Every unauthorised session in [start, end] of the merged register, in date order."""
    if start > end:
        return []
    timeline = _timeline(segments, start, end)
    return timeline.sessions(_unauthorised(timeline.keys))


def n_code_sessions(segments: list[Segment], start: date, end: date) -> list[tuple[date, str]]:
    """Sessions in [start, end] whose merged mark is still N (reason not yet provided)."""
    return [(day, session) for day, session, code in unauthorised_sessions(segments, start, end) if code == "N"]


def school_days(segments: list[Segment]) -> list[date]:
    """Every day with at least one possible session in the merged register, in order."""
    last = last_marked_day(segments)
    if last is None:
        return []
    timeline = _timeline(segments, min(s.start_date for s in segments), last)
    days = np.flatnonzero(timeline.keys.reshape(-1, 2).max(axis=1))
    return [timeline.start + timedelta(days=int(i)) for i in days]


def last_marked_day(segments: list[Segment]) -> date | None:
    """The last day on which any school recorded a mark (of any kind)."""
    ends = [s.start_date + timedelta(days=(len(s.marks.rstrip(codes.NO_MARK)) - 1) // 2)
            for s in segments if s.marks.strip(codes.NO_MARK)]
    return max(ends, default=None)


def cme_days(segments: list[Segment], as_of: date) -> list[date]:
    """The run of school days, up to the last one on or before `as_of`, with every possible session unauthorised."""
    history = _history(segments, as_of)
    if history is None:
        return []
    day_keys = history.keys.reshape(-1, 2).max(axis=1)
    school = np.flatnonzero(day_keys)
    broken = school[day_keys[school] > LAST_UNAUTHORISED]
    run = school[school > broken[-1]] if len(broken) else school
    return [history.start + timedelta(days=int(i)) for i in run]


def _rate(absent: int, possible: int) -> float | None:
    """The absence rate in percent, one decimal, rounded half up (exact integer arithmetic)."""
    return (2000 * absent + possible) // (2 * possible) / 10 if possible else None


def pupil_measures(segments: list[Segment], as_of: date, current_school_urn: str) -> dict:
    """The `casework triggers --json` object of one pupil, without `upn` and `school_urn`."""
    year = academic_year(as_of)
    current = [s for s in segments if s.school_urn == current_school_urn and academic_year(s.start_date) == year]
    keys = _timeline(current, year_start(year), as_of).keys
    unauthorised = int(np.count_nonzero(_unauthorised(keys)))
    authorised = int(np.count_nonzero((keys > LAST_UNAUTHORISED) & (keys <= LAST_AUTHORISED)))
    present = int(np.count_nonzero(keys > LAST_AUTHORISED))
    possible = present + authorised + unauthorised
    absent = authorised + unauthorised
    run = len(cme_days(segments, as_of))
    return {
        "possible_sessions": possible,
        "present_sessions": present,
        "authorised_absence": authorised,
        "unauthorised_absence": unauthorised,
        "absence_rate": _rate(absent, possible),
        "persistent_absence": possible > 0 and 10 * absent >= possible,
        "severe_absence": possible > 0 and 2 * absent >= possible,
        "pn_threshold": threshold_at(segments, as_of).as_json(),
        "consecutive_unauthorised_days": run,
        "cme_alert": run >= CME_DAYS,
    }


def _chunks(ids: list[int]):
    for i in range(0, len(ids), ID_CHUNK):
        yield ids[i:i + ID_CHUNK]


@cache
def _segments_query(every_pupil: bool):
    """Built once (a case page reads one pupil's register; building the select would cost more than reading it)."""
    stmt = (select(RegisterYear.pupil_id, School.urn, RegisterYear.start_date, RegisterYear.marks)
            .join(School, School.id == RegisterYear.school_id)
            .order_by(RegisterYear.pupil_id, RegisterYear.start_date, School.urn))
    return stmt if every_pupil else stmt.where(RegisterYear.pupil_id.in_(bindparam("ids", expanding=True)))


def load_segments(session, pupil_ids: list[int] | None = None) -> dict[int, list[Segment]]:
    """Every register_year row of the given pupils (all pupils when None), by pupil, in date then URN order."""
    conn = session.connection()
    if pupil_ids is None:
        rows = conn.execute(_segments_query(True)).all()
    else:
        rows = [row for chunk in _chunks(sorted(set(pupil_ids)))
                for row in conn.execute(_segments_query(False), {"ids": chunk}).all()]
    segments: dict[int, list[Segment]] = {}
    for pupil_id, urn, start_date, marks in rows:
        segments.setdefault(pupil_id, []).append(Segment(urn, start_date, marks))
    return segments


# A whole roll: rows are register_year rows, grids are (pupils, sessions) arrays of merge keys.


@dataclass
class _Rows:
    """register_year rows; `pupil` indexes the roll."""

    pupil: np.ndarray
    school: np.ndarray
    year: np.ndarray
    marks: list[str]

    def take(self, index: np.ndarray) -> _Rows:
        return _Rows(self.pupil[index], self.school[index], self.year[index], [self.marks[i] for i in index.tolist()])

    @staticmethod
    def join(parts: list[_Rows]) -> _Rows:
        arrays = (np.concatenate([getattr(p, name) for p in parts]) for name in ("pupil", "school", "year"))
        return _Rows(*arrays, [m for p in parts for m in p.marks])


@dataclass
class _Roll:
    """Pupils on roll in UPN order, with the id of each pupil's current school."""

    ids: np.ndarray
    upns: list[str]
    urns: list[str]
    school: np.ndarray

    def read(self, conn, stmt) -> _Rows:
        """The rows `stmt` selects (pupil id, school id, academic year, marks) of pupils on this roll."""
        result = conn.execute(stmt).all()
        if not result:
            return _Rows(*(np.zeros(0, np.int64) for _ in range(3)), [])
        pupil_ids, school_ids, years, marks = zip(*result)
        pupil_ids = np.array(pupil_ids, np.int64)
        by_id = np.argsort(self.ids)
        found = np.searchsorted(self.ids, pupil_ids, sorter=by_id).clip(0, len(self.ids) - 1)
        keep = np.flatnonzero(self.ids[by_id[found]] == pupil_ids)
        rows = _Rows(by_id[found], np.array(school_ids, np.int64), np.array(years, np.int64), list(marks))
        return rows if len(keep) == len(marks) else rows.take(keep)


def _chars(texts: list[str], width: int) -> np.ndarray:
    return np.frombuffer(_joined(texts), np.uint8).reshape(len(texts), width)


def _joined(texts: list[str]) -> bytes:
    return "".join(texts).encode("latin-1")


def _first_per_pupil(rows: _Rows, index: np.ndarray, n_pupils: int) -> tuple[np.ndarray, np.ndarray]:
    """Of rows `index`: per pupil the first row (-1 when none), and the rows left over."""
    index = index[np.argsort(rows.pupil[index], kind="stable")]
    first = np.r_[True, rows.pupil[index[1:]] != rows.pupil[index[:-1]]] if len(index) else np.zeros(0, bool)
    per_pupil = np.full(n_pupils, -1, np.int64)
    per_pupil[rows.pupil[index[first]]] = index[first]
    return per_pupil, index[~first]


@dataclass(frozen=True)
class _Block:
    """Grid columns [lo, hi) filled from one academic year's rows: marks[a:b], then blanks."""

    lo: int
    hi: int
    a: int
    b: int

    @staticmethod
    def of(year: int, grid_start: date, length: int, keep: int) -> _Block:
        start = (year_start(year) - grid_start).days * 2
        lo, hi = max(0, start), min(length, start + _year_length(year))
        return _Block(lo, hi, lo - start, max(lo - start, min(hi, keep) - start))

    def chars(self, marks: list[str], index: list[int]) -> np.ndarray:
        """(len(index), hi - lo) stored characters of the rows `index` (-1: a blank row)."""
        width, a, b = self.hi - self.lo, self.a, self.b
        blank = codes.NO_MARK * width
        return _chars([blank if i < 0 else marks[i][a:b].ljust(width, codes.NO_MARK) for i in index], width)


def _key_grid(rows: _Rows, n_pupils: int, grid_start: date, as_of: date,
              ready: tuple[int, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(n_pupils, whole weeks from `grid_start` to `as_of`) merged keys; sessions after `as_of` are blank.

    `ready` = (year, chars, rest): that year's stored characters already laid out per pupil from session 0, and
    the rows of that year not in them.
    """
    length = ((_monday(as_of) - grid_start).days + 7) * 2
    keep = (as_of - grid_start).days * 2 + 2
    blocks = []
    for year in range(academic_year(grid_start), academic_year(grid_start + timedelta(days=length // 2 - 1)) + 1):
        block = _Block.of(year, grid_start, length, keep)
        if ready is not None and ready[0] == year:
            _, chars, rest = ready
            keys = KEY_OF[chars[:, block.a:block.a + block.hi - block.lo]]
        else:
            per_pupil, rest = _first_per_pupil(rows, np.flatnonzero(rows.year == year), n_pupils)
            keys = KEY_OF[block.chars(rows.marks, per_pupil.tolist())]
        while len(rest):  # pupils with more than one row this year: merge one row per pupil at a time
            per_pupil, rest = _first_per_pupil(rows, rest, n_pupils)
            these = per_pupil[per_pupil >= 0]
            pupils = rows.pupil[these]
            keys[pupils] = np.maximum(keys[pupils], KEY_OF[block.chars(rows.marks, these.tolist())])
        blocks.append(keys)
    return blocks[0] if len(blocks) == 1 else np.hstack(blocks)


@lru_cache(maxsize=8)
def _session_table(grid_start: date, length: int) -> np.ndarray:
    """The (date, session, code) tuple of every unauthorised key at every grid column, by column * keys + key - 1.
    The same for every request of a week (only read: indexed to pick out a pupil's sessions), so made once."""
    table = np.empty(length * LAST_UNAUTHORISED, dtype=object)
    table[:] = [((grid_start + timedelta(days=column // 2)).isoformat(), SESSIONS[column % 2], CODE_OF_KEY[key])
                for column in range(length) for key in range(1, LAST_UNAUTHORISED + 1)]
    table.flags.writeable = False
    return table


@dataclass
class _Windows:
    """Per pupil: the `pn_threshold` object, the CME run, and whether history before the grid could change them."""

    thresholds: list[dict]
    cme_runs: list[int]
    resolved: np.ndarray


def _windows(keys: np.ndarray, grid_start: date) -> _Windows:
    """Threshold windows (last 10 school weeks) and CME runs (to the last school day) from a key grid."""
    n_pupils, length = keys.shape
    weeks = length // 14
    days = np.maximum(keys[:, 0::2], keys[:, 1::2])
    unauthorised_mask = _unauthorised(keys)
    unauthorised_days = unauthorised_mask[:, 0::2].view(np.uint8) + unauthorised_mask[:, 1::2].view(np.uint8)
    school_week = np.zeros((n_pupils, weeks), bool)
    unauthorised_week = np.zeros((n_pupils, weeks), np.int32)
    for weekday in range(7):
        school_week |= days[:, weekday::7] > 0
        unauthorised_week += unauthorised_days[:, weekday::7]
    from_end = np.cumsum(school_week[:, ::-1], axis=1, dtype=np.int32)[:, ::-1]
    in_window = school_week & (from_end <= THRESHOLD_WEEKS)
    school_weeks = from_end[:, 0]
    has_window = school_weeks > 0
    first_week = np.where(has_window, np.argmax(in_window, axis=1), weeks)
    last_week = np.where(has_window, weeks - 1 - np.argmax(school_week[:, ::-1], axis=1), weeks)
    unauthorised = np.where(in_window, unauthorised_week, 0).sum(axis=1)

    broken = days > LAST_UNAUTHORISED
    has_broken = broken.any(axis=1)
    last_broken = np.where(has_broken, days.shape[1] - 1 - np.argmax(broken[:, ::-1], axis=1), -1)
    after_broken = np.arange(days.shape[1]) > last_broken[:, None]
    cme_runs = np.count_nonzero((days > 0) & after_broken, axis=1)

    found = np.flatnonzero(unauthorised_mask)
    pupil, column = np.divmod(found, length)
    inside = (column >= first_week[pupil] * 14) & (column < (last_week[pupil] + 1) * 14)
    pupil, column = pupil[inside], column[inside]
    triples = _session_table(grid_start, length)[column * LAST_UNAUTHORISED + keys[pupil, column] - 1].tolist()
    bounds = np.searchsorted(pupil, np.arange(n_pupils + 1)).tolist()
    mondays = [(grid_start + timedelta(weeks=w)).isoformat() for w in range(weeks)] + [None]
    sundays = [(grid_start + timedelta(weeks=w, days=6)).isoformat() for w in range(weeks)] + [None]
    thresholds = [
        {"met": count >= THRESHOLD_SESSIONS, "window_start": mondays[first], "window_end": sundays[last],
         "unauthorised_sessions": count, "sessions": triples[a:b]}
        for count, first, last, a, b in zip(unauthorised.tolist(), first_week.tolist(), last_week.tolist(),
                                            bounds[:-1], bounds[1:])
    ]
    return _Windows(thresholds, cme_runs.tolist(), (school_weeks >= THRESHOLD_WEEKS) & has_broken)


def _rows_stmt(*conditions):
    return select(RegisterYear.pupil_id, RegisterYear.school_id, RegisterYear.academic_year,
                  RegisterYear.marks).where(*conditions)


def _reaching_back(conn, roll: _Roll, windows: _Windows, rows: _Rows, grid_start: date) -> list[int]:
    """Ids of pupils whose window or run may reach back before the grid and who have marks before it."""
    unresolved = ~windows.resolved
    grid_year = academic_year(grid_start)
    earlier = np.zeros(len(roll.ids), bool)
    if grid_start > year_start(grid_year):
        earlier[rows.pupil[rows.year == grid_year]] = True
    older = select(RegisterYear.pupil_id).where(RegisterYear.academic_year < grid_year).distinct()
    if np.count_nonzero(unresolved) <= ID_CHUNK:
        older = older.where(RegisterYear.pupil_id.in_(roll.ids[unresolved].tolist()))
    earlier |= np.isin(roll.ids, conn.execute(older).scalars().all())
    return roll.ids[unresolved & earlier].tolist()


def _with_full_history(conn, roll: _Roll, windows: _Windows, pupil_ids: list[int], as_of: date) -> None:
    """Recompute the windows and runs of the given pupils from every row they have."""
    parts = [roll.read(conn, _rows_stmt(RegisterYear.pupil_id.in_(chunk),
                                        RegisterYear.academic_year <= academic_year(as_of)))
             for chunk in _chunks(pupil_ids)]
    if not parts:
        return
    rows = _Rows.join(parts)
    first_year = np.full(len(roll.ids), np.iinfo(np.int64).max)
    np.minimum.at(first_year, rows.pupil, rows.year)
    for year in np.unique(first_year[rows.pupil]).tolist():
        group = np.flatnonzero(first_year == year)
        local = rows.take(np.flatnonzero(np.isin(rows.pupil, group)))
        local.pupil = np.searchsorted(group, local.pupil)
        grid_start = _monday(year_start(year))
        found = _windows(_key_grid(local, len(group), grid_start, as_of), grid_start)
        for i, pupil in enumerate(group.tolist()):
            windows.thresholds[pupil] = found.thresholds[i]
            windows.cme_runs[pupil] = found.cme_runs[i]


def _load_roll(conn, school_urn: str | None, pupil_ids: list[int] | None = None) -> tuple[_Roll, object]:
    """The roll (at one school, or of some pupils, when given), and a statement selecting its pupil ids."""
    stmt = select(Pupil.id, Pupil.upn, Pupil.school_id, School.urn).join(School, School.id == Pupil.school_id)
    if school_urn is not None:
        stmt = stmt.where(School.urn == school_urn)
    if pupil_ids is not None:
        stmt = stmt.where(Pupil.id.in_(pupil_ids))
    pupils = conn.execute(stmt).all()
    ids, upns, schools, urns = zip(*pupils) if pupils else ((), (), (), ())
    order = np.argsort(np.array(upns, dtype=str), kind="stable").tolist()
    roll = _Roll(np.array(ids, np.int64)[order], [upns[i] for i in order], [urns[i] for i in order],
                 np.array(schools, np.int64)[order])
    return roll, stmt.with_only_columns(Pupil.id)


def _counts(text: bytes, rows: int) -> np.ndarray:
    """(rows, 3) present, authorised and unauthorised sessions per row of stored characters (width a multiple of 8)."""
    words = np.frombuffer(text.translate(COUNT_BITS), np.uint64).reshape(rows, -1)
    counts = np.empty((rows, 3), np.int64)
    for lo in range(0, rows, COUNT_BLOCK):
        block = words[lo:lo + COUNT_BLOCK]
        for column, bit in enumerate((1, 2, 4)):
            counts[lo:lo + len(block), column] = np.bitwise_count(block & np.uint64(bit * 0x0101010101010101)).sum(1)
    return counts


SUBSET_LIMIT = 5000  # above this many pupils, computing the whole roll and filtering is faster than an IN list


def measures_for_all(session, as_of: date, school_urn: str | None = None,
                     pupil_ids: Collection[int] | None = None) -> list[dict]:
    """`casework triggers --json` for every pupil on roll (at one school, or of these pupils, when given), by UPN.

    Each result also carries `pupil_id`."""
    with collector_paused():
        if pupil_ids is not None and len(pupil_ids) > SUBSET_LIMIT:
            wanted = set(pupil_ids)
            return [r for r in _measures_for_all(session.connection(), as_of, school_urn) if r["pupil_id"] in wanted]
        return _measures_for_all(session.connection(), as_of, school_urn,
                                 None if pupil_ids is None else sorted(pupil_ids))


def _this_year(roll: _Roll, rows: _Rows, as_of: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This year's stored characters per pupil (current school's row first), the other rows, and the counts.

    Characters run from 1 Aug to the end of the week of `as_of`, blank after `as_of`; counts are (pupils, 3) present,
    authorised and unauthorised sessions at the current school only.
    """
    year = academic_year(as_of)
    to_date = (as_of - year_start(year)).days * 2 + 2
    week_end = (_monday(as_of) + timedelta(days=7) - year_start(year)).days * 2
    width = -(-min(_year_length(year), week_end) // 8) * 8
    at_current = rows.school == roll.school[rows.pupil]
    per_pupil, rest = _first_per_pupil(rows, np.r_[np.flatnonzero(at_current), np.flatnonzero(~at_current)],
                                       len(roll.ids))
    blank = codes.NO_MARK * width
    text = _joined([blank if i < 0 else rows.marks[i][:to_date].ljust(width, codes.NO_MARK)
                    for i in per_pupil.tolist()])
    counts = _counts(text, len(roll.ids))
    counts[~np.r_[at_current, False][per_pupil]] = 0
    return np.frombuffer(text, np.uint8).reshape(len(roll.ids), width), rest, counts


def _measures_for_all(conn, as_of: date, school_urn: str | None, pupil_ids: list[int] | None = None) -> list[dict]:
    roll, roll_ids = _load_roll(conn, school_urn, pupil_ids)
    if not roll.upns:
        return []
    on_roll = [] if school_urn is None and pupil_ids is None else [RegisterYear.pupil_id.in_(roll_ids)]
    year = academic_year(as_of)
    rows = roll.read(conn, _rows_stmt(RegisterYear.academic_year == year, *on_roll))
    chars, rest, counts = _this_year(roll, rows, as_of)
    grid_start = _monday(as_of) - timedelta(weeks=GRID_WEEKS - 1)
    if grid_start < year_start(year):
        rows = _Rows.join([rows, roll.read(conn, _rows_stmt(RegisterYear.academic_year == year - 1,
                                                             *on_roll))])
    windows = _windows(_key_grid(rows, len(roll.ids), grid_start, as_of, ready=(year, chars, rest)), grid_start)
    if not windows.resolved.all():
        _with_full_history(conn, roll, windows, _reaching_back(conn, roll, windows, rows, grid_start), as_of)

    present, authorised, unauthorised = counts.T
    possible = counts.sum(axis=1)
    absent = authorised + unauthorised
    tenths = (2000 * absent + possible) // np.maximum(2 * possible, 1)
    return [
        {"pupil_id": pupil_id, "upn": upn, "school_urn": urn, "possible_sessions": n, "present_sessions": p, "authorised_absence": a,
         "unauthorised_absence": u, "absence_rate": t / 10 if n else None, "persistent_absence": pa,
         "severe_absence": sa, "pn_threshold": threshold, "consecutive_unauthorised_days": run,
         "cme_alert": run >= CME_DAYS}
        for pupil_id, upn, urn, n, p, a, u, t, pa, sa, threshold, run in zip(
            roll.ids.tolist(), roll.upns, roll.urns, possible.tolist(), present.tolist(), authorised.tolist(), unauthorised.tolist(),
            tenths.tolist(), ((possible > 0) & (10 * absent >= possible)).tolist(),
            ((possible > 0) & (2 * absent >= possible)).tolist(), windows.thresholds, windows.cme_runs)
    ]
