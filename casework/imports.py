"""CSV imports (schools, pupils, contacts, marks, earlier penalty notices): every file of one call, or nothing.

All files are read and checked before anything is written, so a rejected import leaves the session untouched.
Rows are compared with what is stored, so importing the same data twice changes nothing. Writes are bulk
statements (one executemany per table), never one ORM object per row: a county's day of marks is ~260,000 rows.
"""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Table, bindparam, insert, select, update
from sqlmodel import Session
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.gb import upn as upn_number

from . import clock
from .perf import collector_paused
from .models import (
    PHASES,
    SEN_VALUES,
    Contact,
    MarkChange,
    Payment,
    PenaltyNotice,
    Pupil,
    PupilContact,
    RegisterYear,
    School,
)
from .register import codes
from .register.marks import SESSIONS, academic_year, session_at, session_index, year_start

HEADERS: dict[str, tuple[str, ...]] = {
    "schools": ("urn", "name", "la_code", "estab", "phase", "independent"),
    "pupils": (
        "upn", "school_urn", "surname", "forename", "date_of_birth", "year_group", "sen", "fsm", "eal",
        "social_worker", "looked_after", "young_carer", "address_line1", "address_line2", "town", "postcode",
    ),
    "contacts": (
        "upn", "contact_ref", "title", "forename", "surname", "relationship", "parental_responsibility",
        "lives_with_pupil", "address_line1", "address_line2", "town", "postcode", "email", "phone",
        "address_confidential",
    ),
    "marks": ("upn", "school_urn", "date", "session", "code"),
    "penalty_notices": (
        "pn_ref", "upn", "contact_ref", "issued_on", "offence_start", "offence_end", "status", "amount_paid",
        "paid_on",
    ),
}
KINDS = tuple(HEADERS)
MAX_ERRORS = 100
IMPORTED_PN_STATUSES = ("paid", "unpaid", "withdrawn", "prosecuted")
IMPORTED_PN_FULL_AMOUNT = Decimal("160.00")
REDUCED_RATE = Decimal("80.00")
CENTS = Decimal("0.01")

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONEY = re.compile(r"\d{1,8}(\.\d{1,2})?")

Where = tuple[str, int]
Rows = list[tuple[int, list[str]]]


class ImportFailed(Exception):
    """The import was rejected; `errors` are `FILE:LINE: message` lines and nothing was written."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class HeaderError(ValueError):
    """A header row that is not exactly one kind's header; `problems` holds one message per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ImportSummary:
    """What one import did: rows read, and per kind the records created, updated or left unchanged."""

    files: int = 0
    rows: int = 0
    schools_created: int = 0
    schools_updated: int = 0
    schools_unchanged: int = 0
    pupils_created: int = 0
    pupils_updated: int = 0
    pupils_unchanged: int = 0
    contacts_created: int = 0
    contacts_updated: int = 0
    contacts_unchanged: int = 0
    links_created: int = 0
    links_updated: int = 0
    links_unchanged: int = 0
    marks_added: int = 0
    marks_changed: int = 0
    marks_unchanged: int = 0
    penalty_notices_created: int = 0
    penalty_notices_unchanged: int = 0
    marks_written_for: set[int] = field(default_factory=set)
    mark_changes: list[dict] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line for the rows read, then one per kind of record touched."""
        lines = [f"{self.rows} rows read from {self.files} file{'' if self.files == 1 else 's'}"]
        for label, prefix, outcomes in _SUMMARY_LINES:
            counts = [getattr(self, f"{prefix}_{outcome}") for outcome in outcomes]
            if any(counts):
                lines.append(f"{label}: " + ", ".join(f"{n} {o}" for n, o in zip(counts, outcomes)))
        if self.alerts:
            lines.append(f"alerts raised: {len(self.alerts)}")
            lines.extend(f"  {alert}" for alert in self.alerts)
        return lines


_SUMMARY_LINES = (
    ("schools", "schools", ("created", "updated", "unchanged")),
    ("pupils", "pupils", ("created", "updated", "unchanged")),
    ("contacts", "contacts", ("created", "updated", "unchanged")),
    ("pupil-contact links", "links", ("created", "updated", "unchanged")),
    ("marks", "marks", ("added", "changed", "unchanged")),
    ("penalty notices", "penalty_notices", ("created", "unchanged")),
)


def detect_kind(header: list[str]) -> str:
    """The kind of import file whose header this is exactly; HeaderError naming the closest kind's header if none."""
    for kind, expected in HEADERS.items():
        if tuple(header) == expected:
            return kind
    raise HeaderError(_header_problems(header))


def _header_problems(header: list[str]) -> list[str]:
    given = set(header)

    def closeness(kind: str) -> tuple[int, int]:
        expected = set(HEADERS[kind])
        return len(given & expected), -len(given ^ expected)

    kind = max(KINDS, key=closeness)
    expected = HEADERS[kind]
    if not given & set(expected):
        kinds = "; ".join(f"{name}: {','.join(columns)}" for name, columns in HEADERS.items())
        return [f"header {','.join(header)!r} matches no import kind; expected one of {kinds}"]
    problems = [f"missing column {column!r}" for column in expected if column not in given]
    problems += [f"unexpected column {column!r}" for column in dict.fromkeys(header) if column not in expected]
    problems += [f"duplicate column {column!r}" for column in expected if header.count(column) > 1]
    if not problems:
        problems.append("columns are in a different order")
    problems.append(f"the {kind} header is {','.join(expected)}")
    return problems


def import_files(session: Session, paths: list[str], actor: str = "import", today: date | None = None) -> ImportSummary:
    """Check every file, then write them all (in dependency order); ImportFailed with every error otherwise."""
    session.flush()
    run = _Import(session, paths, actor, today or clock.today())
    with collector_paused():
        run.check(run.read())
        if run.errors.count:
            raise ImportFailed(run.errors.lines())
        run.write()
    session.expire_all()
    return run.summary


def _at(where: Where) -> str:
    return f"{where[0]}:{where[1]}"


class _Errors:
    def __init__(self) -> None:
        self.count = 0
        self.messages: list[str] = []

    def add(self, where: Where, message: str) -> None:
        self.count += 1
        if len(self.messages) < MAX_ERRORS:
            self.messages.append(f"{_at(where)}: {message}")

    def lines(self) -> list[str]:
        hidden = self.count - len(self.messages)
        return self.messages + ([f"... and {hidden} more"] if hidden else [])


class _Check:
    """Parses the fields of one row, recording one message per bad column; `ok` stays true if none was bad."""

    def __init__(self, errors: _Errors, where: Where):
        self.errors = errors
        self.where = where
        self.ok = True

    def fail(self, message: str) -> None:
        self.ok = False
        self.errors.add(self.where, message)

    def text(self, column: str, value: str, required: bool = False, max_length: int | None = None) -> str:
        if required and not value:
            self.fail(f"{column} is required")
        elif max_length is not None and len(value) > max_length:
            self.fail(f"{column} {value!r}: at most {max_length} characters")
        return value

    def digits(self, column: str, value: str, count: int) -> str:
        if not _is_digits(value, count):
            self.fail(f"{column} {value!r}: must be {count} digits")
        return value

    def choice(self, column: str, value: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            self.fail(f"{column} {value!r}: must be one of {', '.join(allowed)}")
        return value

    def yes_no(self, column: str, value: str) -> bool:
        if value not in ("yes", "no"):
            self.fail(f"{column} {value!r}: must be 'yes' or 'no'")
        return value == "yes"

    def date(self, column: str, value: str, today: date) -> date | None:
        day = _past_date(column, value, today)
        if isinstance(day, str):
            self.fail(day)
            return None
        return day

    def optional_date(self, column: str, value: str, today: date) -> date | None:
        return self.date(column, value, today) if value else None

    def money(self, column: str, value: str) -> Decimal | None:
        if not value:
            return None
        if not _MONEY.fullmatch(value):
            self.fail(f"{column} {value!r}: must be an amount such as 80.00")
            return None
        amount = Decimal(value).quantize(CENTS)
        if not amount:
            self.fail(f"{column} {value!r}: must be more than 0.00")
        return amount

    def upn(self, column: str, value: str, known: set[str] | dict[str, Any]) -> str:
        if value not in known:
            problem = _upn_problem(value)
            self.fail(f"{column} {value!r}: {problem or 'unknown pupil'}")
        return value

    def urn(self, column: str, value: str, known: set[str] | dict[str, Any]) -> str:
        if value not in known:
            problem = "unknown school" if _is_digits(value, 6) else "must be 6 digits"
            self.fail(f"{column} {value!r}: {problem}")
        return value


def _past_date(column: str, value: str, today: date) -> date | str:
    """The date, or the message saying why `value` is not a date up to `today`."""
    try:
        day = date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        return f"{column} {value!r}: must be a date as YYYY-MM-DD"
    if day > today:
        return f"{column} {value!r} is in the future"
    return day


def _is_digits(value: str, count: int) -> bool:
    return len(value) == count and value.isascii() and value.isdigit()


def _upn_problem(value: str) -> str:
    """Why `value` is not a UPN ('' when it is one)."""
    number = upn_number.compact(value)
    try:
        upn_number.validate(number)
    except InvalidChecksum:
        return f"check letter should be {upn_number.calc_check_digit(number[1:])!r}"
    except InvalidComponent:
        return f"LA number {number[1:4]!r} is not a local authority"
    except ValidationError:
        return "must be 13 characters: a check letter, 11 digits and a final digit or letter"
    return "" if number == value else "must be in capitals without spaces"


def _s576_basis(parental_responsibility: bool, lives_with_pupil: bool) -> str:
    if parental_responsibility and lives_with_pupil:
        return "parental responsibility and lives with the pupil"
    if parental_responsibility:
        return "parental responsibility"
    if lives_with_pupil:
        return "lives with the pupil (day-to-day care)"
    return ""


def _read_csv(path: str, errors: _Errors) -> tuple[str, Rows] | None:
    """The kind and the (line, fields) rows of one file; None (with errors recorded) if it cannot be used."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        errors.add((path, 1), f"cannot read the file: {exc.strerror}")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.add((path, data[: exc.start].count(b"\n") + 1), "not valid UTF-8")
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        errors.add((path, 1), "the file is empty; a header row is required")
        return None
    try:
        kind = detect_kind([column.strip() for column in header])
    except HeaderError as exc:
        for problem in exc.problems:
            errors.add((path, 1), problem)
        return None
    width = len(header)
    rows: Rows = []
    line = reader.line_num + 1
    try:
        for fields in reader:
            if len(fields) == width:
                rows.append((line, list(map(str.strip, fields))))
            elif fields:
                errors.add((path, line), f"expected {width} fields, found {len(fields)}")
            line = reader.line_num + 1
    except csv.Error as exc:
        errors.add((path, line), f"malformed CSV: {exc}")
    return kind, rows


def _table(model: Any) -> Table:
    return model.__table__


def _upsert(session: Session, table: Table, wanted: dict[Any, dict], stored: dict[Any, Any]) -> tuple[int, int, int]:
    """Insert the new rows and update the changed ones (bulk); the counts created, updated, unchanged."""
    new = [values for key, values in wanted.items() if key not in stored]
    changed = [
        {"row_id": stored[key].id, **values}
        for key, values in wanted.items()
        if key in stored and any(stored[key]._mapping[column] != value for column, value in values.items())
    ]
    if new:
        session.execute(insert(table), new)
    if changed:
        session.execute(update(table).where(table.c.id == bindparam("row_id")), changed)
    return len(new), len(changed), len(wanted) - len(new) - len(changed)


def _ids(session: Session, key: Any) -> dict[Any, int]:
    return dict(session.execute(select(key, key.table.c.id)).all())


class _Import:
    """One call of import_files: what is stored, what the files hold, and the errors found."""

    def __init__(self, session: Session, paths: list[str], actor: str, today: date):
        self.session = session
        self.paths = paths
        self.sources = {path: Path(path).name for path in paths}
        self.actor = actor
        self.today = today
        self.errors = _Errors()
        self.summary = ImportSummary()
        self.schools: dict[str, tuple[Where, dict]] = {}
        self.pupils: dict[str, tuple[Where, str, dict]] = {}
        self.contacts: dict[str, dict] = {}
        self.links: dict[tuple[str, str], tuple[Where, dict]] = {}
        self.marks: dict[tuple[str, str, int], dict[int, tuple[str, Where]]] = defaultdict(dict)
        self.notices: dict[str, tuple[Where, tuple]] = {}

    def read(self) -> dict[str, list[tuple[str, Rows]]]:
        files: dict[str, list[tuple[str, Rows]]] = defaultdict(list)
        for path in self.paths:
            read = _read_csv(path, self.errors)
            self.summary.files += 1
            if read is not None:
                kind, rows = read
                files[kind].append((path, rows))
                self.summary.rows += len(rows)
        return files

    def check(self, files: dict[str, list[tuple[str, Rows]]]) -> None:
        school_table, pupil_table = _table(School), _table(Pupil)
        self.stored_schools = {row.urn: row for row in self.session.execute(select(school_table))}
        pupil_columns = [pupil_table] if files.get("pupils") else [pupil_table.c.id, pupil_table.c.upn]
        self.stored_pupils = {row.upn: row for row in self.session.execute(select(*pupil_columns))}

        def check_each(kind: str, check_file: Callable[[str, Rows], None]) -> None:
            for path, rows in files.get(kind, ()):
                check_file(path, rows)

        check_each("schools", self.check_schools)
        self.known_urns = self.stored_schools.keys() | self.schools.keys()
        check_each("pupils", self.check_pupils)
        self.known_upns = self.stored_pupils.keys() | self.pupils.keys()
        check_each("contacts", self.check_contacts)
        check_each("marks", self.check_marks)
        if files.get("penalty_notices"):
            self.stored_notices = self.load_notices()
            self.contact_of = self.load_links() | self.links.keys()
            check_each("penalty_notices", self.check_notices)

    def keep_one(self, seen: dict, key: Any, label: str, where: Where, *data: Any) -> None:
        """Record `data` under `key`, or an error if another row of this call gave the key different data."""
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = (where, *data)
        elif earlier[1:] != data:
            self.errors.add(where, f"{label} is also on {_at(earlier[0])} with different data")

    def check_schools(self, path: str, rows: Rows) -> None:
        for line, (urn, name, la_code, estab, phase, independent) in rows:
            check = _Check(self.errors, (path, line))
            values = {
                "urn": check.digits("urn", urn, 6),
                "name": check.text("name", name, required=True),
                "la_code": check.digits("la_code", la_code, 3),
                "estab": check.digits("estab", estab, 4),
                "phase": check.choice("phase", phase, PHASES),
                "independent": check.yes_no("independent", independent),
            }
            if check.ok:
                self.keep_one(self.schools, urn, f"urn {urn!r}", check.where, values)

    def check_pupils(self, path: str, rows: Rows) -> None:
        for line, fields in rows:
            upn, urn, surname, forename, born, year_group, sen, *flags_and_address = fields
            fsm, eal, social_worker, looked_after, young_carer, line1, line2, town, postcode = flags_and_address
            check = _Check(self.errors, (path, line))
            problem = _upn_problem(upn)
            if problem:
                check.fail(f"upn {upn!r}: {problem}")
            check.urn("school_urn", urn, self.known_urns)
            values = {
                "upn": upn,
                "surname": check.text("surname", surname, required=True),
                "forename": check.text("forename", forename, required=True),
                "date_of_birth": check.date("date_of_birth", born, self.today),
                "year_group": check.text("year_group", year_group, max_length=4),
                "sen": check.choice("sen", sen, SEN_VALUES),
                "fsm": check.yes_no("fsm", fsm),
                "eal": check.yes_no("eal", eal),
                "social_worker": check.yes_no("social_worker", social_worker),
                "looked_after": check.yes_no("looked_after", looked_after),
                "young_carer": check.yes_no("young_carer", young_carer),
                "address_line1": line1,
                "address_line2": line2,
                "town": town,
                "postcode": postcode,
            }
            if check.ok:
                self.keep_one(self.pupils, upn, f"upn {upn!r}", check.where, urn, values)

    def check_contacts(self, path: str, rows: Rows) -> None:
        for line, fields in rows:
            upn, ref, title, forename, surname, relationship, responsibility, lives_with, *rest = fields
            line1, line2, town, postcode, email, phone, confidential = rest
            check = _Check(self.errors, (path, line))
            check.upn("upn", upn, self.known_upns)
            person = {
                "contact_ref": check.text("contact_ref", ref, required=True, max_length=64),
                "title": title,
                "forename": forename,
                "surname": check.text("surname", surname, required=True),
                "address_line1": line1,
                "address_line2": line2,
                "town": town,
                "postcode": postcode,
                "email": email,
                "phone": phone,
                "address_confidential": check.yes_no("address_confidential", confidential),
            }
            link = {
                "relationship": relationship,
                "parental_responsibility": check.yes_no("parental_responsibility", responsibility),
                "lives_with_pupil": check.yes_no("lives_with_pupil", lives_with),
            }
            if check.ok:
                self.contacts[ref] = person
                label = f"contact_ref {ref!r} for upn {upn!r}"
                self.keep_one(self.links, (upn, ref), label, check.where, link)

    def check_marks(self, path: str, rows: Rows) -> None:
        """The hot loop of a daily upload: every repeated lookup is cached."""
        upns, urns, today, errors = self.known_upns, self.known_urns, self.today, self.errors
        days: dict[str, date | str] = {}
        slots: dict[tuple[str, str], tuple[int, int]] = {}
        stored_chars: dict[tuple[str, str], str | codes.CodeError] = {}
        for line, (upn, urn, day_text, session, code) in rows:
            where = (path, line)
            if upn not in upns or urn not in urns:
                check = _Check(errors, where)
                check.upn("upn", upn, upns)
                check.urn("school_urn", urn, urns)
                continue
            day = days.get(day_text)
            if day is None:
                day = days[day_text] = _past_date("date", day_text, today)
            if isinstance(day, str):
                errors.add(where, day)
                continue
            if session not in SESSIONS:
                errors.add(where, f"session {session!r}: must be AM or PM")
                continue
            char = stored_chars.get((code, day_text))
            if char is None:
                try:
                    char = codes.validate(code, day)
                except codes.CodeError as exc:
                    char = exc
                stored_chars[code, day_text] = char
            if isinstance(char, codes.CodeError):
                errors.add(where, f"code {code!r}: {char}")
                continue
            slot = slots.get((day_text, session))
            if slot is None:
                year = academic_year(day)
                slot = slots[day_text, session] = (year, session_index(year_start(year), day, session))
            year, index = slot
            group = self.marks[upn, urn, year]
            earlier = group.get(index)
            if earlier is None:
                group[index] = (char, where)
            elif earlier[0] != char:
                errors.add(
                    where,
                    f"code {code!r} for upn {upn!r} at school {urn} on {day_text} {session} conflicts with "
                    f"code {codes.decode(earlier[0])!r} on {_at(earlier[1])}",
                )

    def check_notices(self, path: str, rows: Rows) -> None:
        for line, (ref, upn, contact_ref, issued, start, end, status, amount, paid) in rows:
            check = _Check(self.errors, (path, line))
            check.text("pn_ref", ref, required=True, max_length=20)
            check.upn("upn", upn, self.known_upns)
            if upn in self.known_upns and (upn, contact_ref) not in self.contact_of:
                check.fail(f"contact_ref {contact_ref!r}: not a contact of pupil {upn}")
            issued_on = check.date("issued_on", issued, self.today)
            offence_start = check.date("offence_start", start, self.today)
            offence_end = check.date("offence_end", end, self.today)
            if offence_start and offence_end and offence_start > offence_end:
                check.fail(f"offence_end {end!r}: before offence_start {start}")
            check.choice("status", status, IMPORTED_PN_STATUSES)
            amount_paid = check.money("amount_paid", amount)
            paid_on = check.optional_date("paid_on", paid, self.today)
            payment_due = (
                "status is 'paid'" if status == "paid"
                else "amount_paid is given" if amount
                else "paid_on is given" if paid
                else ""
            )
            for column, value in (("amount_paid", amount), ("paid_on", paid)):
                if payment_due and not value:
                    check.fail(f"{column} is required when {payment_due}")
            if paid_on and issued_on and paid_on < issued_on:
                check.fail(f"paid_on {paid!r}: before issued_on {issued}")
            if not check.ok:
                continue
            payments = ((paid_on, amount_paid),) if amount_paid else ()
            notice = (upn, contact_ref, issued_on, offence_start, offence_end, status, payments)
            stored = self.stored_notices.get(ref)
            if stored and stored != notice:
                check.fail(f"pn_ref {ref!r}: already recorded with different data ({_differences(stored, notice)})")
            else:
                self.keep_one(self.notices, ref, f"pn_ref {ref!r}", check.where, notice)

    def load_links(self) -> set[tuple[str, str]]:
        link, pupil, contact = _table(PupilContact), _table(Pupil), _table(Contact)
        query = select(pupil.c.upn, contact.c.contact_ref).select_from(link).join(pupil).join(contact)
        return {(upn, contact_ref) for upn, contact_ref in self.session.execute(query)}

    def load_notices(self) -> dict[str, tuple]:
        notice, pupil, contact, payment = _table(PenaltyNotice), _table(Pupil), _table(Contact), _table(Payment)
        payments: dict[str, list] = defaultdict(list)
        paid = select(notice.c.ref, payment.c.paid_on, payment.c.amount).select_from(payment).join(notice)
        for ref, paid_on, amount in self.session.execute(paid.order_by(payment.c.paid_on, payment.c.id)):
            payments[ref].append((paid_on, amount))
        query = select(
            notice.c.ref, pupil.c.upn, contact.c.contact_ref, notice.c.issued_on, notice.c.offence_start,
            notice.c.offence_end, notice.c.status,
        ).select_from(notice).join(pupil).join(contact)
        return {ref: (*row, tuple(payments[ref])) for ref, *row in self.session.execute(query)}

    def write(self) -> None:
        summary, session = self.summary, self.session
        school_table, pupil_table, contact_table = _table(School), _table(Pupil), _table(Contact)
        wanted_schools = {urn: values for urn, (_, values) in self.schools.items()}
        summary.schools_created, summary.schools_updated, summary.schools_unchanged = _upsert(
            session, school_table, wanted_schools, self.stored_schools
        )
        school_ids = _ids(session, school_table.c.urn)
        wanted_pupils = {
            upn: {**values, "school_id": school_ids[urn]} for upn, (_, urn, values) in self.pupils.items()
        }
        summary.pupils_created, summary.pupils_updated, summary.pupils_unchanged = _upsert(
            session, pupil_table, wanted_pupils, self.stored_pupils
        )
        pupil_ids = _ids(session, pupil_table.c.upn) if self.pupils else {
            upn: row.id for upn, row in self.stored_pupils.items()
        }
        if self.contacts:
            self.write_contacts(pupil_ids)
        if self.marks:
            self.write_marks(pupil_ids, school_ids)
        if self.notices:
            self.write_notices(pupil_ids, _ids(session, contact_table.c.contact_ref))

    def write_contacts(self, pupil_ids: dict[str, int]) -> None:
        summary, session = self.summary, self.session
        contact_table, link_table = _table(Contact), _table(PupilContact)
        stored_contacts = {row.contact_ref: row for row in session.execute(select(contact_table))}
        summary.contacts_created, summary.contacts_updated, summary.contacts_unchanged = _upsert(
            session, contact_table, self.contacts, stored_contacts
        )
        contact_ids = _ids(session, contact_table.c.contact_ref)
        stored_links = {(row.pupil_id, row.contact_id): row for row in session.execute(select(link_table))}
        wanted_links = {}
        for (upn, ref), (_, link) in self.links.items():
            pupil_id, contact_id = pupil_ids[upn], contact_ids[ref]
            basis = _s576_basis(link["parental_responsibility"], link["lives_with_pupil"])
            wanted_links[pupil_id, contact_id] = {
                "pupil_id": pupil_id, "contact_id": contact_id, **link, "s576_basis": basis,
            }
        summary.links_created, summary.links_updated, summary.links_unchanged = _upsert(
            session, link_table, wanted_links, stored_links
        )

    def write_marks(self, pupil_ids: dict[str, int], school_ids: dict[str, int]) -> None:
        summary, session = self.summary, self.session
        register = _table(RegisterYear)
        years = {year for _, _, year in self.marks}
        query = select(
            register.c.id, register.c.pupil_id, register.c.school_id, register.c.academic_year, register.c.marks
        ).where(register.c.academic_year.in_(years))
        stored = {
            (pupil, school, year): (row_id, marks) for row_id, pupil, school, year, marks in session.execute(query)
        }
        new_rows, changed_rows, history = [], [], []
        changed_at = clock.now()
        for (upn, urn, year), group in self.marks.items():
            pupil_id, school_id = pupil_ids[upn], school_ids[urn]
            row_id, marks = stored.get((pupil_id, school_id, year), (None, ""))
            marks = marks.ljust(max(group) + 1, codes.NO_MARK)
            replaced: dict[int, str] = {}
            for index, (char, (path, _)) in group.items():
                old = marks[index]
                if old == char:
                    summary.marks_unchanged += 1
                    continue
                replaced[index] = char
                if old == codes.NO_MARK:
                    summary.marks_added += 1
                    continue
                summary.marks_changed += 1
                day, session_name = session_at(year_start(year), index)
                history.append({
                    "pupil_id": pupil_id, "school_id": school_id, "date": day, "session": session_name,
                    "old_code": codes.decode(old), "new_code": codes.decode(char), "changed_at": changed_at,
                    "changed_by": self.actor, "source": self.sources[path],
                })
            if not replaced:
                continue
            summary.marks_written_for.add(pupil_id)
            if row_id is None:
                new_rows.append({
                    "pupil_id": pupil_id, "school_id": school_id, "academic_year": year,
                    "start_date": year_start(year), "marks": _with_marks(marks, replaced),
                })
            else:
                changed_rows.append({"row_id": row_id, "marks": _with_marks(marks, replaced)})
        if new_rows:
            session.execute(insert(register), new_rows)
        if changed_rows:
            session.execute(update(register).where(register.c.id == bindparam("row_id")), changed_rows)
        if history:
            session.execute(insert(_table(MarkChange)), history)
            summary.mark_changes = history

    def write_notices(self, pupil_ids: dict[str, int], contact_ids: dict[str, int]) -> None:
        session, notice_table = self.session, _table(PenaltyNotice)
        new = {ref: notice for ref, (_, notice) in self.notices.items() if ref not in self.stored_notices}
        self.summary.penalty_notices_created = len(new)
        self.summary.penalty_notices_unchanged = len(self.notices) - len(new)
        if not new:
            return
        session.execute(insert(notice_table), [
            {
                "ref": ref, "case_id": None, "pupil_id": pupil_ids[upn], "contact_id": contact_ids[contact_ref],
                "issued_on": issued_on, "offence_start": offence_start, "offence_end": offence_end, "reason": "",
                "amount_full": IMPORTED_PN_FULL_AMOUNT, "amount_reduced": _reduced_rate(payments),
                "status": status, "prosecuted": status == "prosecuted", "source": "import",
            }
            for ref, (upn, contact_ref, issued_on, offence_start, offence_end, status, payments) in new.items()
        ])
        notice_ids = _ids(session, notice_table.c.ref)
        recorded_at = clock.now()
        payments = [
            {"penalty_notice_id": notice_ids[ref], "paid_on": paid_on, "amount": amount,
             "recorded_at": recorded_at, "recorded_by": self.actor}
            for ref, notice in new.items()
            for paid_on, amount in notice[-1]
        ]
        if payments:
            session.execute(insert(_table(Payment)), payments)


def _with_marks(marks: str, replaced: dict[int, str]) -> str:
    """`marks` with the characters at the given indices replaced, copying the string once."""
    pieces, start = [], 0
    for index in sorted(replaced):
        pieces += (marks[start:index], replaced[index])
        start = index + 1
    pieces.append(marks[start:])
    return "".join(pieces)


def _reduced_rate(payments: tuple) -> Decimal | None:
    """A notice paid at exactly the national reduced rate had one; otherwise the old system's rate is unknown."""
    return REDUCED_RATE if any(amount == REDUCED_RATE for _, amount in payments) else None


_NOTICE_FIELDS = ("upn", "contact_ref", "issued_on", "offence_start", "offence_end", "status", "payments")


def _differences(stored: tuple, given: tuple) -> str:
    return "; ".join(
        f"{name} {_shown(old)!r} in the database, {_shown(new)!r} in the file"
        for name, old, new in zip(_NOTICE_FIELDS, stored, given)
        if old != new
    )


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return "; ".join(f"{amount} on {paid_on}" for paid_on, amount in value) or "no payment"
    return str(value)
