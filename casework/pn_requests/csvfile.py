"""Many requests in one CSV file: one row per child; rows sharing a `request` value (brothers and sisters) are one
request, whose reason, dates, evidence statements and details come from its first row (later rows leave them blank or
repeat them exactly). Evidence is given as statements here; files can be added by making the request on the form."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime

from ..services.errors import Blocked
from .conduct import CodeOfConduct
from .submit import Draft, EvidenceGiven

FIXED = ("request", "upn", "reason", "first_day", "last_day")
TAIL = ("details",)
SHARED = ("reason", "first_day", "last_day")  # with the evidence columns and details: one value per request
MAX_ROWS = 5000


def columns(conduct: CodeOfConduct) -> tuple[str, ...]:
    return FIXED + tuple(conduct.evidence) + TAIL


def template(conduct: CodeOfConduct) -> str:
    """A CSV file with the header and two example requests (one of them for two siblings)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns(conduct))
    statements = {kind: "" for kind in conduct.evidence}
    example = {**statements, "no_leave_request": "No request for leave was made; the family told the class teacher",
               "warning": "Attendance policy sent to all parents on 4 Sep 2026",
               "registration_certificate": "Signed register extract held at the school"}
    for label, upn, extra in (("Brook", "A926200026001", example), ("Brook", "A926200026002", statements),
                              ("", "B926200026003", example)):
        writer.writerow([label, upn, "holiday", "2026-09-14", "2026-09-18",
                         *[extra.get(kind, "") for kind in conduct.evidence], ""])
    return out.getvalue()


def _date(value: str) -> date | None:
    value = value.strip()
    for form in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, form).date()
        except ValueError:
            continue
    return None


def _read_rows(text: str, conduct: CodeOfConduct) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    wanted = columns(conduct)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in wanted if c not in header]
    extra = [h for h in header if h not in wanted]
    if missing or extra:
        raise Blocked([f"Line 1: the header must be {','.join(wanted)}"
                       + (f" (missing {', '.join(missing)})" if missing else "")
                       + (f" (not expected: {', '.join(extra)})" if extra else "")])
    reader.fieldnames = header
    rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None})
            for row in reader if any((v or "").strip() for v in row.values() if isinstance(v, str))]
    if not rows:
        raise Blocked(["The file has no requests: add one row for each child"])
    if len(rows) > MAX_ROWS:
        raise Blocked([f"The file has {len(rows)} rows; upload at most {MAX_ROWS} at a time"])
    return rows


def _group(rows: list[tuple[int, dict]]) -> list[list[tuple[int, dict]]]:
    groups: dict[str, list] = {}
    order = []
    for line, row in rows:
        key = row["request"].lower() or f"\0{line}"
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((line, row))
    return [groups[k] for k in order]


def _label(group: list[tuple[int, dict]]) -> str:
    lines = [line for line, _ in group]
    if len(lines) == 1:
        return f"Line {lines[0]}"
    return f"Request {group[0][1]['request']} (lines {', '.join(map(str, lines))})"


def _disagreements(group: list[tuple[int, dict]], shared: tuple[str, ...]) -> list[str]:
    first_line, first = group[0]
    return [f"Line {line}: {column} differs from line {first_line} of request {first['request']}; leave it blank "
            "or repeat it exactly" for line, row in group[1:] for column in shared
            if row[column] and row[column] != first[column]]


def _draft(group: list[tuple[int, dict]], conduct: CodeOfConduct, headteacher: str, confirmed: bool
           ) -> tuple[Draft, list[str]]:
    first_line, first = group[0]
    problems = []
    for column in ("first_day", "last_day"):
        if first[column] and _date(first[column]) is None:
            problems.append(f"Line {first_line}: {column} {first[column]!r} is not a date (use 2026-09-14 or "
                            "14/09/2026)")
    if first["reason"] and first["reason"] not in conduct.reasons:
        problems.append(f"Line {first_line}: reason must be one of {', '.join(conduct.reasons)}")
    evidence = tuple(EvidenceGiven(kind, first[kind]) for kind in conduct.evidence if first[kind])
    draft = Draft(upns=tuple(row["upn"] for _, row in group), reason=first["reason"],
                  period_start=_date(first["first_day"]), period_end=_date(first["last_day"]), evidence=evidence,
                  headteacher=headteacher, confirmed=confirmed, details=first["details"])
    return draft, problems


def parse(text: str, conduct: CodeOfConduct, headteacher: str, confirmed: bool) -> list[tuple[str, Draft]]:
    """(label, draft) for each request in the file; Blocked lists every malformed line (nothing is judged yet)."""
    rows = _read_rows(text, conduct)
    shared = SHARED + tuple(conduct.evidence) + TAIL
    drafts, problems = [], []
    for group in _group(rows):
        problems += _disagreements(group, shared)
        problems += [f"Line {line}: upn is empty" for line, row in group if not row["upn"]]
        draft, bad = _draft(group, conduct, headteacher, confirmed)
        problems += bad
        drafts.append((_label(group), draft))
    if problems:
        raise Blocked(problems)
    return drafts
