"""Benchmark: build a prosecution bundle for a case with a year of register, 30 letters and 10 uploaded documents.

    python benchmarks/bundles.py [--runs 5] [--db URL] [--confidential]

Makes one case on a fresh database (SQLite in a temporary folder unless --db is given) through the services: a
pupil with a year of marks (2025-26), two parents, the pathway from a concern to legal action with meeting letters on
the way (30 letters in all), and 10 uploaded documents (PDFs of several pages and photographs). Then builds the bundle
`--runs` times (each a new version, laid out afresh) and prints the median, the page count and where the time goes.
--confidential makes the mother's address confidential, so her letters are re-rendered as redacted copies and the
redaction check reads the whole bundle. Prints figures only; nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TODAY = date(2026, 7, 17)
YEAR_START = date(2025, 8, 1)


def register_marks(is_term_day) -> str:
    """A year of marks: absent without authority on Mondays from January, ill now and then."""
    from casework.register import codes

    marks, day = [], YEAR_START
    while day <= TODAY:
        am = pm = codes.NO_MARK
        if is_term_day(day):
            am, pm = "/", "\\"
            if day >= date(2026, 1, 5) and day.weekday() == 0:
                am = pm = "O"
            elif day.toordinal() % 23 == 0:
                am = pm = "I"
            elif day.toordinal() % 17 == 0:
                am = "L"
            if date(2026, 6, 15) <= day <= date(2026, 6, 19):
                am = pm = "G"
        marks += [codes.encode(am) if am != codes.NO_MARK else am, codes.encode(pm) if pm != codes.NO_MARK else pm]
        day += timedelta(days=1)
    return "".join(marks)


def document_pdf(title: str, pages: int) -> bytes:
    from weasyprint import HTML

    body = "".join(f"<h1>{title}</h1><p>Page {n} of the record.</p>" + "<p>" + " ".join(
        f"Observation {n}.{i}: the pupil was not in school and the family was contacted." for i in range(40))
        + "</p><div style='page-break-after: always'></div>" for n in range(1, pages + 1))
    return HTML(string=f"<html><body>{body}</body></html>").write_pdf()


def photograph(seed: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (4000, 3000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((3000, 4000)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def make_case(url: str, confidential: bool) -> tuple[str, str]:
    """The case, in legal action, with its letters and uploads; (case reference, legal officer's email)."""
    from sqlmodel import Session

    from casework.bundles import uploads
    from casework.db import get_engine
    from casework.models import Contact, Pupil, PupilContact, RegisterYear, School
    from casework.register.calendar import is_term_day
    from casework.services.cases import fire, issue_letter, open_case
    from casework.services.users import add_user

    with Session(get_engine(url), expire_on_commit=False) as session:
        school = School(urn="926001", name="Queensway Primary School", la_code="926", estab="2001", phase="primary")
        session.add(school)
        session.flush()
        home = {"address_line1": "4 Orchard Close", "town": "Thetford", "postcode": "IP24 2AB"}
        pupil = Pupil(upn="A926200110001", school_id=school.id, surname="Marsh", forename="Leo",
                      date_of_birth=date(2016, 5, 4), year_group="5", **home)
        session.add(pupil)
        session.flush()
        for ref, forename, title, relationship, lives in (("P1", "Jade", "Ms", "mother", True),
                                                           ("P2", "Ryan", "Mr", "father", False)):
            address = home if lives else {"address_line1": "22 Station Road", "town": "Brandon", "postcode": "IP27 0AA"}
            contact = Contact(contact_ref=ref, title=title, forename=forename, surname="Marsh",
                              address_confidential=confidential and lives, **address)
            session.add(contact)
            session.flush()
            session.add(PupilContact(pupil_id=pupil.id, contact_id=contact.id, relationship=relationship,
                                     parental_responsibility=True, lives_with_pupil=lives,
                                     s576_basis="parental responsibility"))
        session.add(RegisterYear(pupil_id=pupil.id, school_id=school.id, academic_year=2025, start_date=YEAR_START,
                                 marks=register_marks(is_term_day)))
        aeo = add_user(session, "aeo@bench.example", "aeo", "benchmark password", [], name="Dana Price").email
        legal = add_user(session, "legal@bench.example", "legal", "benchmark password", [], name="Sam Okafor").email
        ref = open_case(session, pupil.upn, aeo, date(2026, 1, 12)).case.ref
        meeting = {"meeting_place": "Queensway Primary School, meeting room 2"}
        steps = [
            ("start_consultation", date(2026, 1, 13), {}),
            ("meeting_invitation", date(2026, 1, 14), {**meeting, "meeting_on": "2026-01-21T09:30"}),
            ("meeting_invitation", date(2026, 1, 20), {**meeting, "meeting_on": "2026-01-27T09:30"}),
            ("meeting_invitation", date(2026, 1, 27), {**meeting, "meeting_on": "2026-02-03T09:30"}),
            ("agree_action_plan", date(2026, 2, 2), {"actions": "Morning check-in; breakfast club",
                                                     "review_on": "2026-03-02"}),
            ("meeting_invitation", date(2026, 2, 9), {**meeting, "meeting_on": "2026-02-12T15:30"}),
            ("meeting_not_attended", date(2026, 2, 13), {"missed_on": "2026-02-12"}),
            ("meeting_invitation", date(2026, 2, 23), {**meeting, "meeting_on": "2026-02-26T15:30"}),
            ("meeting_not_attended", date(2026, 2, 27), {"missed_on": "2026-02-26"}),
            ("offer_parenting_contract", date(2026, 3, 2), {"requirements": "Leo in school on time every day",
                                                            "support": "Weekly check-in with the AEO",
                                                            "review_on": "2026-04-20", "parent_agreed": "yes"}),
            ("meeting_invitation", date(2026, 3, 9), {**meeting, "meeting_on": "2026-03-12T09:30"}),
            ("issue_notice_to_improve", date(2026, 3, 16), {"improvement_weeks": "3"}),
            ("issue_penalty_notice", date(2026, 4, 20), {"early_reason": "no improvement"}),
            ("refer_for_prosecution", date(2026, 6, 1), {
                "section": "444(1)", "offence_start": "2026-02-02", "offence_end": "2026-05-22",
                "eso_considered": "An education supervision order was considered and not pursued.",
                "decision": "Support exhausted; the evidence supports a prosecution under s.444(1)."}),
        ]
        for what, on, data in steps:
            if what.startswith("meeting"):
                issue_letter(session, ref, what, aeo, on, data)
            else:
                fire(session, ref, what, aeo, on, data)
        fire(session, ref, "record_interview", legal, date(2026, 6, 8),
             {"invite": "yes", "interview_notes": "Invited to attend on 15 June 2026."})
        fire(session, ref, "lay_information", legal, date(2026, 6, 15),
             {"court": "Norwich Magistrates' Court", "hearing_on": "2026-07-20"})
        for n in range(8):
            uploads.add(session, ref, legal, f"Home visit record {n + 1}", f"visit{n}.pdf",
                        document_pdf(f"Home visit record {n + 1}", 2 + n % 3))
        for n in range(2):
            uploads.add(session, ref, legal, f"Photograph {n + 1} of the notice left at the door", f"p{n}.jpg",
                        photograph(n))
        session.commit()
    return ref, legal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", help="a database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--confidential", action="store_true", help="the mother's address is confidential")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-bundles-"))
    os.environ.setdefault("CASEWORK_STORAGE", str(folder / "files"))
    os.environ["CASEWORK_NOW"] = f"{TODAY.isoformat()}T10:00:00"

    from sqlmodel import Session

    from casework import clock
    from casework.bundles import data, versions
    from casework.db import get_engine, upgrade
    from casework.models import Case, Letter
    from sqlmodel import select

    url = args.db or f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    started = time.perf_counter()
    ref, legal = make_case(url, args.confidential)
    print(f"case {ref} made in {time.perf_counter() - started:.1f} s (letters rendered and uploads converted)")
    times, cpu, pages = [], [], 0
    for run in range(args.runs):
        with Session(get_engine(url), expire_on_commit=False) as session:
            started, started_cpu = time.perf_counter(), time.process_time()
            row = versions.build(session, ref, legal)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            session.commit()
            if row.status != "ready":
                raise SystemExit(f"build {run + 1} ended {row.status}: {row.error}")
            pages = row.pages
            manifest = json.loads(row.manifest)
        print(f"  build {run + 1}: {times[-1]:.2f} s ({cpu[-1]:.2f} s of CPU in this process), {pages} pages")
    with Session(get_engine(url), expire_on_commit=False) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        letters = len(session.exec(select(Letter).where(Letter.case_id == case.id)).all())
        stamps = [time.perf_counter()]
        loaded = data.load(session, case, clock.today())
        versions.make(loaded, 99, None, lambda step: stamps.append(time.perf_counter()))
        stamps.append(time.perf_counter())
    sections = {}
    for entry in manifest["documents"]:
        sections[entry["section"]] = sections.get(entry["section"], 0) + entry["last"] - entry["first"] + 1
    print(f"bundle: {pages} pages ({', '.join(f'{k} {v}' for k, v in sections.items())}); {letters} letters, "
          f"{len([e for e in manifest['documents'] if e['section'] == 'uploads'])} uploads"
          f"{', mother confidential (letters redacted)' if args.confidential else ''}")
    print(f"build time over {args.runs} runs: median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
          f"max {max(times):.2f} s (target: 8 s or less); CPU in this process: median {statistics.median(cpu):.2f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    steps = ["load"] + list(versions.STEPS[1:5])
    print("where the time goes (one run): " + "; ".join(
        f"{name.split(',')[0].lower()} {b - a:.2f} s" for name, a, b in zip(steps, stamps, stamps[1:])))


if __name__ == "__main__":
    main()
