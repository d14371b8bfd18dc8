"""CTF imports: both mark encodings and sex/gender element names, contacts, reconciliation, rejected files."""
from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import func, select
from stdnum.gb import upn as upn_number

from casework import ctf
from casework.imports import ImportFailed, RecordBatch, import_files, import_records
from casework.models import Contact, MarkChange, Pupil, PupilContact, RegisterYear, School
from casework.register import codes
from casework.register.marks import session_index, year_start

AS_PUPIL = "<AddressAsPupil>true</AddressAsPupil>"
OWN_ADDRESS = (
    "<BS7666Address><PAON>4</PAON><Street>Station Road</Street><Town>Norwich</Town></BS7666Address>"
    "<PostCode>NR1 1AA</PostCode>"
)


def make_upn(serial: int) -> str:
    body = f"9262001{15:02d}{serial:03d}"
    return upn_number.calc_check_digit(body) + body


UPN_1, UPN_2 = make_upn(1), make_upn(2)


def contact_xml(forename: str = "Jo", surname: str = "Smith", relationship: str = "PAM", order: int = 1,
                responsibility: str = "true", address: str = AS_PUPIL) -> str:
    return f"""
        <Contact>
          <Order>{order}</Order>
          <Title>Ms</Title>
          <Surname>{surname}</Surname>
          <Forename>{forename}</Forename>
          <Relationship>{relationship}</Relationship>
          <Responsibility>{responsibility}</Responsibility>
          <Address>{address}</Address>
          <Phones><Phone><TelephoneType>M</TelephoneType><PhoneNo>07700900000</PhoneNo></Phone></Phones>
          <Email>{forename.lower()}@example.org</Email>
        </Contact>"""


def year_xml(start: str, marks: str, lea: str = "926", estab: str = "2001", **totals: int) -> str:
    given = "".join(f"<Sessions{name.title()}>{n}</Sessions{name.title()}>" for name, n in totals.items())
    return f"""
        <YearData>
          <Year>{start[:4]}</Year>
          <LEA>{lea}</LEA>
          <Estab>{estab}</Estab>
          <SchoolName>Acle Primary</SchoolName>
          {given}
          <AttendSessions>
            <AttendanceStartDate>{start}</AttendanceStartDate>
            <AttendanceMarks>{marks}</AttendanceMarks>
          </AttendSessions>
        </YearData>"""


def pupil_xml(upn: str = UPN_1, forename: str = "Ava", sex_tag: str = "Sex", contacts: tuple[str, ...] = (),
              years: tuple[str, ...] = ()) -> str:
    return f"""
    <Pupil>
      <UPN>{upn}</UPN>
      <Surname>Smith</Surname>
      <Forename>{forename}</Forename>
      <DOB>2015-03-02</DOB>
      <{sex_tag}>F</{sex_tag}>
      <BasicDetails><NCyearActual>6</NCyearActual></BasicDetails>
      <Address>
        <BS7666Address><PAON>1</PAON><Street>Mill Lane</Street><Town>Acle</Town></BS7666Address>
        <PostCode>NR13 3AA</PostCode>
      </Address>
      <Contacts>{"".join(contacts)}
      </Contacts>
      <Attendance>{"".join(years)}
      </Attendance>
    </Pupil>"""


def ctf_xml(*pupils: str, version: str = "25.0", lea: str = "926", estab: str = "2001") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<CTfile>
  <Header>
    <DocumentName>Common Transfer File</DocumentName>
    <CTFversion>{version}</CTFversion>
    <DateTime>2026-11-20T14:05:00</DateTime>
    <DocumentQualifier>partial</DocumentQualifier>
    <SupplierID>ExampleMIS</SupplierID>
    <SourceSchool>
      <LEA>{lea}</LEA>
      <Estab>{estab}</Estab>
      <SchoolName>Acle Primary</SchoolName>
      <AcademicYear>2026</AcademicYear>
    </SourceSchool>
    <DestSchool><LEA>926</LEA><Estab>LLLL</Estab></DestSchool>
  </Header>
  <CTFpupilData>{"".join(pupils)}
  </CTFpupilData>
</CTfile>
"""


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    """The line of the n-th occurrence of `fragment` in `text`."""
    at = -1
    for _ in range(occurrence):
        at = text.index(fragment, at + 1)
    return text[:at].count("\n") + 1


@pytest.fixture()
def school(session) -> None:
    import_records(session, [RecordBatch("setup", "schools", [
        {"urn": "121001", "name": "Acle Primary", "la_code": "926", "estab": "2001", "phase": "primary",
         "independent": "no"},
    ])])


@pytest.fixture()
def write_ctf(tmp_path):
    def write(text: str, name: str = "926LLLL_CTF_9262001_001.xml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def rejected(session, path: str) -> list[str]:
    with pytest.raises(ImportFailed) as failure:
        import_files(session, [path])
    return failure.value.errors


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def marks_of(session, upn: str, year: int = 2026) -> str:
    pupil = session.exec(select(Pupil).where(Pupil.upn == upn)).one()
    return session.exec(select(RegisterYear).where(
        RegisterYear.pupil_id == pupil.id, RegisterYear.academic_year == year)).one().marks


def stored_from(marks: str, start: date, n: int) -> list[str]:
    """The codes of `n` sessions from the AM of `start` ('' for no mark)."""
    first = session_index(year_start(start.year if start.month >= 8 else start.year - 1), start, "AM")
    return [codes.decode(char) for char in marks[first:first + n]]


def test_ctf_25_with_sex_and_comma_separated_two_character_codes(session, school, write_ctf):
    marks = "/,\\,C1,J1,#,#,#,#,Y1,O"
    path = write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-11-05", marks, possible=5, authorised=2,
                                                            unauthorised=1),))))
    summary = import_files(session, [path])

    pupil = session.exec(select(Pupil).where(Pupil.upn == UPN_1)).one()
    acle = session.exec(select(School).where(School.urn == "121001")).one()
    assert (pupil.school_id, pupil.surname, pupil.forename, pupil.date_of_birth, pupil.year_group) == (
        acle.id, "Smith", "Ava", date(2015, 3, 2), "6",
    )
    assert (pupil.address_line1, pupil.town, pupil.postcode) == ("1 Mill Lane", "Acle", "NR13 3AA")
    assert stored_from(marks_of(session, UPN_1), date(2026, 11, 5), 10) == marks.split(",")
    assert (summary.pupils_created, summary.marks_added) == (1, 10)


def test_ctf_20_with_gender_and_one_character_per_session(session, school, write_ctf):
    path = write_ctf(ctf_xml(pupil_xml(sex_tag="Gender", years=(year_xml("2026-11-02", "/\\IILN"),)), version="20"))
    import_files(session, [path])
    assert stored_from(marks_of(session, UPN_1), date(2026, 11, 2), 6) == ["/", "\\", "I", "I", "L", "N"]


def test_weekends_and_holidays_are_stored_as_no_session(session, school, write_ctf):
    friday_to_monday = "/\\" + "##" * 9 + "/O"
    path = write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-10-23", friday_to_monday, possible=4,
                                                            unauthorised=1),))))
    import_files(session, [path])
    stored = stored_from(marks_of(session, UPN_1), date(2026, 10, 23), 22)
    assert stored == ["/", "\\", *["#"] * 18, "/", "O"]
    assert codes.category("#") is codes.Category.NOT_POSSIBLE


def test_no_mark_tokens_are_skipped_and_leave_stored_marks_alone(session, school, write_ctf):
    import_files(session, [write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-11-02", "/,\\"),))), "first.xml")])
    import_files(session, [write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-11-02", "-,,I"),))), "second.xml")])
    assert stored_from(marks_of(session, UPN_1), date(2026, 11, 2), 3) == ["/", "\\", "I"]


def test_contacts_at_the_pupils_address_and_at_their_own(session, school, write_ctf):
    mother = contact_xml("Jo", relationship="PAM", order=1)
    father = contact_xml("Sam", relationship="PAF", order=2, responsibility="false", address=OWN_ADDRESS)
    import_files(session, [write_ctf(ctf_xml(pupil_xml(contacts=(mother, father))))])

    people = {contact.forename: contact for contact in session.exec(select(Contact))}
    links = {link.contact_id: link for link in session.exec(select(PupilContact))}
    jo, sam = people["Jo"], people["Sam"]
    assert (jo.address_line1, jo.town, jo.postcode, jo.email, jo.phone) == (
        "1 Mill Lane", "Acle", "NR13 3AA", "jo@example.org", "07700900000",
    )
    assert (sam.address_line1, sam.town, sam.postcode) == ("4 Station Road", "Norwich", "NR1 1AA")
    assert (links[jo.id].relationship, links[jo.id].parental_responsibility, links[jo.id].lives_with_pupil) == (
        "mother", True, True,
    )
    assert (links[sam.id].relationship, links[sam.id].parental_responsibility, links[sam.id].lives_with_pupil) == (
        "father", False, False,
    )
    assert jo.contact_ref == ctf.contact_ref("Smith", "Jo", "NR13 3AA")


def test_a_contact_address_given_as_address_lines_ends_with_the_town(session, school, write_ctf):
    lines = ("<AddressLines><AddressLine1>Flat 2</AddressLine1><AddressLine2>7 Bridge Street</AddressLine2>"
             "<AddressLine3>Thetford</AddressLine3></AddressLines><PostCode>IP24 3AA</PostCode>")
    import_files(session, [write_ctf(ctf_xml(pupil_xml(contacts=(contact_xml(address=lines),))))])
    contact = session.exec(select(Contact)).one()
    assert (contact.address_line1, contact.address_line2, contact.town, contact.postcode) == (
        "Flat 2", "7 Bridge Street", "Thetford", "IP24 3AA",
    )
    assert session.exec(select(PupilContact)).one().lives_with_pupil is False


def test_siblings_sharing_a_parent_share_one_contact(session, school, write_ctf):
    path = write_ctf(ctf_xml(pupil_xml(UPN_1, "Ava", contacts=(contact_xml(),)),
                             pupil_xml(UPN_2, "Ben", contacts=(contact_xml(),))))
    summary = import_files(session, [path])
    assert (count(session, Contact), count(session, PupilContact)) == (1, 2)
    assert (summary.contacts_created, summary.links_created) == (1, 2)


def test_a_mismatched_total_names_the_pupil_and_both_figures_and_writes_nothing(session, school, write_ctf):
    text = ctf_xml(pupil_xml(years=(year_xml("2026-11-02", "/,\\,O,O,N,I", possible=6, unauthorised=2),)))
    path = write_ctf(text)
    assert rejected(session, path) == [
        f"{path}:{line_of(text, '<SessionsUnauthorised>')}: pupil {UPN_1} (Ava Smith), LEA 926 Estab 2001 from "
        f"2026-11-02: SessionsUnauthorised is 2 but the marks hold 3 unauthorised sessions"
    ]
    assert (count(session, Pupil), count(session, RegisterYear)) == (0, 0)


def test_a_truncated_file_is_rejected_and_nothing_is_written(session, school, write_ctf):
    text = ctf_xml(pupil_xml(contacts=(contact_xml(),), years=(year_xml("2026-11-02", "/,\\"),)))
    path = write_ctf(text[: len(text) // 2])
    [error] = rejected(session, path)
    assert error.startswith(f"{path}:")
    assert ": the XML is not well formed: " in error
    assert (count(session, Pupil), count(session, Contact)) == (0, 0)


def test_entity_declarations_are_refused(session, school, write_ctf):
    text = ctf_xml(pupil_xml()).replace("<CTfile>", '<!DOCTYPE CTfile [<!ENTITY x "lol">]>\n<CTfile>')
    [error] = rejected(session, write_ctf(text))
    assert ": the XML is refused for safety: " in error
    assert count(session, Pupil) == 0


def test_an_unknown_source_school_is_rejected(session, school, write_ctf):
    text = ctf_xml(pupil_xml(), estab="2999")
    path = write_ctf(text)
    assert rejected(session, path) == [
        f"{path}:{line_of(text, '<SourceSchool>')}: SourceSchool LEA '926' Estab '2999': matches no school"
    ]


def test_marks_at_an_unknown_school_are_rejected_once_per_school(session, school, write_ctf):
    text = ctf_xml(pupil_xml(UPN_1, years=(year_xml("2026-11-02", "/,\\", estab="3001"),)),
                   pupil_xml(UPN_2, years=(year_xml("2026-11-02", "/,\\", estab="3001"),)))
    path = write_ctf(text)
    assert rejected(session, path) == [
        f"{path}:{line_of(text, '<YearData>')}: YearData LEA '926' Estab '3001': matches no school"
    ]
    assert count(session, Pupil) == 0


@pytest.mark.parametrize("version", ["16.0", "26.0", "twenty"])
def test_an_unsupported_ctf_version_is_rejected(session, school, write_ctf, version):
    text = ctf_xml(pupil_xml(), version=version)
    path = write_ctf(text)
    assert rejected(session, path) == [
        f"{path}:{line_of(text, '<CTFversion>')}: CTFversion {version!r}: only CTF versions 17 to 25 are supported"
    ]


def test_a_bad_upn_is_reported_as_in_a_csv_file_at_the_pupils_line(session, school, write_ctf):
    wrong = ("B" if UPN_2[0] != "B" else "C") + UPN_2[1:]
    text = ctf_xml(pupil_xml(UPN_1), pupil_xml(wrong, "Ben"))
    path = write_ctf(text)
    with pytest.raises(ImportFailed) as failure:
        import_files(session, [path])
    [problem] = failure.value.problems
    assert str(problem) == f"{path}:{line_of(text, '<Pupil>', 2)}: upn {wrong!r}: check letter should be {UPN_2[0]!r}"
    assert problem.field == "upn"


def test_an_unknown_code_names_the_session(session, school, write_ctf):
    path = write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-11-02", "/,\\,A,\\"),))))
    [error] = rejected(session, path)
    assert error.endswith(f": code 'A' for upn {UPN_1!r} on 2026-11-03 AM: unknown register code 'A'")


def test_retired_codes_are_accepted_only_before_19_august_2024(session, school, write_ctf):
    before = write_ctf(ctf_xml(pupil_xml(years=(year_xml("2024-07-15", "H,H"),))), "before.xml")
    import_files(session, [before])
    assert stored_from(marks_of(session, UPN_1, 2023), date(2024, 7, 15), 2) == ["H", "H"]
    across = write_ctf(ctf_xml(pupil_xml(years=(year_xml("2024-08-16", "H,H,#,#,#,#,H,H"),))), "across.xml")
    [error] = rejected(session, across)
    assert error.endswith(f"code 'H' for upn {UPN_1!r} on 2024-08-19 AM: "
                          "code 'H' was retired on 19 Aug 2024 and cannot be used for 2024-08-19")


def test_a_run_across_31_july_is_split_between_academic_years(session, school, write_ctf):
    import_files(session, [write_ctf(ctf_xml(pupil_xml(years=(year_xml("2025-07-31", "/,\\,#,#"),))))])
    assert stored_from(marks_of(session, UPN_1, 2024), date(2025, 7, 31), 2) == ["/", "\\"]
    assert stored_from(marks_of(session, UPN_1, 2025), date(2025, 8, 1), 2) == ["#", "#"]


def test_marks_after_today_are_rejected_but_trailing_closures_are_dropped(session, school, write_ctf):
    closed_weekend = write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-11-23", "/,\\,#,#"),))), "ok.xml")
    assert import_files(session, [closed_weekend]).marks_added == 2
    future = write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-11-23", "/,\\,/,\\"),))), "future.xml")
    [error] = rejected(session, future)
    assert error.endswith(f": upn {UPN_1!r}: 2 marks are for sessions after 2026-11-23 (first '/')")


def test_reimporting_the_same_ctf_changes_nothing(session, school, write_ctf):
    path = write_ctf(ctf_xml(pupil_xml(contacts=(contact_xml(),), years=(year_xml("2026-11-02", "/,\\,I,O"),))))
    import_files(session, [path])
    marks_before = marks_of(session, UPN_1)
    summary = import_files(session, [path])
    assert (summary.pupils_unchanged, summary.contacts_unchanged, summary.links_unchanged) == (1, 1, 1)
    assert (summary.pupils_updated, summary.contacts_updated, summary.links_updated) == (0, 0, 0)
    assert (summary.marks_unchanged, summary.marks_added, summary.marks_changed) == (4, 0, 0)
    assert (marks_of(session, UPN_1), count(session, MarkChange)) == (marks_before, 0)


def test_a_later_ctf_changing_a_mark_keeps_the_history(session, school, write_ctf):
    import_files(session, [write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-11-02", "N,N"),))), "first.xml")])
    summary = import_files(session, [write_ctf(ctf_xml(pupil_xml(years=(year_xml("2026-11-02", "N,I"),))),
                                               "second.xml")])
    change = session.exec(select(MarkChange)).one()
    assert (change.date, change.session, change.old_code, change.new_code, change.source) == (
        date(2026, 11, 2), "PM", "N", "I", "second.xml",
    )
    assert summary.marks_changed == 1


def test_fields_a_ctf_does_not_carry_keep_their_stored_values(session, school, write_ctf):
    pupil = {
        "upn": UPN_1, "school_urn": "121001", "surname": "Smith", "forename": "Ava", "date_of_birth": "2015-03-02",
        "year_group": "6", "sen": "support", "fsm": "yes", "eal": "yes", "social_worker": "yes", "looked_after": "no",
        "young_carer": "yes", "address_line1": "1 Mill Lane", "address_line2": "", "town": "Acle",
        "postcode": "NR13 3AA",
    }
    contact = {
        "upn": UPN_1, "contact_ref": ctf.contact_ref("Smith", "Jo", "NR13 3AA"), "title": "Ms", "forename": "Jo",
        "surname": "Smith", "relationship": "mother", "parental_responsibility": "yes", "lives_with_pupil": "yes",
        "address_line1": "1 Mill Lane", "address_line2": "", "town": "Acle", "postcode": "NR13 3AA",
        "email": "jo@example.org", "phone": "07700900000", "address_confidential": "yes",
    }
    import_records(session, [RecordBatch("mis", "pupils", [pupil]), RecordBatch("mis", "contacts", [contact])])
    summary = import_files(session, [write_ctf(ctf_xml(pupil_xml(contacts=(contact_xml(),))))])

    stored = session.exec(select(Pupil)).one()
    assert (stored.sen, stored.fsm, stored.eal, stored.social_worker, stored.young_carer) == (
        "support", True, True, True, True,
    )
    assert session.exec(select(Contact)).one().address_confidential is True
    assert (summary.pupils_unchanged, summary.contacts_unchanged) == (1, 1)
