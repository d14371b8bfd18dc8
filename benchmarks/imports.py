"""Benchmark: imports at county scale: (a) a county day, (b) a school year of CTF, (c) the checks on arrival.

    python benchmarks/imports.py [--pupils 130000] [--schools 400] [--ctf-pupils 1500] [--seed 2025] [--runs 5]

(a) builds the synthetic county of benchmarks/register.py in a temporary SQLite database, cuts every register back to
the morning of a day in spring, then imports that day and the school days after it, one CSV of AM and PM marks for
every pupil per day, with `import_files` (each run a new day on top of the last; commit included).
(b) writes a CTF 25 (comma-separated marks, weekends and holidays as `#`, one or two contacts per pupil, siblings
sharing parents) for one secondary school's full year, and imports it into a fresh copy of a database that holds
only the school. (c) times the arrival checks after each day of (a) (the affected pupils' measures recomputed, new
alerts, snapshots), then after days on which one school alone posts, and re-runs the county measures of
benchmarks/register.py from the database. Prints figures only; nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select, text
from sqlmodel import Session

from casework.db import get_engine, upgrade
from casework.checks import after_import
from casework.imports import import_files
from casework.models import Pupil, School
from casework.register import codes
from casework.register.calendar import is_term_day
from casework.register.marks import session_index, year_start
from casework.register.measures import measures_for_all

sys.path.insert(0, str(Path(__file__).resolve().parent))
from register import YEAR, generate, upn  # noqa: E402  (the county generator of the register benchmark)

FIRST_DAY = date(2026, 3, 2)
CTF_TODAY = date(2026, 7, 31)
DAY_CODES = {"/": 0.93, "I": 0.03, "O": 0.02, "N": 0.01, "M": 0.01}
CTF_CODES = {"/": 0.895, "L": 0.02, "I": 0.03, "M": 0.01, "C1": 0.005, "J1": 0.005, "O": 0.02, "N": 0.005,
             "G": 0.005, "Y1": 0.005}


def school_days_from(first: date, n: int) -> list[date]:
    days, day = [], first
    while len(days) < n:
        if is_term_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def timed_runs(runs: list) -> list[float]:
    """Wall-clock time of each call."""
    times = []
    for run in runs:
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return times


def report(label: str, times: list[float]) -> None:
    print(f"{label}, {len(times)} runs: min {min(times):.2f} s, median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s")


def county_day(url: str, tmp: Path, args) -> None:
    """(a) One county day posted as one CSV import, on successive school days."""
    began = time.perf_counter()
    upgrade(url)
    generate(url, args.pupils, args.schools, args.seed)
    engine = get_engine(url)
    cut = session_index(year_start(YEAR), FIRST_DAY, "AM")
    with engine.begin() as conn:
        conn.execute(text("UPDATE register_year SET marks = substr(marks, 1, :cut)"), {"cut": cut})
        roll = conn.execute(select(Pupil.upn, School.urn).join(School, Pupil.school_id == School.id)).all()
    print(f"county of {len(roll)} pupils at {args.schools} schools generated in {time.perf_counter() - began:.1f} s; "
          f"registers cut back to {FIRST_DAY}")
    rng = np.random.default_rng(args.seed)
    days = school_days_from(FIRST_DAY, args.runs)
    paths = []
    for day in days:
        drawn = rng.choice(list(DAY_CODES), size=(len(roll), 2), p=list(DAY_CODES.values()))
        path = tmp / f"marks-{day}.csv"
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(("upn", "school_urn", "date", "session", "code"))
            for (pupil, urn), (am, pm) in zip(roll, drawn.tolist()):
                writer.writerow((pupil, urn, day.isoformat(), "AM", am))
                writer.writerow((pupil, urn, day.isoformat(), "PM", "\\" if pm == "/" else pm))
        paths.append((day, str(path)))

    checks: list[float] = []

    def import_day(day: date, path: str):
        def run():
            with Session(engine) as session:
                summary = import_files(session, [path], today=day)
                session.commit()
            assert summary.marks_added == 2 * len(roll), summary.lines()
            checks.append(arrival_checks(engine, summary, day))
        return run

    times = timed_runs([import_day(day, path) for day, path in paths])
    report(f"(a) one county day, {2 * len(roll):,} marks as one CSV",
           [total - check for total, check in zip(times, checks)])
    report(f"(c) arrival checks after each county day ({len(roll):,} affected pupils recomputed, alerts, "
           "snapshots; the first run also writes every snapshot)", checks)
    one_school_day(engine, roll, tmp, school_days_from(days[-1] + timedelta(days=1), args.runs), rng)
    with Session(engine) as session:
        report("(c) the county measures of issue 2 re-run from the database after those days",
               timed_runs([lambda: measures_for_all(session, days[-1])] * args.runs))


def arrival_checks(engine, summary, day: date) -> float:
    """Seconds for the after-import checks (incremental recompute of the affected pupils only), committed."""
    began = time.perf_counter()
    with Session(engine) as session:
        after_import(session, summary, day)
        session.commit()
    return time.perf_counter() - began


def one_school_day(engine, roll, tmp: Path, days: list[date], rng) -> None:
    """(c) One school posts its day: only its pupils are recomputed."""
    urn = max({u for _, u in roll}, key=lambda u: sum(1 for _, x in roll if x == u))
    pupils = [p for p, u in roll if u == urn]
    checks = []
    for day in days:
        path = tmp / f"school-{day}.csv"
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(("upn", "school_urn", "date", "session", "code"))
            for pupil, (am, pm) in zip(pupils, rng.choice(list(DAY_CODES), size=(len(pupils), 2),
                                                          p=list(DAY_CODES.values())).tolist()):
                writer.writerow((pupil, urn, day.isoformat(), "AM", am))
                writer.writerow((pupil, urn, day.isoformat(), "PM", "\\" if pm == "/" else pm))
        with Session(engine) as session:
            summary = import_files(session, [str(path)], today=day)
            session.commit()
        checks.append(arrival_checks(engine, summary, day))
    report(f"(c) arrival checks after one school's day ({len(pupils)} affected pupils of {len(roll):,})", checks)


def ctf_text(n_pupils: int, rng: np.random.Generator) -> str:
    """A CTF 25 of one secondary school's year: every calendar day from 1 Sep, `#` where there is no session."""
    start = date(YEAR, 9, 1)
    days = [start + timedelta(days=n) for n in range((CTF_TODAY - start).days + 1)]
    term = np.array([is_term_day(day) for day in days])
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<CTfile>\n<Header>\n<DocumentName>Common Transfer File</DocumentName>\n'
        "<CTFversion>25.0</CTFversion>\n<DateTime>2026-07-31T16:00:00</DateTime>\n"
        "<DocumentQualifier>partial</DocumentQualifier>\n<SupplierID>Benchmark</SupplierID>\n"
        f"<SourceSchool>\n<LEA>926</LEA>\n<Estab>4001</Estab>\n<SchoolName>County High</SchoolName>\n"
        f"<AcademicYear>{YEAR}</AcademicYear>\n</SourceSchool>\n<DestSchool>\n<LEA>926</LEA>\n<Estab>LLLL</Estab>\n"
        "</DestSchool>\n</Header>\n<CTFpupilData>\n"
    ]
    for n in range(n_pupils):
        family = n - n % 2 if n % 5 < 2 else n
        drawn = rng.choice(list(CTF_CODES), size=(len(days), 2), p=list(CTF_CODES.values())).tolist()
        tokens = []
        for in_term, (am, pm) in zip(term.tolist(), drawn):
            tokens += (am, "\\" if pm == "/" else pm) if in_term else ("#", "#")
        counted = {category: 0 for category in codes.Category}
        for token in tokens:
            counted[codes.category(token)] += 1
        possible = counted[codes.Category.PRESENT] + counted[codes.Category.AUTHORISED] + \
            counted[codes.Category.UNAUTHORISED]
        contacts = [("Alex", "PAM", "<AddressAsPupil>true</AddressAsPupil>")]
        if n % 3 == 0:
            contacts.append(("Sam", "PAF", "<BS7666Address><PAON>9</PAON><Street>Station Road</Street>"
                                           "<Town>Thetford</Town></BS7666Address><PostCode>IP24 9ZZ</PostCode>"))
        contact_xml = "".join(
            f"<Contact>\n<Order>{order}</Order>\n<Title>Mx</Title>\n<Surname>Family{family}</Surname>\n"
            f"<Forename>{forename}</Forename>\n<Relationship>{relationship}</Relationship>\n"
            f"<Responsibility>true</Responsibility>\n<Address>{address}</Address>\n"
            f"<Phones><Phone><TelephoneType>M</TelephoneType><PhoneNo>07700{family:06d}</PhoneNo></Phone></Phones>\n"
            f"<Email>family{family}@example.invalid</Email>\n</Contact>\n"
            for order, (forename, relationship, address) in enumerate(contacts, 1)
        )
        parts.append(
            f"<Pupil>\n<UPN>{upn(926, 4001, n)}</UPN>\n<Surname>Family{family}</Surname>\n<Forename>Pupil{n}</Forename>\n"
            f"<DOB>{date(2010 + n % 5, 1 + n % 12, 1 + n % 28)}</DOB>\n<Sex>{'FM'[n % 2]}</Sex>\n"
            f"<BasicDetails><NCyearActual>{7 + n % 5}</NCyearActual></BasicDetails>\n"
            f"<Address><BS7666Address><PAON>{family}</PAON><Street>High Street</Street><Town>Thetford</Town>"
            f"</BS7666Address><PostCode>IP24 {family % 10}AB</PostCode></Address>\n"
            f"<Contacts>\n{contact_xml}</Contacts>\n"
            f"<Attendance>\n<YearData>\n<Year>{YEAR}</Year>\n<LEA>926</LEA>\n<Estab>4001</Estab>\n"
            f"<SchoolName>County High</SchoolName>\n<SessionsPossible>{possible}</SessionsPossible>\n"
            f"<SessionsAuthorised>{counted[codes.Category.AUTHORISED]}</SessionsAuthorised>\n"
            f"<SessionsAttended>{counted[codes.Category.PRESENT]}</SessionsAttended>\n"
            f"<SessionsUnauthorised>{counted[codes.Category.UNAUTHORISED]}</SessionsUnauthorised>\n"
            f"<AttendSessions>\n<AttendanceStartDate>{start}</AttendanceStartDate>\n"
            f"<AttendanceMarks>{','.join(tokens)}</AttendanceMarks>\n</AttendSessions>\n</YearData>\n</Attendance>\n"
            "</Pupil>\n"
        )
    parts.append("</CTFpupilData>\n</CTfile>\n")
    return "".join(parts)


def school_year_ctf(tmp: Path, args) -> None:
    """(b) One secondary school's full-year CTF into a database holding only the school, fresh for each run."""
    template = tmp / "school.db"
    upgrade(f"sqlite:///{template}")
    template_engine = get_engine(f"sqlite:///{template}")
    with template_engine.begin() as conn:
        conn.execute(insert(School), [{"urn": "140001", "name": "County High", "la_code": "926", "estab": "4001",
                                       "phase": "secondary", "independent": False}])
    template_engine.dispose()  # closes the connections, so the write-ahead log is folded into the file to copy
    path = tmp / "926LLLL_CTF_9264001_001.xml"
    path.write_text(ctf_text(args.ctf_pupils, np.random.default_rng(args.seed)), encoding="utf-8")
    print(f"CTF of {args.ctf_pupils} pupils: {path.stat().st_size / 1e6:.1f} MB")

    def import_ctf(copy: Path):
        def run():
            shutil.copy(template, copy)
            engine = get_engine(f"sqlite:///{copy}")
            with Session(engine) as session:
                summary = import_files(session, [str(path)], today=CTF_TODAY)
                session.commit()
            assert summary.pupils_created == args.ctf_pupils, summary.lines()
        return run

    report(f"(b) one school's full-year CTF, {args.ctf_pupils} pupils (fresh database each run)",
           timed_runs([import_ctf(tmp / f"school-{n}.db") for n in range(args.runs)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=130_000)
    parser.add_argument("--schools", type=int, default=400)
    parser.add_argument("--ctf-pupils", type=int, default=1_500)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        county_day(f"sqlite:///{Path(tmp) / 'county.db'}", Path(tmp), args)
        school_year_ctf(Path(tmp), args)


if __name__ == "__main__":
    main()
