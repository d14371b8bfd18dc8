"""Imports (schools, pupils, contacts, marks, earlier penalty notices) from CSV files, CTF files or rows in memory.

One call is all or nothing: every input is read and checked before anything is written, so a rejected import leaves
the session untouched. Rows given in memory (`RecordBatch`) and CTF files (`ctf.py`) become the rows of the CSV kinds
and pass the same checks, so a problem is reported the same way wherever it came from.
Rows are compared with what is stored, so importing the same data twice changes nothing. Writes are bulk
statements (one executemany per table), never one ORM object per row: a county's day of marks is ~260,000 rows.
"""
from __future__ import annotations

import csv
import io
import math
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import Table, bindparam, insert, select, update
from sqlmodel import Session
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.gb import upn as upn_number

from . import clock, ctf
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
    Setting,
)
from .register import codes
from .register.marks import SESSIONS, academic_year, session_at, session_index, year_end, year_start

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
PUPIL_DEFAULTS = {
    "year_group": "", "sen": "none", "fsm": "no", "eal": "no", "social_worker": "no", "looked_after": "no",
    "young_carer": "no", "address_line1": "", "address_line2": "", "town": "", "postcode": "",
}
CONTACT_DEFAULTS = {"email": "", "phone": "", "address_confidential": "no"}
NO_MARK_TOKENS = ("-", "")
IMPORTED_PN_STATUSES = ("paid", "unpaid", "withdrawn", "prosecuted")
IMPORTED_PN_FULL_AMOUNT = Decimal("160.00")
REDUCED_RATE = Decimal("80.00")
CENTS = Decimal("0.01")

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONEY = re.compile(r"\d{1,8}(\.\d{1,2})?")

Where = tuple[str, int]
Rows = list[tuple[int, list[str]]]


@dataclass(frozen=True)
class Problem:
    """One reason an import was rejected: where (source and line), the field (CSV column or CTF element) if one."""

    source: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


class ImportFailed(Exception):
    """The import was rejected and nothing was written; `problems` holds the first 100 of `count` problems."""

    def __init__(self, problems: list[Problem], count: int | None = None):
        self.problems = problems
        self.count = len(problems) if count is None else count
        super().__init__("\n".join(self.errors))

    @property
    def errors(self) -> list[str]:
        """The problems as `FILE:LINE: message` lines, then `... and N more` past the first 100."""
        hidden = self.count - len(self.problems)
        return [str(problem) for problem in self.problems] + ([f"... and {hidden} more"] if hidden else [])


class HeaderError(ValueError):
    """A header row that is not exactly one kind's header; `problems` holds one message per problem."""

    def __init__(self, problems: list[tuple[str | None, str]]):
        super().__init__("; ".join(message for _, message in problems))
        self.problems = [message for _, message in problems]
        self.fields = [column for column, _ in problems]


@dataclass
class RecordBatch:
    """Rows of one import kind given in memory: string values keyed by that kind's CSV header names."""

    source: str
    kind: str
    rows: list[dict[str, str]]
    first_line: int = 2


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
        files = f" from {self.files} file{'' if self.files == 1 else 's'}" if self.files else ""
        lines = [f"{self.rows} rows read{files}"]
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


def _header_problems(header: list[str]) -> list[tuple[str | None, str]]:
    given = set(header)

    def closeness(kind: str) -> tuple[int, int]:
        expected = set(HEADERS[kind])
        return len(given & expected), -len(given ^ expected)

    kind = max(KINDS, key=closeness)
    expected = HEADERS[kind]
    if not given & set(expected):
        kinds = "; ".join(f"{name}: {','.join(columns)}" for name, columns in HEADERS.items())
        return [(None, f"header {','.join(header)!r} matches no import kind; expected one of {kinds}")]
    problems = [(column, f"missing column {column!r}") for column in expected if column not in given]
    problems += [(column, f"unexpected column {column!r}") for column in dict.fromkeys(header) if column not in expected]
    problems += [(column, f"duplicate column {column!r}") for column in expected if header.count(column) > 1]
    if not problems:
        problems.append((None, "columns are in a different order"))
    problems.append((None, f"the {kind} header is {','.join(expected)}"))
    return problems


def import_files(session: Session, paths: list[str], actor: str = "import", today: date | None = None,
                 progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Import CSV files and CTF XML files (*.xml) as one call: every file, or nothing (ImportFailed)."""
    sources = {path: Path(path).name for path in paths}
    run = _Import(session, actor, today, sources, _Progress(progress, sum(map(_size, paths))))
    return run.run(lambda: run.read_files(paths))


def import_records(session: Session, batches: list[RecordBatch], actor: str = "import", today: date | None = None,
                   progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Import rows given in memory as one call, checked as the CSV files of their kinds: all, or nothing."""
    sources = {batch.source: batch.source for batch in batches}
    run = _Import(session, actor, today, sources, _Progress(progress, sum(len(batch.rows) for batch in batches)))
    return run.run(lambda: run.read_batches(batches))


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


class _Progress:
    """Reports `(done, total)` about every 1 % over three passes (read, check, write) of an input of `size` units."""

    PASSES = 3

    def __init__(self, report: Callable[[int, int], None] | None, size: int):
        self.report = report
        self.size = max(size, 1)
        self.total = self.PASSES * self.size
        self.step = max(1, self.total // 100)
        self.reported = 0
        self.start_pass(0, size)

    def start_pass(self, number: int, units: int) -> None:
        """Begin pass `number`, whose work is `units` (rows, bytes or marks)."""
        self.base, self.per_unit, self.units = number * self.size, self.size / max(units, 1), 0

    def advance(self, units: int) -> None:
        self.units += units
        done = min(self.base + int(self.units * self.per_unit), self.total)
        if self.report and done - self.reported >= self.step:
            self.reported = done
            self.report(done, self.total)

    def slices(self, items: list) -> Iterator[list]:
        """`items` in parts of about 1 % of the whole import, advancing after each (all at once if none listens)."""
        part = max(1, math.ceil(self.step / self.per_unit)) if self.report else max(len(items), 1)
        for start in range(0, len(items), part):
            chunk = items[start:start + part]
            yield chunk
            self.advance(len(chunk))

    def finish(self) -> None:
        if self.report:
            self.report(self.total, self.total)


def _at(where: Where) -> str:
    return f"{where[0]}:{where[1]}"


class _Problems:
    def __init__(self) -> None:
        self.count = 0
        self.kept: list[Problem] = []

    def add(self, where: Where, field: str | None, message: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_ERRORS:
            self.kept.append(Problem(where[0], where[1], field, message))


class _Check:
    """Parses the fields of one row, recording one problem per bad field; `ok` stays true if none was bad."""

    def __init__(self, problems: _Problems, where: Where):
        self.problems = problems
        self.where = where
        self.ok = True

    def fail(self, field: str | None, message: str) -> None:
        self.ok = False
        self.problems.add(self.where, field, message)

    def text(self, column: str, value: str, required: bool = False, max_length: int | None = None) -> str:
        if required and not value:
            self.fail(column, f"{column} is required")
        elif max_length is not None and len(value) > max_length:
            self.fail(column, f"{column} {value!r}: at most {max_length} characters")
        return value

    def digits(self, column: str, value: str, count: int) -> str:
        if not _is_digits(value, count):
            self.fail(column, f"{column} {value!r}: must be {count} digits")
        return value

    def choice(self, column: str, value: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            self.fail(column, f"{column} {value!r}: must be one of {', '.join(allowed)}")
        return value

    def yes_no(self, column: str, value: str) -> bool:
        if value not in ("yes", "no"):
            self.fail(column, f"{column} {value!r}: must be 'yes' or 'no'")
        return value == "yes"

    def date(self, column: str, value: str, today: date) -> date | None:
        day = _past_date(column, value, today)
        if isinstance(day, str):
            self.fail(column, day)
            return None
        return day

    def optional_date(self, column: str, value: str, today: date) -> date | None:
        return self.date(column, value, today) if value else None

    def money(self, column: str, value: str) -> Decimal | None:
        if not value:
            return None
        if not _MONEY.fullmatch(value):
            self.fail(column, f"{column} {value!r}: must be an amount such as 80.00")
            return None
        amount = Decimal(value).quantize(CENTS)
        if not amount:
            self.fail(column, f"{column} {value!r}: must be more than 0.00")
        return amount

    def upn(self, column: str, value: str, known: set[str] | dict[str, Any]) -> str:
        if value not in known:
            problem = _upn_problem(value)
            self.fail(column, f"{column} {value!r}: {problem or 'unknown pupil'}")
        return value

    def urn(self, column: str, value: str, known: set[str] | dict[str, Any]) -> str:
        if value not in known:
            problem = "unknown school" if _is_digits(value, 6) else "must be 6 digits"
            self.fail(column, f"{column} {value!r}: {problem}")
        return value


EARLIEST_DATE = date(1990, 1, 1)  # no pupil, mark or notice this system holds is older


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
    if day < EARLIEST_DATE:
        return f"{column} {value!r} is before {EARLIEST_DATE.isoformat()}"
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


def _read_csv(source: str, data: bytes, problems: _Problems, progress: _Progress) -> tuple[str, Rows] | None:
    """The kind and the (line, fields) rows of one CSV file; None (with problems recorded) if it cannot be used."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add((source, data[: exc.start].count(b"\n") + 1), None, "not valid UTF-8")
        return None
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        problems.add((source, 1), None, "the file is empty; a header row is required")
        return None
    try:
        kind = detect_kind([column.strip() for column in header])
    except HeaderError as exc:
        for column, message in zip(exc.fields, exc.problems):
            problems.add((source, 1), column, message)
        return None
    width = len(header)
    rows: Rows = []
    line = reader.line_num + 1
    position = stream.tell()
    report_every = max(1, text.count("\n") // 100)
    try:
        for fields in reader:
            if len(fields) == width:
                rows.append((line, list(map(str.strip, fields))))
            elif fields:
                problems.add((source, line), None, f"expected {width} fields, found {len(fields)}")
            line = reader.line_num + 1
            if not line % report_every:
                progress.advance(stream.tell() - position)
                position = stream.tell()
    except csv.Error as exc:
        problems.add((source, line), None, f"malformed CSV: {exc}")
    progress.advance(len(data) - position)
    return kind, rows


def _fields_of(batch: RecordBatch, part: list[dict[str, str]], first_line: int, problems: _Problems) -> Rows:
    """Rows of a batch as (line, fields in header order); a row with missing, extra or non-text values is left out."""
    columns = HEADERS[batch.kind]
    expected = set(columns)
    rows: Rows = []
    for line, row in enumerate(part, first_line):
        where = (batch.source, line)
        bad = [(column, f"missing field {column!r}") for column in columns if column not in row]
        bad += [(key, f"unexpected field {key!r}") for key in row if key not in expected]
        bad += [(key, f"{key} {value!r}: must be text") for key, value in row.items() if not isinstance(value, str)]
        for column, message in bad:
            problems.add(where, column, message)
        if not bad:
            rows.append((line, [row[column].strip() for column in columns]))
    return rows


def _csv_value(value: Any) -> str:
    """A stored value as its CSV text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def _stored_values(row: Any, columns: tuple[str, ...]) -> dict[str, str]:
    """The CSV text of a stored row's values in those of `columns` that its table has."""
    return {column: _csv_value(row._mapping[column]) for column in columns if column in row._mapping}


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
    """One import call: what is stored, what the inputs hold, and the problems found."""

    def __init__(self, session: Session, actor: str, today: date | None, sources: dict[str, str],
                 progress: _Progress):
        self.session = session
        self.actor = actor
        self.today = today or clock.today()
        self.sources = sources  # each input's name in the mark history, by the source its problems name
        self.progress = progress
        self.problems = _Problems()
        self.summary = ImportSummary()
        self.inputs: dict[str, list[tuple[str, Rows]]] = defaultdict(list)
        self.ctf_files: list[tuple[str, ctf.CtfContent]] = []
        self.schools: dict[str, tuple[Where, dict]] = {}
        self.pupils: dict[str, tuple[Where, str, dict]] = {}
        self.contacts: dict[str, dict] = {}
        self.links: dict[tuple[str, str], tuple[Where, dict]] = {}
        self.marks: dict[tuple[str, str, int], dict[int, tuple[str, Where]]] = defaultdict(dict)
        self.notices: dict[str, tuple[Where, tuple]] = {}
        self.unknown_schools: set[tuple[str, str, str]] = set()

    def run(self, read: Callable[[], None]) -> ImportSummary:
        """Read and check everything, then write it all (in dependency order); ImportFailed with every problem otherwise."""
        self.session.flush()
        with collector_paused():
            read()
            self.check()
            if self.problems.count:
                raise ImportFailed(self.problems.kept, self.problems.count)
            self.write()
        self.session.expire_all()
        self.progress.finish()
        return self.summary

    def read_files(self, paths: list[str]) -> None:
        for path in paths:
            self.summary.files += 1
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                self.problems.add((path, 1), None, f"cannot read the file: {exc.strerror}")
                continue
            if path.lower().endswith(".xml"):
                self.read_ctf(path, data)
                continue
            read = _read_csv(path, data, self.problems, self.progress)
            if read is not None:
                kind, rows = read
                self.inputs[kind].append((path, rows))
                self.summary.rows += len(rows)

    def read_ctf(self, path: str, data: bytes) -> None:
        try:
            content = ctf.read_ctf(data, self.progress.advance)
        except ctf.Unreadable as exc:
            self.problems.add((path, exc.line), exc.field, exc.message)
            return
        for line, field_name, message in content.problems:
            self.problems.add((path, line), field_name, message)
        self.ctf_files.append((path, content))

    def read_batches(self, batches: list[RecordBatch]) -> None:
        for batch in batches:
            if batch.kind not in HEADERS:
                where = (batch.source, max(batch.first_line - 1, 1))
                self.problems.add(where, None, f"kind {batch.kind!r}: must be one of {', '.join(KINDS)}")
                continue
            rows: Rows = []
            line = batch.first_line
            for part in self.progress.slices(batch.rows):
                rows += _fields_of(batch, part, line, self.problems)
                line += len(part)
            self.inputs[batch.kind].append((batch.source, rows))
            self.summary.rows += len(batch.rows)

    def check(self) -> None:
        inputs = self.inputs
        school_table, pupil_table = _table(School), _table(Pupil)
        self.stored_schools = {row.urn: row for row in self.session.execute(select(school_table))}
        whole_pupils = inputs.get("pupils") or self.ctf_files
        pupil_columns = [pupil_table] if whole_pupils else [pupil_table.c.id, pupil_table.c.upn]
        self.stored_pupils = {row.upn: row for row in self.session.execute(select(*pupil_columns))}
        ctf_units = sum(
            len(content.pupils) + len(content.contacts) + sum(len(run.tokens) for run in content.attendance)
            for _, content in self.ctf_files
        )
        self.progress.start_pass(1, sum(len(rows) for files in inputs.values() for _, rows in files) + ctf_units)

        def check_each(kind: str, check_rows: Callable[[str, Rows], None]) -> None:
            for source, rows in inputs.get(kind, ()):
                for part in self.progress.slices(rows):
                    check_rows(source, part)

        check_each("schools", self.check_schools)
        self.known_urns = self.stored_schools.keys() | self.schools.keys()
        self.dfe_numbers = self.school_by_dfe_number() if self.ctf_files else {}
        for source, content in self.ctf_files:
            self.add_ctf_rows(source, content)
        check_each("pupils", self.check_pupils)
        self.known_upns = self.stored_pupils.keys() | self.pupils.keys()
        check_each("contacts", self.check_contacts)
        check_each("marks", self.check_marks)
        for source, content in self.ctf_files:
            self.check_attendance(source, content.attendance)
        if inputs.get("penalty_notices"):
            self.stored_notices = self.load_notices()
            self.contact_of = self.load_links() | self.links.keys()
            check_each("penalty_notices", self.check_notices)

    def school_by_dfe_number(self) -> dict[tuple[str, str], list[str]]:
        """The URNs of the stored and imported schools by (LA number, establishment number)."""
        urns: dict[tuple[str, str], list[str]] = defaultdict(list)
        for urn, row in self.stored_schools.items():
            if urn not in self.schools:
                urns[row.la_code, row.estab].append(urn)
        for urn, (_, values) in self.schools.items():
            urns[values["la_code"], values["estab"]].append(urn)
        return urns

    def school_at(self, source: str, line: int, element: str, lea: str, estab: str) -> str | None:
        """The URN of the school with this DfE number, or None with a problem (once per file and number)."""
        urns = self.dfe_numbers.get((lea, estab), [])
        if len(urns) == 1:
            return urns[0]
        if (source, lea, estab) not in self.unknown_schools:
            self.unknown_schools.add((source, lea, estab))
            found = f"matches schools {', '.join(sorted(urns))}" if urns else "matches no school"
            self.problems.add((source, line), "Estab", f"{element} LEA {lea!r} Estab {estab!r}: {found}")
        return None

    def add_ctf_rows(self, source: str, content: ctf.CtfContent) -> None:
        """Add a CTF's pupils and contacts as pupils and contacts rows; fields it does not carry keep stored values."""
        urn = self.school_at(source, content.school_line, "SourceSchool", *content.school)
        if urn is None:
            return
        pupil_columns = HEADERS["pupils"]
        pupils: Rows = []
        for line, given in content.pupils:
            stored = self.stored_pupils.get(given["upn"])
            base = _stored_values(stored, pupil_columns) if stored else PUPIL_DEFAULTS
            values = {**base, **given, "school_urn": urn}
            pupils.append((line, [values[column] for column in pupil_columns]))
        self.inputs["pupils"].append((source, pupils))
        refs = list({given["contact_ref"] for _, given in content.contacts})
        stored_contacts = self.load_contacts(refs)
        contact_columns = HEADERS["contacts"]
        contacts: Rows = []
        for line, given in content.contacts:
            stored = stored_contacts.get(given["contact_ref"])
            base = _stored_values(stored, contact_columns) if stored else {}
            values = {**CONTACT_DEFAULTS, **base, **given}
            contacts.append((line, [values[column] for column in contact_columns]))
        self.inputs["contacts"].append((source, contacts))
        self.summary.rows += len(pupils) + len(contacts)

    def load_contacts(self, refs: list[str]) -> dict[str, Any]:
        contact = _table(Contact)
        found = {}
        for start in range(0, len(refs), 500):
            query = select(contact).where(contact.c.contact_ref.in_(refs[start:start + 500]))
            found.update((row.contact_ref, row) for row in self.session.execute(query))
        return found

    def keep_one(self, seen: dict, key: Any, field: str, label: str, where: Where, *data: Any) -> None:
        """Record `data` under `key`, or a problem if another row of this call gave the key different data."""
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = (where, *data)
        elif earlier[1:] != data:
            self.problems.add(where, field, f"{label} is also on {_at(earlier[0])} with different data")

    def check_schools(self, path: str, rows: Rows) -> None:
        for line, (urn, name, la_code, estab, phase, independent) in rows:
            check = _Check(self.problems, (path, line))
            values = {
                "urn": check.digits("urn", urn, 6),
                "name": check.text("name", name, required=True),
                "la_code": check.digits("la_code", la_code, 3),
                "estab": check.digits("estab", estab, 4),
                "phase": check.choice("phase", phase, PHASES),
                "independent": check.yes_no("independent", independent),
            }
            if check.ok:
                self.keep_one(self.schools, urn, "urn", f"urn {urn!r}", check.where, values)

    def check_pupils(self, path: str, rows: Rows) -> None:
        for line, fields in rows:
            upn, urn, surname, forename, born, year_group, sen, *flags_and_address = fields
            fsm, eal, social_worker, looked_after, young_carer, line1, line2, town, postcode = flags_and_address
            check = _Check(self.problems, (path, line))
            problem = _upn_problem(upn)
            if problem:
                check.fail("upn", f"upn {upn!r}: {problem}")
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
                self.keep_one(self.pupils, upn, "upn", f"upn {upn!r}", check.where, urn, values)

    def check_contacts(self, path: str, rows: Rows) -> None:
        for line, fields in rows:
            upn, ref, title, forename, surname, relationship, responsibility, lives_with, *rest = fields
            line1, line2, town, postcode, email, phone, confidential = rest
            check = _Check(self.problems, (path, line))
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
                self.keep_one(self.links, (upn, ref), "contact_ref", label, check.where, link)

    def check_marks(self, path: str, rows: Rows) -> None:
        """The hot loop of a daily upload: every repeated lookup is cached."""
        upns, urns, today, problems = self.known_upns, self.known_urns, self.today, self.problems
        days: dict[str, date | str] = {}
        slots: dict[tuple[str, str], tuple[int, int]] = {}
        stored_chars: dict[tuple[str, str], str | codes.CodeError] = {}
        for line, (upn, urn, day_text, session, code) in rows:
            where = (path, line)
            if upn not in upns or urn not in urns:
                check = _Check(problems, where)
                check.upn("upn", upn, upns)
                check.urn("school_urn", urn, urns)
                continue
            day = days.get(day_text)
            if day is None:
                day = days[day_text] = _past_date("date", day_text, today)
            if isinstance(day, str):
                problems.add(where, "date", day)
                continue
            if session not in SESSIONS:
                problems.add(where, "session", f"session {session!r}: must be AM or PM")
                continue
            char = stored_chars.get((code, day_text))
            if char is None:
                try:
                    char = codes.validate(code, day)
                except codes.CodeError as exc:
                    char = exc
                stored_chars[code, day_text] = char
            if isinstance(char, codes.CodeError):
                problems.add(where, "code", f"code {code!r}: {char}")
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
                problems.add(where, "code", _conflict(upn, urn, year, index, char, earlier))

    def check_attendance(self, source: str, runs: list[ctf.AttendanceRun]) -> None:
        """A CTF's runs of marks, checked as the marks rows they stand for (one token per session)."""
        for run in runs:
            self.progress.advance(len(run.tokens))
            where = (source, run.line)
            urn = self.school_at(source, run.line, "YearData", run.lea, run.estab)
            if urn is None or run.upn not in self.known_upns:
                continue
            chars = self.run_chars(run, where)
            if chars is None:
                continue
            self.summary.rows += len(chars) - chars.count(None)
            year = academic_year(run.start)
            index = session_index(year_start(year), run.start, "AM")
            while chars:
                room = session_index(year_start(year), year_end(year), "PM") + 1 - index
                self.add_marks(run.upn, urn, year, index, chars[:room], where)
                chars, year, index = chars[room:], year + 1, 0

    def run_chars(self, run: ctf.AttendanceRun, where: Where) -> list[str | None] | None:
        """The stored character of each token up to today (None for no mark); None with problems if any is bad."""
        tokens = run.tokens
        up_to_today = max(session_index(run.start, self.today, "PM") + 1, 0)
        late = [token for token in tokens[up_to_today:] if token not in (*NO_MARK_TOKENS, "#")]
        if late:
            message = f"upn {run.upn!r}: {len(late)} marks are for sessions after {self.today} (first {late[0]!r})"
            self.problems.add(where, "AttendanceMarks", message)
            return None
        tokens = tokens[:up_to_today]
        retired_from = min(max(session_index(run.start, codes.RETIRED_FROM, "AM"), 0), len(tokens))
        chars: list[str | None] = []
        problems_before = self.problems.count
        for first, last in ((0, retired_from), (retired_from, len(tokens))):
            table: dict[str, str | None] = dict.fromkeys(NO_MARK_TOKENS)
            for token in set(tokens[first:last]) - table.keys():
                day, session = session_at(run.start, tokens.index(token, first))
                try:
                    table[token] = codes.validate(token, day)
                except codes.CodeError as exc:
                    self.problems.add(where, "code", f"code {token!r} for upn {run.upn!r} on {day} {session}: {exc}")
            if self.problems.count == problems_before:
                chars += map(table.__getitem__, tokens[first:last])
        return chars if self.problems.count == problems_before else None

    def add_marks(self, upn: str, urn: str, year: int, first: int, chars: list[str | None], where: Where) -> None:
        """Keep a run of stored characters from session `first` of a year; a problem where one conflicts."""
        group = self.marks[upn, urn, year]
        marked = ((index, char) for index, char in enumerate(chars, first) if char is not None)
        if not group:
            group.update((index, (char, where)) for index, char in marked)
            return
        for index, char in marked:
            earlier = group.setdefault(index, (char, where))
            if earlier[0] != char:
                self.problems.add(where, "code", _conflict(upn, urn, year, index, char, earlier))

    def check_notices(self, path: str, rows: Rows) -> None:
        for line, (ref, upn, contact_ref, issued, start, end, status, amount, paid) in rows:
            check = _Check(self.problems, (path, line))
            check.text("pn_ref", ref, required=True, max_length=20)
            check.upn("upn", upn, self.known_upns)
            if upn in self.known_upns and (upn, contact_ref) not in self.contact_of:
                check.fail("contact_ref", f"contact_ref {contact_ref!r}: not a contact of pupil {upn}")
            issued_on = check.date("issued_on", issued, self.today)
            offence_start = check.date("offence_start", start, self.today)
            offence_end = check.date("offence_end", end, self.today)
            if offence_start and offence_end and offence_start > offence_end:
                check.fail("offence_end", f"offence_end {end!r}: before offence_start {start}")
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
                    check.fail(column, f"{column} is required when {payment_due}")
            if paid_on and issued_on and paid_on < issued_on:
                check.fail("paid_on", f"paid_on {paid!r}: before issued_on {issued}")
            if not check.ok:
                continue
            payments = ((paid_on, amount_paid),) if amount_paid else ()
            notice = (upn, contact_ref, issued_on, offence_start, offence_end, status, payments)
            stored = self.stored_notices.get(ref)
            if stored and stored != notice:
                check.fail("pn_ref", f"pn_ref {ref!r}: already recorded with different data ({_differences(stored, notice)})")
            else:
                self.keep_one(self.notices, ref, "pn_ref", f"pn_ref {ref!r}", check.where, notice)

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
        summary, session, progress = self.summary, self.session, self.progress
        progress.start_pass(2, len(self.schools) + len(self.pupils) + len(self.links) + len(self.marks)
                            + len(self.notices))
        school_table, pupil_table, contact_table = _table(School), _table(Pupil), _table(Contact)
        wanted_schools = {urn: values for urn, (_, values) in self.schools.items()}
        summary.schools_created, summary.schools_updated, summary.schools_unchanged = _upsert(
            session, school_table, wanted_schools, self.stored_schools
        )
        progress.advance(len(self.schools))
        school_ids = _ids(session, school_table.c.urn)
        wanted_pupils = {
            upn: {**values, "school_id": school_ids[urn]} for upn, (_, urn, values) in self.pupils.items()
        }
        summary.pupils_created, summary.pupils_updated, summary.pupils_unchanged = _upsert(
            session, pupil_table, wanted_pupils, self.stored_pupils
        )
        progress.advance(len(self.pupils))
        pupil_ids = _ids(session, pupil_table.c.upn) if self.pupils else {
            upn: row.id for upn, row in self.stored_pupils.items()
        }
        if self.contacts:
            self.write_contacts(pupil_ids)
            progress.advance(len(self.links))
        if self.marks:
            self.write_marks(pupil_ids, school_ids)
        if self.notices:
            self.write_notices(pupil_ids, _ids(session, contact_table.c.contact_ref))
            progress.advance(len(self.notices))

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
        added = changed = unchanged = 0
        changed_at = clock.now()
        for part in self.progress.slices(list(self.marks.items())):
            for (upn, urn, year), group in part:
                pupil_id, school_id = pupil_ids[upn], school_ids[urn]
                row_id, marks = stored.get((pupil_id, school_id, year), (None, ""))
                marks = marks.ljust(max(group) + 1, codes.NO_MARK)
                replaced: dict[int, str] = {}
                for index, (char, (source, _)) in group.items():
                    old = marks[index]
                    if old == char:
                        unchanged += 1
                        continue
                    replaced[index] = char
                    if old == codes.NO_MARK:
                        added += 1
                        continue
                    changed += 1
                    day, session_name = session_at(year_start(year), index)
                    history.append({
                        "pupil_id": pupil_id, "school_id": school_id, "date": day, "session": session_name,
                        "old_code": codes.decode(old), "new_code": codes.decode(char), "changed_at": changed_at,
                        "changed_by": self.actor, "source": self.sources[source],
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
        summary.marks_added, summary.marks_changed, summary.marks_unchanged = added, changed, unchanged
        if new_rows:
            session.execute(insert(register), new_rows)
        if changed_rows:
            session.execute(update(register).where(register.c.id == bindparam("row_id")), changed_rows)
        if new_rows or changed_rows:
            registers_changed(session)
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


REGISTER_GENERATION = "register_generation"  # a Setting: a new value whenever marks are written


def registers_changed(session: Session) -> None:
    """Mark that registers have changed (new marks too, which no row id shows), so that figures worked out from them
    (the dashboard's) are worked out again. A fresh random value, so that two imports at once cannot leave it as
    either found it."""
    row = session.get(Setting, REGISTER_GENERATION) or Setting(key=REGISTER_GENERATION)
    row.value = uuid.uuid4().hex
    session.add(row)


def _conflict(upn: str, urn: str, year: int, index: int, char: str, earlier: tuple[str, Where]) -> str:
    day, session = session_at(year_start(year), index)
    return (f"code {codes.decode(char)!r} for upn {upn!r} at school {urn} on {day.isoformat()} {session} conflicts with "
            f"code {codes.decode(earlier[0])!r} on {_at(earlier[1])}")


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
