"""Benchmark: the September peak of penalty notice requests in a large county, letters included.

    python benchmarks/requests.py [--requests 2000] [--schools 50] [--siblings 0.25] [--seed 2026]
                                  [--database URL] [--render-sample 48]

Seeds schools, families (two parents each; a quarter of requests for two siblings, so about 2.5 notices a request)
and an autumn term of marks with a week's holiday coded G, in a temporary SQLite database (or the empty database at
--database). Then, timed:

(a) every school uploads its requests as one CSV file (`csvfile.parse` + `submit.submit_many`: the code of conduct
    checked for every child, all or nothing per file), one commit per school;
(b) an AEO accepts every request that passes, in bulk (`decide.passing_refs` + `decide.accept_many`, one commit per
    chunk of `decide.BULK_CHUNK` requests): for each child the pathway opens a case (`raise_concern`; a case opened
    for a request writes no concern letter) and fires `issue_penalty_notice` (a notice and its letter per parent); each
    chunk's letters are rendered together over every core, preflighted and stored before it commits, exactly as in
    production.

Letter rendering inside (b) is timed separately (the time spent in `casework.letters.render.render_jobs`), and (c)
renders a sample of the same penalty notice letters again as one batch through `render_jobs` (spread over every core)
to show what batching would give. Prints figures only; nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from casework import clock  # noqa: E402
from casework.db import get_engine, upgrade  # noqa: E402
from casework.models import (Contact, Letter, PenaltyNotice, PnRequest, Pupil, PupilContact, RegisterYear,  # noqa: E402
                             School)
from casework.pn_requests import conduct as conduct_mod  # noqa: E402
from casework.pn_requests import csvfile, decide, submit  # noqa: E402
from casework.register.calendar import is_term_day  # noqa: E402
from casework.register.marks import session_index, year_start  # noqa: E402
from casework.services.users import add_user, get_user  # noqa: E402

TODAY = date(2026, 11, 23)
YEAR = 2026
FIRST_DAY, LAST_DAY = date(2026, 9, 3), date(2026, 11, 20)
HOLIDAY_WEEKS = (date(2026, 11, 2), date(2026, 11, 9))  # back on the 9th or the 16th: both within 10 school days
PASSWORD = "benchmark password 2026"
UPN_CHECK = "ABCDEFGHJKLMNPQRTUVWXYZ"
STATEMENTS = {"leave_request": "Asked for leave by email", "leave_refusal": "Refused in writing",
              "warning": "Warned in the refusal letter", "registration_certificate": "Signed register extract"}


def upn(la: int, estab: int, serial: int) -> str:
    """A UPN with a valid check letter (DfE algorithm)."""
    body = f"{la:03d}{estab:04d}{10 + serial // 1000:02d}{serial % 1000:03d}"
    return UPN_CHECK[sum(int(c) * w for c, w in zip(body, range(2, 14))) % 23] + body


def base_marks() -> list[str]:
    """An autumn term present every school day (from 1 August, one character per session)."""
    start = year_start(YEAR)
    marks = ["-"] * session_index(start, LAST_DAY, "PM")
    marks.append("-")
    day = FIRST_DAY
    while day <= LAST_DAY:
        if is_term_day(day):
            marks[session_index(start, day, "AM")], marks[session_index(start, day, "PM")] = "/", "\\"
        day += timedelta(days=1)
    return marks


def with_holiday(marks: list[str], monday: date) -> str:
    out = list(marks)
    for offset in range(5):
        for session in ("AM", "PM"):
            out[session_index(year_start(YEAR), monday + timedelta(days=offset), session)] = "G"
    return "".join(out)


# ---------------------------------------------------------------- seeding

def seed(session: Session, requests: int, schools: int, siblings: float, rng: np.random.Generator):
    """Schools, families, registers and users; returns {school urn: [(family label, [UPNs], holiday week)]}."""
    session.execute(insert(School), [
        {"urn": f"{300000 + i}", "name": f"School {i:03d}", "la_code": "926", "estab": f"{2000 + i:04d}",
         "phase": "primary", "independent": False} for i in range(schools)])
    school_ids = dict(session.execute(select(School.urn, School.id)).all())
    urns = sorted(school_ids)
    marks = base_marks()
    plan: dict[str, list] = defaultdict(list)
    pupils, contacts, families = [], [], []
    serial = 0
    for n in range(requests):
        urn = urns[n % schools]
        children = 2 if rng.random() < siblings else 1
        week = HOLIDAY_WEEKS[int(rng.integers(len(HOLIDAY_WEEKS)))]
        upns = []
        for c in range(children):
            serial += 1
            code = upn(926, 2000 + urns.index(urn), serial)
            upns.append(code)
            pupils.append({"upn": code, "school_id": school_ids[urn], "surname": f"Family{n}", "forename": f"Child{c}",
                           "date_of_birth": date(2016, 1 + c, 1), "year_group": "5", "sen": "none", "fsm": False,
                           "eal": False, "social_worker": False, "looked_after": False, "young_carer": False,
                           "health_flag": False, "address_line1": f"{n} Mill Road", "address_line2": "",
                           "town": "Thetford", "postcode": "IP24 1AA"})
        for who, title in (("M", "Ms"), ("F", "Mr")):
            contacts.append({"contact_ref": f"{who}{n}", "title": title, "forename": who, "surname": f"Family{n}",
                             "address_line1": f"{n} Mill Road", "address_line2": "", "town": "Thetford",
                             "postcode": "IP24 1AA", "email": "", "phone": "", "address_confidential": False})
        families.append((n, upns, week))
        plan[urn].append((f"Family{n}", upns, week))
    session.execute(insert(Pupil), pupils)
    session.execute(insert(Contact), contacts)
    pupil_ids = dict(session.execute(select(Pupil.upn, Pupil.id)).all())
    contact_ids = dict(session.execute(select(Contact.contact_ref, Contact.id)).all())
    links, registers = [], []
    for n, upns, week in families:
        for code in upns:
            for who, lives in (("M", True), ("F", False)):
                links.append({"pupil_id": pupil_ids[code], "contact_id": contact_ids[f"{who}{n}"],
                              "relationship": "mother" if who == "M" else "father", "parental_responsibility": True,
                              "lives_with_pupil": lives, "s576_basis": "parental responsibility"})
            registers.append({"pupil_id": pupil_ids[code], "school_id": school_ids[urns[n % schools]],
                              "academic_year": YEAR, "start_date": year_start(YEAR), "marks": with_holiday(marks, week)})
    session.execute(insert(PupilContact), links)
    session.execute(insert(RegisterYear), registers)
    users = {urn: add_user(session, f"attendance@{urn}.example.org", "school", PASSWORD, [urn]).email for urn in urns}
    aeo = add_user(session, "aeo@example.org", "aeo", PASSWORD).email
    session.commit()
    return plan, users, aeo


# ---------------------------------------------------------------- the timed steps

def school_csv(conduct, families) -> str:
    columns = csvfile.columns(conduct)
    lines = [",".join(columns)]
    for label, upns, week in families:
        for i, code in enumerate(upns):
            first = i == 0
            row = {"request": label, "upn": code, "reason": "holiday" if first else "",
                   "first_day": week.isoformat() if first else "",
                   "last_day": (week + timedelta(days=4)).isoformat() if first else "",
                   **{kind: STATEMENTS.get(kind, "") if first else "" for kind in conduct.evidence}, "details": ""}
            lines.append(",".join(row[c] for c in columns))
    return "\n".join(lines) + "\n"


def submit_all(engine, plan, users) -> tuple[float, int]:
    conduct = conduct_mod.code_of_conduct()
    made = 0
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        schools = {s.urn: s for s in session.exec(select(School)).all()}
        for urn, families in plan.items():
            drafts = csvfile.parse(school_csv(conduct, families), conduct, "Head Teacher", True)
            made += len(submit.submit_many(session, get_user(session, users[urn]), schools[urn], drafts,
                                           f"benchmark-{urn}"))
            session.commit()
    return time.perf_counter() - started, made


class RenderClock:
    """Time spent inside render.render_jobs (letters rendered and preflighted), counted while installed."""

    def __init__(self):
        from casework.letters import render

        self.render, self.original, self.seconds, self.letters, self.calls = render, render.render_jobs, 0.0, 0, 0

    def __enter__(self):
        def timed(items, *args, **kwargs):
            started = time.perf_counter()
            try:
                return self.original(items, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.letters += len(items)
                self.calls += 1
        self.render.render_jobs = timed
        return self

    def __exit__(self, *exc):
        self.render.render_jobs = self.original


def accept_all(engine, aeo) -> tuple[float, float, decide.BulkResult, RenderClock]:
    with Session(engine, expire_on_commit=False) as session:
        started = time.perf_counter()
        refs = decide.passing_refs(session)
        checked = time.perf_counter() - started
        with RenderClock() as rendering:
            result = decide.accept_many(session, refs, aeo, after_each=session.commit)
        return checked, time.perf_counter() - started, result, rendering


def batch_render(engine, sample: int) -> tuple[int, float]:
    """Render `sample` stored penalty notice letters again from their snapshots, as one batch over every core (the
    workers started beforehand)."""
    from casework.letters import render, snapshot

    with Session(engine) as session:
        letters = session.exec(select(Letter).where(Letter.kind == "penalty_notice").limit(sample)).all()
        jobs = []
        for letter in letters:
            kind, _, context = snapshot.loads(letter.snapshot)
            jobs.append(render.job(kind, context))
    if not jobs:
        return 0, 0.0
    render.render_jobs(jobs[:render.POOL_FROM], max_pages=3)  # start the worker processes: not timed
    started = time.perf_counter()
    render.render_jobs(jobs, max_pages=3)
    return len(jobs), time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--siblings", type=float, default=0.25, help="share of requests for two siblings")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database", help="an empty database URL (default: a temporary SQLite file)")
    parser.add_argument("--render-sample", type=int, default=48)
    args = parser.parse_args(argv)

    folder = tempfile.mkdtemp(prefix="casework-requests-")
    os.environ["CASEWORK_STORAGE"] = str(Path(folder) / "files")
    url = args.database or f"sqlite:///{folder}/requests.db"
    clock.freeze(TODAY)
    upgrade(url)
    engine = get_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        started = time.perf_counter()
        plan, users, aeo = seed(session, args.requests, args.schools, args.siblings, np.random.default_rng(args.seed))
        print(f"seeded {args.requests} families at {args.schools} schools in {time.perf_counter() - started:.1f} s "
              f"({engine.dialect.name}, {os.cpu_count()} cores)")

    submitted, made = submit_all(engine, plan, users)
    print(f"(a) CSV submission: {made} requests from {len(plan)} files in {submitted:.1f} s "
          f"({1000 * submitted / max(made, 1):.1f} ms a request)")

    checked, seconds, result, rendering = accept_all(engine, aeo)
    with Session(engine) as session:
        notices = session.exec(select(func.count()).select_from(PenaltyNotice)).one()
        letters = dict(session.exec(select(Letter.kind, func.count()).group_by(Letter.kind)).all())
        waiting = session.exec(select(func.count()).select_from(PnRequest).where(PnRequest.status == "submitted")).one()
    print(f"(b) bulk accept: {len(result.accepted)} requests accepted, {len(result.skipped)} skipped, {waiting} left "
          f"waiting; {notices} penalty notices; letters {letters}")
    print(f"    total {seconds:.1f} s (re-checking the queue {checked:.1f} s), "
          f"{1000 * seconds / max(len(result.accepted), 1):.0f} ms a request")
    print(f"    of which rendering letters: {rendering.seconds:.1f} s for {rendering.letters} letters in "
          f"{rendering.calls} calls ({1000 * rendering.seconds / max(rendering.letters, 1):.0f} ms a letter, "
          f"{100 * rendering.seconds / max(seconds, 1e-9):.0f} % of the total)")
    if result.skipped:
        print(f"    first skipped: {result.skipped[0]}")
    sample, batch_seconds = batch_render(engine, args.render_sample)
    if sample:
        per_letter = batch_seconds / sample
        print(f"(c) the same letters rendered as one batch over every core: {sample} in {batch_seconds:.1f} s "
              f"({1000 * per_letter:.0f} ms a letter); {sum(letters.values())} letters at that rate: "
              f"{per_letter * sum(letters.values()):.0f} s")
    total = submitted + seconds
    scale = 2000 / max(made, 1)
    print(f"(a) + (b): {total:.0f} s for {made} requests; the 2,000-request target is 300 s "
          f"({'measured' if made >= 2000 else f'scaled linearly: about {total * scale:.0f} s'})")


if __name__ == "__main__":
    main()
