"""A reproducible demo authority: schools, families, two academic years of marks, cases at every stage, users."""
from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
from sqlalchemy import insert
from sqlmodel import Session, select
from stdnum.gb import upn as upn_check

from . import clock
from .checks import overdue_n_codes, recompute
from .models import Case, Contact, Pupil, PupilContact, RegisterYear, School
from .register import calendar, codes
from .register.marks import academic_year, year_start
from .services.cases import fire, open_case
from .services.errors import Blocked
from .services.tick import tick
from .services.users import add_user

LA = "926"
PASSWORD = "demo-password-2026"
SURNAMES = ("Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Wright Walker Robinson Thompson White "
            "Hughes Edwards Green Hall Wood Harris Lewis Martin Jackson Clarke Clark Turner Hill Scott Cooper Morris "
            "Ward Moore King Watson Baker Harrison Morgan Khan Allen Young Mitchell Carter Phillips Nowak Kaur "
            "Begum Ahmed Okafor Mensah Kowalski Novak").split()
GIRLS = "Olivia Amelia Isla Ava Mia Ivy Lily Freya Florence Grace Sophia Evie Poppy Ella Willow Aisha Zofia Maya".split()
BOYS = "Noah Oliver George Arthur Leo Muhammad Harry Oscar Archie Jack Henry Theo Freddie Alfie Jacob Lucas Kacper".split()
ADULT_F = "Sarah Emma Laura Claire Rebecca Hannah Amy Natalie Fatima Agnieszka Joanne Kelly Lisa Gemma".split()
ADULT_M = "James David Daniel Mark Paul Andrew Richard Michael Tomasz Imran Steven Craig Lee Darren".split()
STREETS = "Church Lane,Station Road,Mill Road,The Street,Norwich Road,High Street,Park Lane,Market Place,School Road".split(",")
TOWNS = (("Thetford", "IP24"), ("Dereham", "NR19"), ("Swaffham", "PE37"), ("Wymondham", "NR18"), ("Diss", "IP22"))

SCHOOLS = [  # (name, phase, independent)
    *[(f"{town} {kind} Primary School", "primary", False)
      for town, kind in (("Thetford", "Queensway"), ("Thetford", "Redcastle"), ("Dereham", "Neatherd"),
                         ("Dereham", "Northgate"), ("Swaffham", "Sacred Heart"), ("Swaffham", "Nar Valley"),
                         ("Wymondham", "Browick Road"), ("Wymondham", "Robert Kett"), ("Diss", "Church"),
                         ("Diss", "Heywood"), ("Attleborough", "Rosecroft"), ("Watton", "Wayland"))],
    ("Thetford Academy", "secondary", False), ("Dereham Neatherd High School", "secondary", False),
    ("Swaffham Nicholas Hamond Academy", "secondary", False), ("Wymondham High Academy", "secondary", False),
    ("Diss High School", "secondary", False), ("Chapel Green Special School", "special", False),
    ("Fred Nicholson Special School", "special", False), ("Old Buckenham Hall School", "all_through", True),
]


def make_upn(estab: str, year: int, serial: int) -> str:
    body = f"{LA}{estab}{year % 100:02d}{serial:03d}"
    return upn_check.calc_check_digit("X" + body) + body


def _school_days(start: date, end: date) -> list[date]:
    day, out = start, []
    while day <= end:
        if calendar.is_term_day(day):
            out.append(day)
        day += timedelta(days=1)
    return out


def _year_group(dob: date, year: int) -> int:
    """National curriculum year in the academic year starting `year` (0 = Reception)."""
    return year - (dob.year if dob.month < 9 else dob.year + 1) - 4


def _marks(rng: np.random.Generator, days: list[date], start: date, rate: float, unauth_share: float,
           holiday_block: bool, today: date, missing_run: bool = False, stale_n: bool = False) -> str:
    """One pupil-year of marks: whole-day absences at `rate`, some unauthorised, an optional unauthorised holiday,
    optionally a run of 12 unexplained days to date (children missing education) or an N left unresolved."""
    length = ((days[-1] - start).days + 1) * 2 if days else 0
    out = np.full(length, ord(codes.NO_MARK), dtype=np.uint8)
    if not days:
        return ""
    idx = np.array([(d - start).days * 2 for d in days])
    absent = rng.random(len(days)) < rate
    unauth = rng.random(len(days)) < unauth_share
    am = np.full(len(days), ord("/"), dtype=np.uint8)
    pm = np.full(len(days), ord("\\"), dtype=np.uint8)
    late = rng.random(len(days)) < 0.02
    am[late] = ord("L")
    auth_codes = np.frombuffer(b"IIIIIIIMMC", dtype=np.uint8)
    unauth_codes = np.frombuffer(b"OOOOOOUG", dtype=np.uint8)
    codes_auth = auth_codes[rng.integers(0, len(auth_codes), len(days))]
    codes_unauth = unauth_codes[rng.integers(0, len(unauth_codes), len(days))]
    chosen = np.where(unauth, codes_unauth, codes_auth)
    am[absent], pm[absent] = chosen[absent], chosen[absent]
    if holiday_block and len(days) > 60:
        first = int(rng.integers(10, len(days) - 10))
        am[first:first + 5] = pm[first:first + 5] = ord("G")
    if missing_run:
        am[-12:] = pm[-12:] = ord("O")
    if stale_n and len(days) > 8:
        am[-8] = pm[-8] = ord("N")
    recent = np.array([(today - d).days <= 4 for d in days])
    unexplained = absent & recent & (rng.random(len(days)) < 0.5)
    am[unexplained] = pm[unexplained] = ord("N")
    out[idx], out[idx + 1] = am, pm
    return out.tobytes().decode("latin-1")


def load_demo(session: Session, seed: int = 2026, pupils: int = 5000) -> dict:
    """Load the demo authority into an empty database; returns the logins to print."""
    if session.exec(select(School)).first():
        raise RuntimeError("the database already has schools: the demo loads only into an empty database")
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    today = clock.today()
    this_year = academic_year(today)

    school_rows = []
    for i, (name, phase, independent) in enumerate(SCHOOLS):
        school_rows.append(School(urn=f"{121000 + i * 7}", name=name, la_code=LA, estab=f"{2100 + i * 3 if phase == 'primary' else 4100 + i * 3}",
                                  phase=phase, independent=independent))
    session.add_all(school_rows)
    session.flush()
    primaries = [s for s in school_rows if s.phase == "primary"]
    secondaries = [s for s in school_rows if s.phase == "secondary"]
    specials = [s for s in school_rows if s.phase == "special"]
    independent = [s for s in school_rows if s.independent]

    pupil_rows, contact_rows, links = [], [], []
    serial = 0
    family = 0
    while len(pupil_rows) < pupils:
        family += 1
        surname = rng.choice(SURNAMES)
        town, district = rng.choice(TOWNS)
        address = (f"{rng.randint(1, 120)} {rng.choice(STREETS)}", "", town, f"{district} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}")
        separated = rng.random() < 0.25
        parents = [("Ms" if separated else "Mrs", rng.choice(ADULT_F), surname, "mother", True, True, address)]
        if rng.random() < 0.8:
            other = address
            if separated:
                town2, district2 = rng.choice(TOWNS)
                other = (f"{rng.randint(1, 120)} {rng.choice(STREETS)}", "", town2, f"{district2} {rng.randint(1, 9)}AB")
            parents.append(("Mr", rng.choice(ADULT_M), surname if not separated else rng.choice(SURNAMES),
                            "father", True, not separated, other))
        family_contacts = []
        for j, (title, forename, psurname, relationship, pr, lives, addr) in enumerate(parents):
            contact = Contact(contact_ref=f"F{family:05d}-{j + 1}", title=title, forename=forename, surname=psurname,
                              address_line1=addr[0], address_line2=addr[1], town=addr[2], postcode=addr[3],
                              email=f"{forename.lower()}.{psurname.lower()}{family}@example.invalid",
                              phone=f"07700 9{rng.randint(10000, 99999)}",
                              address_confidential=separated and j == 0 and rng.random() < 0.1)
            contact_rows.append(contact)
            family_contacts.append((contact, relationship, pr, lives))
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            if len(pupil_rows) >= pupils:
                break
            group = rng.randint(0, 11)
            born_year = this_year - group - 5
            dob = date(born_year, 9, 1) + timedelta(days=rng.randint(0, 364))
            if rng.random() < 0.02:
                school = rng.choice(specials)
            elif rng.random() < 0.02:
                school = independent[0]
            else:
                school = rng.choice(primaries if group <= 6 else secondaries)
            serial += 1
            girl = rng.random() < 0.5
            sen = rng.choices(("none", "support", "ehcp"), (85, 12.5, 2.5))[0]
            pupil = Pupil(upn=make_upn(school.estab, 2019 + serial % 7, serial % 1000), school_id=school.id,
                          surname=surname, forename=rng.choice(GIRLS if girl else BOYS), date_of_birth=dob,
                          year_group="R" if group == 0 else str(group), sen=sen, fsm=rng.random() < 0.25,
                          eal=rng.random() < 0.18, social_worker=rng.random() < 0.03, looked_after=rng.random() < 0.007,
                          young_carer=rng.random() < 0.02, health_flag=rng.random() < 0.02,
                          address_line1=address[0], address_line2=address[1], town=address[2], postcode=address[3])
            pupil_rows.append(pupil)
            links.append((pupil, family_contacts))
    # UPN serials may collide across estab/year combinations: make them unique deterministically
    seen = set()
    for i, pupil in enumerate(pupil_rows):
        while pupil.upn in seen:
            pupil.upn = make_upn(rng.choice(school_rows).estab, 2018, (i * 7 + rng.randint(0, 999)) % 1000)
        seen.add(pupil.upn)
    session.add_all(pupil_rows)
    session.add_all(contact_rows)
    session.flush()
    session.execute(insert(PupilContact), [
        {"pupil_id": p.id, "contact_id": c.id, "relationship": rel, "parental_responsibility": pr,
         "lives_with_pupil": lives,
         "s576_basis": "parental responsibility and lives with the pupil" if pr and lives else
         "parental responsibility" if pr else "lives with the pupil (day-to-day care)"}
        for p, contacts in links for c, rel, pr, lives in contacts
    ])

    case_pupils = _write_marks(session, pupil_rows, school_rows, nrng, today, this_year)
    users = _users(session, school_rows)
    _cases(session, case_pupils, users, today, scoped_school_id=school_rows[0].id)
    tick(session, today, actor="demo")
    every_pupil = [p.id for p in pupil_rows]
    recompute(session, every_pupil, today)
    overdue_n_codes(session, every_pupil, today)
    session.flush()
    return {"password": PASSWORD, "users": [(role, email) for role, email in users.items()]}


def _write_marks(session, pupil_rows, school_rows, nrng, today, this_year) -> list[Pupil]:
    """Two academic years of marks up to today; returns the pupils built to need casework."""
    years = (this_year - 1, this_year)
    day_lists = {y: _school_days(year_start(y), min(today, date(y + 1, 7, 31))) for y in years}
    rows = []
    casework_pupils = []
    for i, pupil in enumerate(pupil_rows):
        draw = nrng.random()
        if draw < 0.72:
            rate = nrng.beta(2, 70)
        elif draw < 0.93:
            rate = nrng.beta(4, 25)
        elif draw < 0.985:
            rate = nrng.beta(6, 10)
        else:
            rate = nrng.beta(8, 6)
        unauth_share = float(nrng.beta(2, 5))
        case_candidate = i % 97 == 5 and pupil.year_group not in ("R", "11")
        if case_candidate:
            rate, unauth_share = 0.2, 0.95
            casework_pupils.append(pupil)
        for y in years:
            current = y == this_year
            rows.append({"pupil_id": pupil.id, "school_id": pupil.school_id, "academic_year": y,
                         "start_date": year_start(y),
                         "marks": _marks(nrng, day_lists[y], year_start(y), float(rate), unauth_share,
                                         nrng.random() < 0.06, today, missing_run=current and i % 1013 == 17,
                                         stale_n=current and i % 211 == 3)})
    session.execute(insert(RegisterYear), rows)
    return casework_pupils


def _users(session, school_rows) -> dict[str, str]:
    users = {
        "admin": "admin@norshire.example.gov.uk",
        "manager": "manager@norshire.example.gov.uk",
        "aeo": "aeo@norshire.example.gov.uk",
        "aeo2": "aeo2@norshire.example.gov.uk",
        "legal": "legal@norshire.example.gov.uk",
        "school": "attendance@queensway.example.sch.uk",
    }
    names = {"admin": "Sam Admin", "manager": "Morgan Reeve", "aeo": "Alex Fielding", "aeo2": "Jordan Pike",
             "legal": "Lee Counsel", "school": "Pat Queensway"}
    for key, email in users.items():
        role = "aeo" if key == "aeo2" else key
        add_user(session, email, role, PASSWORD, [school_rows[0].urn] if role == "school" else [], names[key],
                 actor="demo")
    return users


def _attempt(session, steps) -> bool:
    """Run one journey in a savepoint; a guard refusal undoes that journey only."""
    nested = session.begin_nested()
    try:
        for step in steps:
            step()
    except Blocked:
        nested.rollback()
        return False
    nested.commit()
    return True


def _cases(session: Session, candidates: list[Pupil], users: dict[str, str], today: date,
           scoped_school_id: int) -> None:
    """Drive real journeys through the services so that every stage has cases, with their letters."""
    aeo, aeo2, school_user = users["aeo"], users["aeo2"], users["school"]
    t = lambda days: today - timedelta(days=days)  # noqa: E731
    ref = {}

    def opened(pupil, by, on):
        return lambda: ref.__setitem__(pupil.id, open_case(session, pupil.upn, by, on).case.ref)

    def step(pupil, trigger, by, on, **data):
        return lambda: fire(session, ref[pupil.id], trigger, by, on, {k: str(v) for k, v in data.items()})

    def plan(p, on, officer):
        return [step(p, "start_consultation", officer, on), step(p, "agree_action_plan", officer, on + timedelta(days=2),
                actions="Daily check-in with the pastoral lead; breakfast club place; fortnightly call home",
                review_on=(on + timedelta(days=30)).isoformat())]

    journeys = {
        "concern": lambda p, o: [opened(p, school_user if p.school_id == scoped_school_id else o, t(3))],
        "consultation": lambda p, o: [opened(p, o, t(12)), step(p, "start_consultation", o, t(10))],
        "action_plan": lambda p, o: [opened(p, o, t(25)), *plan(p, t(22), o)],
        "parenting_contract": lambda p, o: [opened(p, o, t(50)), *plan(p, t(48), o), step(
            p, "offer_parenting_contract", o, t(12), requirements="Ensure attendance every day; tell the school by 9am of any illness",
            support="Family support worker; transport help for two weeks", review_on=t(-30).isoformat(), parent_agreed="yes")],
        "notice_to_improve": lambda p, o: [opened(p, o, t(60)), *plan(p, t(58), o),
                                           step(p, "issue_notice_to_improve", o, t(14), improvement_weeks=6)],
        "penalty_notice": lambda p, o: [opened(p, o, t(95)), *plan(p, t(93), o),
                                        step(p, "issue_notice_to_improve", o, t(60), improvement_weeks=3),
                                        step(p, "issue_penalty_notice", o, t(20))],
        "prosecution": lambda p, o: [opened(p, o, t(110)), *plan(p, t(108), o),
                                     step(p, "issue_notice_to_improve", o, t(90), improvement_weeks=3),
                                     step(p, "issue_penalty_notice", o, t(62)),
                                     lambda: tick(session, t(20), actor="demo"),
                                     lambda: fire(session, ref[p.id], "refer_for_prosecution", o, t(10), _referral(session, ref[p.id], p))],
        "closed": lambda p, o: [opened(p, o, t(40)), *plan(p, t(38), o),
                                step(p, "close", o, t(5), outcome="attendance_improved",
                                     note="Attendance above 95% for four weeks after the plan")],
    }
    order = ["prosecution", "penalty_notice", "notice_to_improve", "parenting_contract", "action_plan",
             "consultation", "concern", "closed"]
    wanted = {"prosecution": 2, "penalty_notice": 3, "notice_to_improve": 3, "parenting_contract": 3,
              "action_plan": 4, "consultation": 3, "concern": 4, "closed": 3}
    done = {state: 0 for state in order}
    pool = list(candidates)
    for state in order:
        for pupil in list(pool):
            if done[state] >= wanted[state]:
                break
            officer = aeo if len(ref) % 2 == 0 else aeo2
            if _attempt(session, journeys[state](pupil, officer)):
                done[state] += 1
                pool.remove(pupil)
    missing = [s for s in order if done[s] == 0]
    if missing:
        raise RuntimeError(f"demo: no case could be built in state(s) {', '.join(missing)}")


def _referral(session, case_ref: str, pupil: Pupil) -> dict[str, str]:
    from .models import PenaltyNotice

    case = session.exec(select(Case).where(Case.ref == case_ref)).one()
    pn = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)).first()
    data = {"section": "444(1)", "offence_start": pn.offence_start.isoformat(), "offence_end": pn.offence_end.isoformat(),
            "eso_considered": "Considered: the family engages with the plan and an order would add nothing",
            "decision": "Evidence: register certificate, NTI and unpaid notice. Support since September refused. "
                        "No safeguarding or health barriers found. Options considered: contract, ESO, prosecution."}
    if pupil.sen == "ehcp" or pupil.health_flag:
        data["health_review"] = "Reviewed with the SEND team: no health reason prevents attendance"
    return data
