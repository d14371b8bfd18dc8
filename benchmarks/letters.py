"""Benchmark: penalty-notice letters from stored cases to stored PDFs, the product's way and the naive way.

    python benchmarks/letters.py [--letters 500] [--runs 3] [--naive-runs 1] [--seed 2026]

Builds, in a temporary SQLite database and file store, `--letters` cases at the penalty-notice stage: one pupil each
(a term of marks with 16 unauthorised sessions), one parent each at a postcode of their own, one penalty notice each.
Each run then issues every notice's letter from the database:

  product  `casework.letters.issue`: the context of each letter built from the stored case (`build_context`), then
           `store_letters`: every letter rendered (large batches spread over every core, one font configuration
           per worker), laid out and preflighted (page limit, printable area, envelope window), written as a
           tagged PDF/UA-1 file, stored content-addressed with its snapshot, and recorded as a Letter row.
  naive    the same contexts, then one `weasyprint.HTML(...).write_pdf(pdf_variant="pdf/ua-1")` per letter in this
           process (a new font configuration each time, no preflight), each PDF stored.

Both include building the contexts from the database and storing the PDFs; each run starts from a fresh file store
and rolls its Letter rows back. Prints medians (letters per second) and the ratio; nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session, select  # noqa: E402

from casework import clock  # noqa: E402
from casework.db import get_engine, upgrade  # noqa: E402
from casework.letters import issue, render, storage  # noqa: E402
from casework.models import (  # noqa: E402
    Case, Contact, PenaltyNotice, Pupil, PupilContact, RegisterYear, School, User)
from casework.register.calendar import add_working_days, is_term_day  # noqa: E402
from casework.register.codes import NO_MARK  # noqa: E402
from casework.register.marks import year_start  # noqa: E402
from casework.services.facts import load_context  # noqa: E402

ISSUED_ON = date(2026, 12, 14)
TERM_START, TERM_END = date(2026, 9, 2), date(2026, 12, 11)
OFFENCE_START = date(2026, 10, 5)
STREETS = ("Mill Road", "Church Lane", "Station Road", "The Green", "Willow Close", "Park Avenue", "Victoria Street")
TOWNS = (("Thetford", "IP24"), ("Norwich", "NR3"), ("King's Lynn", "PE30"), ("Dereham", "NR19"), ("Diss", "IP22"))
INWARD = "ABDEFGHJLNPQRSTUWXYZ"


def _marks(rng: random.Random) -> str:
    """A term of marks from 1 Aug: present, with 8 days (16 sessions) unauthorised inside the offence period."""
    days = [TERM_START + timedelta(days=i) for i in range((TERM_END - TERM_START).days + 1)]
    school_days = [d for d in days if is_term_day(d)]
    absent = set(rng.sample([d for d in school_days if d >= OFFENCE_START], 8))
    out, day = [], year_start(2026)
    while day <= TERM_END:
        out.append(("OO" if day in absent else "/\\") if day in set(school_days) else NO_MARK * 2)
        day += timedelta(days=1)
    return "".join(out)


def generate(url: str, letters: int, seed: int) -> None:
    """`letters` cases at the penalty-notice stage, each with one notice to one parent."""
    rng = random.Random(seed)
    receipt = add_working_days(ISSUED_ON, 2)
    with Session(get_engine(url)) as session:
        session.add(User(email="officer@example.org", name="Daniel Okafor", role="aeo"))
        school = School(urn="143210", name="Riverside Academy", la_code="926", estab="4001", phase="secondary")
        session.add(school)
        session.flush()
        officer = session.exec(select(User)).one()
        for n in range(letters):
            town, district = rng.choice(TOWNS)
            address = dict(address_line1=f"{rng.randint(1, 150)} {rng.choice(STREETS)}", town=town,
                           postcode=f"{district} {rng.randint(1, 9)}{rng.choice(INWARD)}{rng.choice(INWARD)}")
            pupil = Pupil(upn=f"X926400{n:06d}", school_id=school.id,
                          surname=f"Tester{n}", forename="Amelia", date_of_birth=date(2014, 3, 14), year_group="7",
                          **address)
            parent = Contact(contact_ref=f"P{n}", title="Ms", forename="Sarah", surname=f"Tester{n}", **address)
            session.add_all([pupil, parent])
            session.flush()
            session.add(PupilContact(pupil_id=pupil.id, contact_id=parent.id, relationship="mother",
                                     parental_responsibility=True, lives_with_pupil=True,
                                     s576_basis="Has parental responsibility"))
            session.add(RegisterYear(pupil_id=pupil.id, school_id=school.id, academic_year=2026,
                                     start_date=year_start(2026), marks=_marks(rng)))
            case = Case(ref=f"CW-2026-{n + 1:05d}", pupil_id=pupil.id, school_id=school.id, state="penalty_notice",
                        pathway="england-2024@1", officer_id=officer.id, opened_on=date(2026, 9, 21),
                        offence_start=OFFENCE_START, offence_end=TERM_END)
            session.add(case)
            session.flush()
            session.add(PenaltyNotice(ref=f"PN-2026-{n + 1:05d}", case_id=case.id, pupil_id=pupil.id,
                                      contact_id=parent.id, issued_on=ISSUED_ON, offence_start=OFFENCE_START,
                                      offence_end=TERM_END, amount_reduced=Decimal("80.00"),
                                      amount_full=Decimal("160.00"), receipt_on=receipt,
                                      reduced_until=receipt + timedelta(days=21), pay_by=receipt + timedelta(days=28),
                                      status="issued"))
        session.commit()


def planned_letters(session: Session) -> list[issue.Planned]:
    """Every stored notice's letter, its context built from the database by the product's `build_context`."""
    officer = session.exec(select(User)).one()
    authority = issue.authority_context(session)
    planned = []
    for pn, case, pupil, contact in session.exec(
            select(PenaltyNotice, Case, Pupil, Contact).join(Case, Case.id == PenaltyNotice.case_id)
            .join(Pupil, Pupil.id == PenaltyNotice.pupil_id).join(Contact, Contact.id == PenaltyNotice.contact_id)
            .order_by(PenaltyNotice.id)):
        ctx = load_context(session, pupil)
        parent = next(p for p in ctx.parents if p.contact.id == contact.id)
        context = issue.build_context(session, "penalty_notice", case, ctx, officer, ISSUED_ON, {}, contact, parent,
                                      pn, f"{case.ref}-05-{contact.contact_ref}", authority)
        planned.append(issue.Planned("penalty_notice", case, None, contact, pn, context))
    return planned


def product_run(url: str) -> int:
    with Session(get_engine(url)) as session:
        letters = issue.store_letters(session, ISSUED_ON, planned_letters(session))
        session.rollback()
    return len(letters)


def naive_run(url: str) -> int:
    from weasyprint import HTML

    with Session(get_engine(url)) as session:
        planned = planned_letters(session)
    for p in planned:
        pdf = HTML(string=render.render_html(p.kind, p.context)).write_pdf(pdf_variant="pdf/ua-1")
        storage.store(pdf)
    return len(planned)


def timed(label: str, run, url: str, files: Path, runs: int, letters: int) -> float:
    rates = []
    for number in range(runs):
        os.environ["CASEWORK_STORAGE"] = str(files / f"{label}-{number}")
        began = time.perf_counter()
        done = run(url)
        elapsed = time.perf_counter() - began
        assert done == letters, (done, letters)
        rates.append(letters / elapsed)
        print(f"  {label} run {number + 1}: {elapsed:.1f} s, {letters / elapsed:.1f} letters/s", flush=True)
    median = statistics.median(rates)
    print(f"{label}: median {median:.1f} letters/s over {runs} run(s) (min {min(rates):.1f}, max {max(rates):.1f})")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive-runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    clock.freeze(date(2026, 12, 14))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'letters.db'}"
        began = time.perf_counter()
        upgrade(url)
        generate(url, args.letters, args.seed)
        print(f"{args.letters} cases with a penalty notice each, in {time.perf_counter() - began:.1f} s; "
              f"rendering on {render.workers()} core(s)")
        files = Path(tmp) / "files"
        fast = timed("product", product_run, url, files, args.runs, args.letters)
        naive = timed("naive", naive_run, url, files, args.naive_runs, args.letters)
    print(f"product {fast:.1f} letters/s, naive {naive:.1f} letters/s: {fast / naive:.1f}x "
          f"(targets: >= 20 letters/s, >= 6x)")


if __name__ == "__main__":
    main()
