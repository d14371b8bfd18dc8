"""CSV imports: each kind, kind detection, row checks, all-or-nothing calls and idempotent re-imports."""
from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import func, select
from stdnum.gb import upn as upn_number

from casework.imports import (
    HEADERS,
    HeaderError,
    ImportFailed,
    Problem,
    RecordBatch,
    detect_kind,
    import_files,
    import_records,
)
from casework.models import Contact, MarkChange, Payment, PenaltyNotice, Pupil, PupilContact, RegisterYear, School
from casework.register.marks import session_index, year_start


def make_upn(serial: int, la: str = "926", estab: str = "2001", year: str = "15") -> str:
    """A valid UPN for a Norfolk school."""
    body = f"{la}{estab}{year}{serial:03d}"
    return upn_number.calc_check_digit(body) + body


UPN_1, UPN_2 = make_upn(1), make_upn(2)


def write_csv(tmp_path, name: str, rows: list[list[str]], header: tuple[str, ...] | list[str] | None = None) -> str:
    """A CSV file in tmp_path with the header of its kind (the file name without .csv) unless one is given."""
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header or HEADERS[name.removesuffix(".csv").rstrip("0123456789")])
        writer.writerows(rows)
    return str(path)


def school_row(urn: str = "121001", name: str = "Acle Primary", **changes) -> list[str]:
    row = {"urn": urn, "name": name, "la_code": "926", "estab": "2001", "phase": "primary", "independent": "no"}
    return list({**row, **changes}.values())


def pupil_row(upn: str = UPN_1, school_urn: str = "121001", **changes) -> list[str]:
    row = {
        "upn": upn, "school_urn": school_urn, "surname": "Smith", "forename": "Ava", "date_of_birth": "2015-03-02",
        "year_group": "6", "sen": "none", "fsm": "yes", "eal": "no", "social_worker": "no", "looked_after": "no",
        "young_carer": "no", "address_line1": "1 Mill Lane", "address_line2": "", "town": "Acle",
        "postcode": "NR13 3AA",
    }
    return list({**row, **changes}.values())


def contact_row(upn: str = UPN_1, contact_ref: str = "P1", **changes) -> list[str]:
    row = {
        "upn": upn, "contact_ref": contact_ref, "title": "Ms", "forename": "Jo", "surname": "Smith",
        "relationship": "mother", "parental_responsibility": "yes", "lives_with_pupil": "yes",
        "address_line1": "1 Mill Lane", "address_line2": "", "town": "Acle", "postcode": "NR13 3AA",
        "email": "jo@example.org", "phone": "01493 000000", "address_confidential": "no",
    }
    return list({**row, **changes}.values())


def notice_row(pn_ref: str = "OLD-1", **changes) -> list[str]:
    row = {
        "pn_ref": pn_ref, "upn": UPN_1, "contact_ref": "P1", "issued_on": "2025-02-03",
        "offence_start": "2024-11-04", "offence_end": "2025-01-17", "status": "paid", "amount_paid": "80.00",
        "paid_on": "2025-02-10",
    }
    return list({**row, **changes}.values())


@pytest.fixture()
def base_files(tmp_path) -> list[str]:
    """A school, two sibling pupils and their mother."""
    return [
        write_csv(tmp_path, "schools.csv", [school_row()]),
        write_csv(tmp_path, "pupils.csv", [pupil_row(UPN_1), pupil_row(UPN_2, forename="Ben")]),
        write_csv(tmp_path, "contacts.csv", [contact_row(UPN_1), contact_row(UPN_2)]),
    ]


@pytest.fixture()
def imported(session, base_files) -> list[str]:
    """The base files, imported."""
    import_files(session, base_files)
    return base_files


def rejected(session, paths: list[str]) -> list[str]:
    with pytest.raises(ImportFailed) as failure:
        import_files(session, paths)
    return failure.value.errors


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def register(session, upn: str) -> RegisterYear:
    pupil = session.exec(select(Pupil).where(Pupil.upn == upn)).one()
    return session.exec(select(RegisterYear).where(RegisterYear.pupil_id == pupil.id)).one()


def stored_mark(row: RegisterYear, day: date, session_name: str) -> str:
    return row.marks[session_index(year_start(row.academic_year), day, session_name)]


# --- kinds ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(HEADERS))
def test_each_header_is_detected_as_its_kind(kind):
    assert detect_kind(list(HEADERS[kind])) == kind


def test_a_near_miss_header_names_the_closest_kind_and_its_header():
    with pytest.raises(HeaderError) as failure:
        detect_kind(["upn", "school_urn", "date", "session"])
    assert failure.value.problems == ["missing column 'code'", "the marks header is upn,school_urn,date,session,code"]


def test_a_header_of_no_kind_lists_every_kind():
    with pytest.raises(HeaderError) as failure:
        detect_kind(["colour", "size"])
    assert all(kind in failure.value.problems[0] for kind in HEADERS)


def test_schools_pupils_and_contacts_are_created(session, base_files):
    summary = import_files(session, base_files)

    school = session.exec(select(School).where(School.urn == "121001")).one()
    assert (school.name, school.la_code, school.estab, school.phase, school.independent) == (
        "Acle Primary", "926", "2001", "primary", False,
    )
    ava = session.exec(select(Pupil).where(Pupil.upn == UPN_1)).one()
    assert (ava.school_id, ava.surname, ava.date_of_birth, ava.fsm, ava.postcode) == (
        school.id, "Smith", date(2015, 3, 2), True, "NR13 3AA",
    )
    assert (summary.schools_created, summary.pupils_created, summary.contacts_created, summary.links_created) == (
        1, 2, 1, 2,
    )
    assert summary.rows == 5
    assert summary.lines()[0] == "5 rows read from 3 files"


def test_siblings_sharing_a_contact_ref_share_one_contact(session, imported):
    contact = session.exec(select(Contact).where(Contact.contact_ref == "P1")).one()
    links = session.exec(select(PupilContact).where(PupilContact.contact_id == contact.id)).all()
    assert count(session, Contact) == 1
    assert len(links) == 2
    assert {link.relationship for link in links} == {"mother"}


def test_contact_person_fields_come_from_the_latest_row(session, imported, tmp_path):
    path = write_csv(tmp_path, "contacts.csv", [contact_row(UPN_1), contact_row(UPN_2, phone="07700 900000")])
    summary = import_files(session, [path])
    contact = session.exec(select(Contact).where(Contact.contact_ref == "P1")).one()
    assert contact.phone == "07700 900000"
    assert (summary.contacts_updated, summary.links_unchanged) == (1, 2)


@pytest.mark.parametrize(
    ("responsibility", "lives_with", "basis"),
    [
        ("yes", "yes", "parental responsibility and lives with the pupil"),
        ("yes", "no", "parental responsibility"),
        ("no", "yes", "lives with the pupil (day-to-day care)"),
        ("no", "no", ""),
    ],
)
def test_s576_basis_follows_responsibility_and_residence(session, tmp_path, responsibility, lives_with, basis):
    paths = [
        write_csv(tmp_path, "schools.csv", [school_row()]),
        write_csv(tmp_path, "pupils.csv", [pupil_row()]),
        write_csv(tmp_path, "contacts.csv", [
            contact_row(relationship="step-father", parental_responsibility=responsibility, lives_with_pupil=lives_with)
        ]),
    ]
    import_files(session, paths)
    link = session.exec(select(PupilContact)).one()
    assert (link.parental_responsibility, link.lives_with_pupil, link.s576_basis) == (
        responsibility == "yes", lives_with == "yes", basis,
    )


def test_a_pupil_on_another_school_roll_moves(session, imported, tmp_path):
    paths = [
        write_csv(tmp_path, "schools.csv", [school_row("121002", "Acle High", estab="4001", phase="secondary")]),
        write_csv(tmp_path, "pupils.csv", [pupil_row(UPN_1, "121002")]),
    ]
    summary = import_files(session, paths)
    high = session.exec(select(School).where(School.urn == "121002")).one()
    assert session.exec(select(Pupil).where(Pupil.upn == UPN_1)).one().school_id == high.id
    assert summary.pupils_updated == 1


def test_marks_are_stored_at_their_session(session, imported, tmp_path):
    path = write_csv(tmp_path, "marks.csv", [
        [UPN_1, "121001", "2026-11-02", "AM", "/"],
        [UPN_1, "121001", "2026-11-02", "PM", "\\"],
        [UPN_1, "121001", "2026-11-03", "AM", "C1"],
        [UPN_2, "121001", "2026-11-03", "PM", "O"],
    ])
    summary = import_files(session, [path])
    row = register(session, UPN_1)
    assert (row.academic_year, row.start_date) == (2026, date(2026, 8, 1))
    assert [stored_mark(row, date(2026, 11, 2), "AM"), stored_mark(row, date(2026, 11, 2), "PM")] == ["/", "\\"]
    assert stored_mark(row, date(2026, 11, 3), "AM") == "1"
    assert row.marks.count("-") == len(row.marks) - 3
    assert stored_mark(register(session, UPN_2), date(2026, 11, 3), "PM") == "O"
    assert summary.marks_added == 4


def test_marks_may_refer_to_pupils_of_a_pupils_file_given_after_them(session, tmp_path):
    paths = [
        write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2026-11-02", "AM", "/"]]),
        write_csv(tmp_path, "pupils.csv", [pupil_row()]),
        write_csv(tmp_path, "schools.csv", [school_row()]),
    ]
    import_files(session, paths)
    assert stored_mark(register(session, UPN_1), date(2026, 11, 2), "AM") == "/"


def test_marks_at_a_school_the_pupil_is_not_on_roll_at_are_kept(session, imported, tmp_path):
    paths = [
        write_csv(tmp_path, "schools.csv", [school_row("121002", "Acle Infants", estab="2002")]),
        write_csv(tmp_path, "marks.csv", [[UPN_1, "121002", "2025-06-02", "AM", "I"]]),
    ]
    import_files(session, paths)
    row = register(session, UPN_1)
    assert (row.academic_year, stored_mark(row, date(2025, 6, 2), "AM")) == (2024, "I")


def test_a_changed_mark_is_kept_in_the_history(session, imported, tmp_path):
    first = write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2026-11-02", "AM", "N"]])
    import_files(session, [first])
    second = write_csv(tmp_path, "marks2.csv", [[UPN_1, "121001", "2026-11-02", "AM", "I"]])
    summary = import_files(session, [second], actor="clerk@example.org")

    change = session.exec(select(MarkChange)).one()
    assert (change.date, change.session, change.old_code, change.new_code) == (date(2026, 11, 2), "AM", "N", "I")
    assert (change.changed_by, change.source) == ("clerk@example.org", "marks2.csv")
    assert stored_mark(register(session, UPN_1), date(2026, 11, 2), "AM") == "I"
    assert summary.marks_changed == 1


def test_reimporting_the_same_files_changes_nothing(session, imported, tmp_path):
    paths = [
        *imported,
        write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2026-11-02", "AM", "O"]]),
        write_csv(tmp_path, "penalty_notices.csv", [notice_row()]),
    ]
    import_files(session, paths)
    marks_before = register(session, UPN_1).marks
    summary = import_files(session, paths)

    assert (summary.schools_unchanged, summary.pupils_unchanged, summary.contacts_unchanged) == (1, 2, 1)
    assert (summary.links_unchanged, summary.marks_unchanged, summary.penalty_notices_unchanged) == (2, 1, 1)
    created_or_changed = [
        summary.schools_created, summary.schools_updated, summary.pupils_created, summary.pupils_updated,
        summary.contacts_created, summary.contacts_updated, summary.links_created, summary.links_updated,
        summary.marks_added, summary.marks_changed, summary.penalty_notices_created,
    ]
    assert created_or_changed == [0] * 11
    assert (count(session, School), count(session, Pupil), count(session, Contact)) == (1, 2, 1)
    assert (count(session, RegisterYear), count(session, PenaltyNotice), count(session, Payment)) == (1, 1, 1)
    assert count(session, MarkChange) == 0
    assert register(session, UPN_1).marks == marks_before


def test_penalty_notices_are_imported_with_their_payments(session, imported, tmp_path):
    path = write_csv(tmp_path, "penalty_notices.csv", [
        notice_row("OLD-1"),
        notice_row("OLD-2", status="paid", amount_paid="160.00", paid_on="2025-03-01"),
        notice_row("OLD-3", status="unpaid", amount_paid="", paid_on=""),
        notice_row("OLD-4", contact_ref="P1", upn=UPN_2, status="prosecuted", amount_paid="", paid_on=""),
    ])
    summary = import_files(session, [path], actor="migration")
    notices = {pn.ref: pn for pn in session.exec(select(PenaltyNotice))}

    assert summary.penalty_notices_created == 4
    assert {(pn.case_id, pn.source, pn.amount_full, pn.reason) for pn in notices.values()} == {
        (None, "import", Decimal("160.00"), ""),
    }
    assert [notices[ref].amount_reduced for ref in ("OLD-1", "OLD-2", "OLD-3")] == [Decimal("80.00"), None, None]
    assert (notices["OLD-3"].status, notices["OLD-4"].prosecuted) == ("unpaid", True)
    payments = {notices_ref(notices, p.penalty_notice_id): p for p in session.exec(select(Payment))}
    assert sorted(payments) == ["OLD-1", "OLD-2"]
    assert (payments["OLD-1"].paid_on, payments["OLD-1"].amount, payments["OLD-1"].recorded_by) == (
        date(2025, 2, 10), Decimal("80.00"), "migration",
    )


def notices_ref(notices: dict[str, PenaltyNotice], notice_id: int) -> str:
    return next(ref for ref, pn in notices.items() if pn.id == notice_id)


def test_a_known_pn_ref_with_different_data_is_rejected(session, imported, tmp_path):
    import_files(session, [write_csv(tmp_path, "penalty_notices.csv", [notice_row()])])
    path = write_csv(tmp_path, "penalty_notices2.csv", [notice_row(status="withdrawn")])
    [error] = rejected(session, [path])
    assert error.startswith(f"{path}:2: pn_ref 'OLD-1': already recorded with different data (status 'paid'")


def test_a_penalty_notice_needs_a_contact_of_the_pupil(session, imported, tmp_path):
    path = write_csv(tmp_path, "penalty_notices.csv", [notice_row(contact_ref="P9")])
    assert rejected(session, [path]) == [f"{path}:2: contact_ref 'P9': not a contact of pupil {UPN_1}"]


def test_a_paid_notice_needs_its_payment(session, imported, tmp_path):
    path = write_csv(tmp_path, "penalty_notices.csv", [notice_row(amount_paid="", paid_on="")])
    assert rejected(session, [path]) == [
        f"{path}:2: amount_paid is required when status is 'paid'",
        f"{path}:2: paid_on is required when status is 'paid'",
    ]


def test_an_offence_period_must_not_end_before_it_starts(session, imported, tmp_path):
    path = write_csv(tmp_path, "penalty_notices.csv", [notice_row(offence_end="2024-11-01")])
    assert rejected(session, [path]) == [f"{path}:2: offence_end '2024-11-01': before offence_start 2024-11-04"]


# --- rejected rows ---------------------------------------------------------------------------------------------


def test_a_row_with_the_wrong_number_of_fields_is_rejected(session, imported, tmp_path):
    path = tmp_path / "marks.csv"
    path.write_text(f"upn,school_urn,date,session,code\n{UPN_1},121001,2026-11-02,AM,/,extra\n")
    assert rejected(session, [str(path)]) == [f"{path}:2: expected 5 fields, found 6"]


def test_an_unknown_code_is_rejected(session, imported, tmp_path):
    path = write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2026-11-02", "AM", "A"]])
    assert rejected(session, [path]) == [f"{path}:2: code 'A': unknown register code 'A'"]


def test_retired_code_h_is_rejected_after_19_august_2024(session, imported, tmp_path):
    path = write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2024-09-02", "AM", "H"]])
    [error] = rejected(session, [path])
    assert error.startswith(f"{path}:2: code 'H': code 'H' was retired on 19 Aug 2024")


def test_retired_code_h_is_accepted_before_19_august_2024(session, imported, tmp_path):
    path = write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2024-07-10", "AM", "H"]])
    import_files(session, [path])
    assert stored_mark(register(session, UPN_1), date(2024, 7, 10), "AM") == "H"


def test_a_bad_upn_check_letter_names_the_expected_letter(session, imported, tmp_path):
    wrong = ("B" if UPN_1[0] != "B" else "C") + UPN_1[1:]
    path = write_csv(tmp_path, "pupils.csv", [pupil_row(wrong)])
    assert rejected(session, [path]) == [f"{path}:2: upn {wrong!r}: check letter should be {UPN_1[0]!r}"]


def test_a_missing_column_is_rejected(session, tmp_path):
    header = HEADERS["pupils"][:-1]
    path = write_csv(tmp_path, "pupils.csv", [pupil_row()[:-1]], header=header)
    errors = rejected(session, [path])
    assert errors[0] == f"{path}:1: missing column 'postcode'"
    assert errors[1].startswith(f"{path}:1: the pupils header is upn,school_urn,")


def test_an_extra_column_is_rejected(session, tmp_path):
    path = write_csv(tmp_path, "pupils.csv", [[*pupil_row(), "likes trains"]], header=[*HEADERS["pupils"], "notes"])
    assert rejected(session, [path])[0] == f"{path}:1: unexpected column 'notes'"


def test_an_unknown_school_is_rejected(session, imported, tmp_path):
    path = write_csv(tmp_path, "marks.csv", [[UPN_1, "999999", "2026-11-02", "AM", "/"]])
    assert rejected(session, [path]) == [f"{path}:2: school_urn '999999': unknown school"]


def test_a_date_in_the_future_is_rejected(session, imported, tmp_path):
    path = write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2027-01-04", "AM", "/"]])
    assert rejected(session, [path]) == [f"{path}:2: date '2027-01-04' is in the future"]


def test_a_bad_boolean_is_rejected(session, tmp_path):
    path = write_csv(tmp_path, "schools.csv", [school_row(independent="Y")])
    assert rejected(session, [path]) == [f"{path}:2: independent 'Y': must be 'yes' or 'no'"]


def test_every_bad_column_of_every_row_is_reported_with_its_column(session, tmp_path):
    path = write_csv(tmp_path, "schools.csv", [school_row(urn="12345", phase="nursery"), school_row(la_code="92")])
    with pytest.raises(ImportFailed) as failure:
        import_files(session, [path])
    assert failure.value.errors == [
        f"{path}:2: urn '12345': must be 6 digits",
        f"{path}:2: phase 'nursery': must be one of primary, secondary, special, alternative_provision, all_through",
        f"{path}:3: la_code '92': must be 3 digits",
    ]
    assert [(p.line, p.field) for p in failure.value.problems] == [(2, "urn"), (2, "phase"), (3, "la_code")]


def test_errors_stop_being_listed_after_one_hundred(session, imported, tmp_path):
    path = write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2026-11-02", "AM", "A"]] * 130)
    errors = rejected(session, [path])
    assert len(errors) == 101
    assert errors[-1] == "... and 30 more"


def test_one_session_given_two_codes_in_one_call_is_rejected(session, imported, tmp_path):
    first = write_csv(tmp_path, "marks.csv", [[UPN_1, "121001", "2026-11-02", "AM", "/"]])
    second = write_csv(tmp_path, "marks2.csv", [
        [UPN_2, "121001", "2026-11-02", "AM", "/"],
        [UPN_1, "121001", "2026-11-02", "AM", "O"],
    ])
    assert rejected(session, [first, second]) == [
        f"{second}:3: code 'O' for upn {UPN_1!r} at school 121001 on 2026-11-02 AM conflicts with code '/' on {first}:2"
    ]


def test_one_pupil_given_two_ways_in_one_call_is_rejected(session, imported, tmp_path):
    path = write_csv(tmp_path, "pupils.csv", [pupil_row(), pupil_row(surname="Smyth")])
    assert rejected(session, [path]) == [f"{path}:3: upn {UPN_1!r} is also on {path}:2 with different data"]


def test_an_error_in_one_file_rejects_every_file_of_the_call(session, tmp_path):
    paths = [
        write_csv(tmp_path, "schools.csv", [school_row()]),
        write_csv(tmp_path, "pupils.csv", [pupil_row(), pupil_row(UPN_2, sen="maybe")]),
    ]
    assert rejected(session, paths) == [f"{paths[1]}:3: sen 'maybe': must be one of none, support, ehcp"]
    assert session.exec(select(School).where(School.urn == "121001")).all() == []
    assert session.exec(select(Pupil).where(Pupil.upn == UPN_1)).all() == []


def test_a_byte_order_mark_is_accepted(session, tmp_path):
    path = tmp_path / "schools.csv"
    path.write_bytes(("\ufeff" + ",".join(HEADERS["schools"]) + "\n" + ",".join(school_row()) + "\n").encode())
    assert import_files(session, [str(path)]).schools_created == 1


def test_a_header_problem_names_its_column(session, tmp_path):
    path = write_csv(tmp_path, "pupils.csv", [[*pupil_row(), "x"]], header=[*HEADERS["pupils"], "notes"])
    with pytest.raises(ImportFailed) as failure:
        import_files(session, [path])
    assert failure.value.problems[0] == Problem(path, 1, "notes", "unexpected column 'notes'")


# --- rows given in memory --------------------------------------------------------------------------------------


def as_dict(kind: str, row: list[str]) -> dict[str, str]:
    return dict(zip(HEADERS[kind], row))


def test_records_are_imported_like_the_files_of_their_kinds(session):
    summary = import_records(session, [
        RecordBatch("request", "pupils", [as_dict("pupils", pupil_row())]),
        RecordBatch("request", "schools", [as_dict("schools", school_row())]),
        RecordBatch("request", "marks", [as_dict("marks", [UPN_1, "121001", "2026-11-02", "AM", "O"])]),
    ])
    assert (summary.schools_created, summary.pupils_created, summary.marks_added) == (1, 1, 1)
    assert stored_mark(register(session, UPN_1), date(2026, 11, 2), "AM") == "O"
    assert summary.lines()[0] == "3 rows read"


def test_a_bad_record_rejects_every_batch_and_is_reported_at_first_line_plus_its_index(session):
    rows = [as_dict("schools", school_row()), as_dict("schools", school_row("121002", estab="2002", phase="nursery"))]
    with pytest.raises(ImportFailed) as failure:
        import_records(session, [RecordBatch("request", "schools", rows, first_line=0)])
    assert failure.value.problems == [Problem(
        "request", 1, "phase",
        "phase 'nursery': must be one of primary, secondary, special, alternative_provision, all_through",
    )]
    assert str(failure.value.problems[0]).startswith("request:1: phase 'nursery'")
    assert count(session, School) == 0


def test_missing_extra_and_non_text_fields_are_problems_of_their_row(session):
    missing = as_dict("schools", school_row())
    del missing["independent"]
    extra = {**as_dict("schools", school_row("121002")), "colour": "red"}
    not_text = {**as_dict("schools", school_row("121003")), "independent": False}
    with pytest.raises(ImportFailed) as failure:
        import_records(session, [RecordBatch("request", "schools", [missing, extra, not_text])])
    assert [(p.line, p.field, p.message) for p in failure.value.problems] == [
        (2, "independent", "missing field 'independent'"),
        (3, "colour", "unexpected field 'colour'"),
        (4, "independent", "independent False: must be text"),
    ]


def test_an_unknown_kind_of_batch_is_a_problem(session):
    with pytest.raises(ImportFailed) as failure:
        import_records(session, [RecordBatch("request", "teachers", [{"name": "Ms Fox"}])])
    assert failure.value.problems == [
        Problem("request", 1, None, f"kind 'teachers': must be one of {', '.join(HEADERS)}")
    ]


def test_progress_is_reported_about_every_one_percent_up_to_the_total(session, imported, tmp_path):
    days = [(date(2026, 9, 1) + timedelta(days=n)).isoformat() for n in range(60)]
    rows = [[upn, "121001", day, session_name, "/"] for upn in (UPN_1, UPN_2) for day in days for session_name in ("AM", "PM")]
    path = write_csv(tmp_path, "marks.csv", rows * 15)
    calls: list[tuple[int, int]] = []
    import_files(session, [path], progress=lambda done, total: calls.append((done, total)))

    total = calls[-1][1]
    assert calls[-1] == (total, total)
    assert {t for _, t in calls} == {total}
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert 50 <= len(calls) <= 110
    assert any(done < total / 3 for done, _ in calls)


def test_record_lines_stay_right_when_a_big_batch_is_read_in_parts(session):
    rows = [as_dict("schools", school_row(f"{130000 + n}", estab=f"{3000 + n}")) for n in range(300)]
    rows[5]["urn"], rows[250]["phase"] = "5", "nursery"
    calls: list[tuple[int, int]] = []
    with pytest.raises(ImportFailed) as failure:
        import_records(session, [RecordBatch("request", "schools", rows)], progress=lambda *call: calls.append(call))
    assert [(p.line, p.field) for p in failure.value.problems] == [(7, "urn"), (252, "phase")]
    assert len(calls) > 10
