"""Benchmark: attendance measures for a whole county, NumPy over stored register strings vs DuckDB over sessions.

    python benchmarks/register.py [--pupils 130000] [--schools 400] [--db URL] [--seed 2025] [--runs 5]
                                  [--as-of 2026-07-21]

Generates a reproducible synthetic county (one academic year of marks), stores it through the project's own tables
(after `casework.db.upgrade`), times `measures_for_all` from the database (read + compute), then loads the same
possible sessions one row each into DuckDB and times a window query for the same 10-school-week threshold.
Prints figures only; nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
from sqlalchemy import func, insert, select
from sqlmodel import Session

from casework.db import get_engine, upgrade
from casework.models import Pupil, RegisterYear, School
from casework.register import codes
from casework.register.calendar import is_term_day
from casework.register.marks import year_start
from casework.register.measures import measures_for_all

YEAR = 2025
CHUNK = 10_000
UPN_CHECK = "ABCDEFGHJKLMNPQRTUVWXYZ"
UNAUTHORISED_MIX = {"O": 0.45, "N": 0.15, "G": 0.20, "U": 0.20}
AUTHORISED_MIX = {"I": 0.80, "M": 0.12, "C": 0.08}
PHASES = ("primary",) * 8 + ("secondary", "secondary", "special", "alternative_provision")
WINDOW_QUERY = """
WITH weeks AS (
    SELECT pupil, date_trunc('week', day) AS week,
           count(*) FILTER (WHERE code IN ('G', 'N', 'O', 'U')) AS unauthorised
    FROM sessions WHERE day <= $as_of GROUP BY pupil, week),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY pupil ORDER BY week DESC) AS n FROM weeks)
SELECT pupil, min(week)::DATE AS window_start, sum(unauthorised) AS unauthorised
FROM ranked WHERE n <= 10 GROUP BY pupil
"""


def upn(la: int, estab: int, serial: int) -> str:
    """A UPN with a valid check letter (DfE algorithm); serials past 999 move on the year of allocation."""
    body = f"{la:03d}{estab:04d}{10 + serial // 1000:02d}{serial % 1000:03d}"
    return UPN_CHECK[sum(int(c) * w for c, w in zip(body, range(2, 14))) % 23] + body


def choose(rng: np.random.Generator, mix: dict[str, float], size) -> np.ndarray:
    """Stored characters drawn from a code mix."""
    chars = np.array([ord(codes.encode(code)) for code in mix], np.uint8)
    return chars[rng.choice(len(mix), size=size, p=list(mix.values()))]


def year_of_marks(rng: np.random.Generator, n: int, term_columns: np.ndarray, length: int) -> np.ndarray:
    """(n, length) stored characters: most pupils ~95 % attendance, a persistent tail, ~2 % severe, a few missing."""
    group = rng.choice(3, size=n, p=[0.84, 0.14, 0.02])
    rate = np.select([group == 0, group == 1], [rng.beta(2.0, 45.0, n), rng.uniform(0.10, 0.45, n)],
                     rng.uniform(0.5, 0.95, n))
    unauthorised_share = np.where(group == 0, rng.beta(2, 4, n), rng.beta(4, 2, n))
    days = len(term_columns)
    absent_day = rng.random((n, days), np.float32) < rate[:, None]
    one_session_only = rng.random((n, days), np.float32) < 0.15
    which = rng.random((n, days), np.float32) < 0.5
    absent = np.empty((n, days, 2), bool)
    absent[:, :, 0] = absent_day & ~(one_session_only & which)
    absent[:, :, 1] = absent_day & ~(one_session_only & ~which)
    unauthorised = rng.random((n, days, 2), np.float32) < unauthorised_share[:, None, None]
    present = np.empty((n, days, 2), np.uint8)
    present[:, :, 0], present[:, :, 1] = ord("/"), ord("\\")
    late = rng.random((n, days, 2), np.float32) < 0.03
    present[late] = ord("L")
    session_chars = np.where(absent, np.where(unauthorised, choose(rng, UNAUTHORISED_MIX, (n, days, 2)),
                                              choose(rng, AUTHORISED_MIX, (n, days, 2))), present)
    missing = np.flatnonzero(rng.random(n) < 0.002)
    for pupil in missing.tolist():
        session_chars[pupil, days - rng.integers(10, 40):] = ord("O")
    marks = np.full((n, length), ord(codes.NO_MARK), np.uint8)
    marks[:, 2 * term_columns] = session_chars[:, :, 0]
    marks[:, 2 * term_columns + 1] = session_chars[:, :, 1]
    return marks


def generate(url: str, n_pupils: int, n_schools: int, seed: int) -> list[tuple[np.ndarray, list[str], np.ndarray]]:
    """Store the county; returns (pupil ids, UPNs, marks merged over schools) per chunk, for the DuckDB table."""
    rng = np.random.default_rng(seed)
    start = year_start(YEAR)
    term_days = [start + timedelta(days=d) for d in range(365) if is_term_day(start + timedelta(days=d))]
    term_columns = np.array([(d - start).days for d in term_days])
    length = 2 * int(term_columns[-1]) + 2
    engine = get_engine(url)
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(Pupil)).scalar():
            raise SystemExit("the database already holds pupils: give an empty one")
        conn.execute(insert(School), [
            {"urn": f"{100000 + i}", "name": f"School {i}", "la_code": "926", "estab": f"{2000 + i:04d}",
             "phase": PHASES[i % len(PHASES)], "independent": False} for i in range(n_schools)])
        school_ids = np.array(conn.execute(select(School.id).order_by(School.urn)).scalars().all())
    school_of = rng.integers(0, n_schools, n_pupils)
    movers = rng.random(n_pupils) < 0.015
    new_school = (school_of + rng.integers(1, n_schools, n_pupils)) % n_schools
    move_column = 2 * term_columns[rng.integers(20, len(term_columns) - 20, n_pupils)]
    current = np.where(movers, new_school, school_of)
    by_school = np.argsort(current, kind="stable")
    serial = np.empty(n_pupils, np.int64)
    serial[by_school] = np.arange(n_pupils) - np.searchsorted(current[by_school], current[by_school])
    merged = []
    for lo in range(0, n_pupils, CHUNK):
        hi = min(lo + CHUNK, n_pupils)
        marks = year_of_marks(rng, hi - lo, term_columns, length)
        upns = [upn(926, 2000 + int(current[p]), int(serial[p])) for p in range(lo, hi)]
        with engine.begin() as conn:
            ids = np.array(conn.execute(insert(Pupil).returning(Pupil.id, sort_by_parameter_order=True), [
                {"upn": upns[i], "school_id": int(school_ids[current[lo + i]]),
                 "surname": f"Pupil{lo + i}", "forename": "Test",
                 "date_of_birth": date(2010 + (lo + i) % 12, 1 + (lo + i) % 12, 1 + (lo + i) % 28),
                 "year_group": str(1 + (lo + i) % 11)} for i in range(hi - lo)]).scalars().all())
            rows = []
            text = marks.tobytes().decode("latin-1")
            for i in range(hi - lo):
                row = text[i * length:(i + 1) * length]
                pupil = lo + i
                if movers[pupil]:
                    cut = int(move_column[pupil])
                    rows.append((ids[i], school_of[pupil], row[:cut]))
                    rows.append((ids[i], new_school[pupil], codes.NO_MARK * cut + row[cut:]))
                else:
                    rows.append((ids[i], school_of[pupil], row))
            conn.execute(insert(RegisterYear), [
                {"pupil_id": int(p), "school_id": int(school_ids[s]), "academic_year": YEAR, "start_date": start,
                 "marks": m} for p, s, m in rows])
        merged.append((ids, upns, marks))
    return merged


def duckdb_sessions(merged: list[tuple[np.ndarray, list[str], np.ndarray]]) -> duckdb.DuckDBPyConnection:
    """A DuckDB table with one row per possible session: pupil, day, session, code."""
    pupils, days, sessions, chars = [], [], [], []
    possible = np.zeros(256, bool)
    for category in (codes.Category.PRESENT, codes.Category.AUTHORISED, codes.Category.UNAUTHORISED):
        possible[[ord(c) for c in codes.stored_chars(category)]] = True
    for ids, _, marks in merged:
        row, column = np.nonzero(possible[marks])
        pupils.append(ids[row].astype(np.int32))
        days.append((column // 2).astype(np.int32))
        sessions.append((column % 2).astype(np.uint8))
        chars.append(marks[row, column])
    arrays = {"pupil": np.concatenate(pupils), "day": np.concatenate(days), "session": np.concatenate(sessions),
              "code": np.concatenate(chars)}
    con = duckdb.connect()
    con.register("arrays", arrays)
    con.execute(f"CREATE TABLE sessions AS SELECT pupil, DATE '{year_start(YEAR).isoformat()}' + day AS day, "
                "CASE session WHEN 0 THEN 'AM' ELSE 'PM' END AS session, chr(code) AS code FROM arrays")
    con.unregister("arrays")
    return con


def timed(fn, runs: int) -> tuple[list[float], object]:
    """Wall-clock times of `runs` calls, and the last result (the previous one is freed before the clock starts)."""
    times, result = [], None
    for _ in range(runs):
        result = None
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=130_000)
    parser.add_argument("--schools", type=int, default=400)
    parser.add_argument("--db", help="SQLAlchemy URL of an empty database (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 7, 21))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'county.db'}"
        upgrade(url)
        began = time.perf_counter()
        merged = generate(url, args.pupils, args.schools, args.seed)
        print(f"generated and stored {args.pupils} pupils at {args.schools} schools "
              f"in {time.perf_counter() - began:.1f} s ({url.split(':')[0]}); as of {args.as_of}; "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        engine = get_engine(url)

        def numpy_run():
            with Session(engine) as session:
                return measures_for_all(session, args.as_of)

        numpy_times, rows = timed(numpy_run, args.runs)
        with_rate = [r for r in rows if r["absence_rate"] is not None]
        share = {flag: 100 * sum(r[flag] for r in rows) / len(rows)
                 for flag in ("persistent_absence", "severe_absence")}
        print(f"pupils: {len(rows)}; persistent absence {share['persistent_absence']:.1f} %, "
              f"severe {share['severe_absence']:.1f} %, "
              f"mean absence {statistics.mean(r['absence_rate'] for r in with_rate):.1f} %, "
              f"CME alerts {sum(r['cme_alert'] for r in rows)}")
        print(f"measures_for_all (read + compute), {args.runs} runs: min {min(numpy_times):.3f} s, "
              f"median {statistics.median(numpy_times):.3f} s, max {max(numpy_times):.3f} s")

        began = time.perf_counter()
        con = duckdb_sessions(merged)
        n_sessions = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
        print(f"DuckDB: {n_sessions:,} session rows loaded in {time.perf_counter() - began:.1f} s")
        duck_times, duck_rows = timed(lambda: con.execute(WINDOW_QUERY, {"as_of": args.as_of}).fetchall(), args.runs)
        print(f"DuckDB window query, {args.runs} runs: min {min(duck_times):.3f} s, "
              f"median {statistics.median(duck_times):.3f} s, max {max(duck_times):.3f} s")
        print(f"ratio DuckDB / NumPy (medians): {statistics.median(duck_times) / statistics.median(numpy_times):.1f}")

        numpy_met = sum(r["pn_threshold"]["met"] for r in rows)
        duck_met = sum(unauthorised >= 10 for _, _, unauthorised in duck_rows)
        print(f"pupils meeting the PN threshold: NumPy {numpy_met}, DuckDB {duck_met} "
              f"({'agree' if numpy_met == duck_met else 'DISAGREE'})")
        upn_of = {int(i): u for ids, upns, _ in merged for i, u in zip(ids, upns)}
        duck_windows = {upn_of[pupil]: (start.isoformat(), int(n)) for pupil, start, n in duck_rows}
        differ = sum(duck_windows.get(r["upn"], (None, 0)) != (r["pn_threshold"]["window_start"],
                                                                r["pn_threshold"]["unauthorised_sessions"])
                     for r in rows)
        print(f"pupils whose window start or count differ between the two: {differ}")


if __name__ == "__main__":
    main()
