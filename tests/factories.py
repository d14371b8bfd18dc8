"""Plain factory functions with keyword defaults. Records that carry chronology are made through services."""
from __future__ import annotations

from datetime import date, timedelta
from itertools import count

from sqlmodel import Session, select
from stdnum.gb import upn as upn_check

from casework.models import Contact, Pupil, PupilContact, RegisterYear, School
from casework.register import codes
from casework.register.marks import academic_year, session_index, set_mark, year_start
from casework.services.users import add_user

_serial = count(1)
PASSWORD = "correct horse battery"


def make_school(session: Session, *, urn: str | None = None, name: str = "Test Primary School",
                phase: str = "primary", independent: bool = False) -> School:
    n = next(_serial)
    school = School(urn=urn or f"{900000 + n}", name=name, la_code="926", estab=f"{2000 + n % 8000:04d}",
                    phase=phase, independent=independent)
    session.add(school)
    session.flush()
    return school


def make_upn(n: int | None = None) -> str:
    n = next(_serial) if n is None else n
    body = f"926{2000 + n % 8000:04d}19{n % 1000:03d}"
    return upn_check.calc_check_digit("X" + body) + body


def make_pupil(session: Session, school: School, *, dob: date = date(2016, 3, 1), sen: str = "none",
               health_flag: bool = False, forename: str = "Ava", surname: str = "Tester") -> Pupil:
    pupil = Pupil(upn=make_upn(), school_id=school.id, surname=surname, forename=forename, date_of_birth=dob,
                  year_group="5", sen=sen, health_flag=health_flag, address_line1="1 Mill Road", town="Thetford",
                  postcode="IP24 1AA")
    session.add(pupil)
    session.flush()
    return pupil


def make_parent(session: Session, pupil: Pupil, *, ref: str | None = None, forename: str = "Sam",
                surname: str = "Tester", title: str = "Ms", pr: bool = True, lives: bool = True,
                relationship: str = "mother", confidential: bool = False) -> Contact:
    ref = ref or f"C{next(_serial)}"
    contact = session.exec(select(Contact).where(Contact.contact_ref == ref)).first()
    if contact is None:
        contact = Contact(contact_ref=ref, title=title, forename=forename, surname=surname,
                          address_line1="1 Mill Road", town="Thetford", postcode="IP24 1AA",
                          address_confidential=confidential)
        session.add(contact)
        session.flush()
    session.add(PupilContact(pupil_id=pupil.id, contact_id=contact.id, relationship=relationship,
                             parental_responsibility=pr, lives_with_pupil=lives,
                             s576_basis="parental responsibility" if pr else "lives with the pupil (day-to-day care)"))
    session.flush()
    return contact


def make_user(session: Session, role: str, *, schools: list[School] = (), email: str | None = None):
    email = email or f"{role}{next(_serial)}@example.org"
    return add_user(session, email, role, PASSWORD, [s.urn for s in schools], name=f"{role.title()} User")


def school_days(start: date, end: date, closed: set[date] = frozenset()) -> list[date]:
    """Weekdays from start to end, less the closed days."""
    days, day = [], start
    while day <= end:
        if day.weekday() < 5 and day not in closed:
            days.append(day)
        day += timedelta(days=1)
    return days


def fill_register(session: Session, pupil: Pupil, school: School, start: date, end: date, *,
                  absent: dict | None = None, closed: set[date] = frozenset()) -> None:
    """Present every weekday in [start, end] except closed days; `absent` maps a date to a code or (am, pm)."""
    absent = absent or {}
    rows: dict[int, RegisterYear] = {}
    for day in school_days(start, end, closed):
        year = academic_year(day)
        row = rows.get(year) or session.exec(select(RegisterYear).where(
            RegisterYear.pupil_id == pupil.id, RegisterYear.school_id == school.id,
            RegisterYear.academic_year == year)).first()
        if row is None:
            row = RegisterYear(pupil_id=pupil.id, school_id=school.id, academic_year=year, start_date=year_start(year),
                               marks="")
        rows[year] = row
        code = absent.get(day)
        am, pm = (code if isinstance(code, tuple) else (code, code)) if code else ("/", "\\")
        row.marks = set_mark(row.marks, session_index(row.start_date, day, "AM"), codes.validate(am, day))
        row.marks = set_mark(row.marks, session_index(row.start_date, day, "PM"), codes.validate(pm, day))
    for row in rows.values():
        session.add(row)
    session.flush()
