"""Example letter contexts, one per kind, and the CONTEXT CONTRACT every letter template relies on.

`casework.letters.context` builds these dictionaries from the database; `render_html(kind, context)` renders
them. Templates use StrictUndefined, so every key listed as required must be present (a value may be None
only where it says so). Dates are `datetime.date` objects (never strings), money is `decimal.Decimal`.
Every letter goes to ONE parent: the `recipient`.

Common to every kind
--------------------
authority   name: str                          the local authority, e.g. "Harrowfield County Council"
            address_lines: list[str]           its postal address (letterhead and correspondence)
            phone, email, website: str         may be "" (then not shown)
            signatory_name, signatory_title    the authority's senior signatory (kept for letters that need it)
            payee_name: str                    who a penalty is paid to (reg 3(f))
            payee_address_lines: list[str]     the payee's address
            payment_methods: list[str]         one plain-English line per method (reg 3(g))
            payment_reference_hint: str        a sentence telling the parent what reference to quote
            service_name: str                  OPTIONAL, e.g. "School Attendance Service", shown under the name
            logo: None | {path: str, media_type: "image/png" | "image/svg+xml"}   the letterhead logo in the
                                               file store (settings `logo`, `logo_type`); a logo that cannot
                                               be loaded stops the letter
letter      kind: str                          must equal the kind being rendered
            ref: str                           this letter's reference (shown in the letterhead and page footers)
            issued_on: date                    the date printed on the letter
            case_ref: str                      the case reference, e.g. "CW-2026-00017"
recipient   title: str                         "Ms", "Mr", "Mx", "Dr" or "" (then the full name is used)
            forename, surname, full_name: str  full_name is forename + surname, without the title
            address_lines: list[str]           postal address, one line each, postcode last (window envelope)
            contact_id: int | None             the contact written to (redacted copies withhold their address)
            relationship: str                  e.g. "mother", "stepfather", "grandmother"; may be ""
            s576_basis: str                    why they are a parent in law, in plain words, e.g. "Has parental
                                               responsibility"; may be "" (shown on the penalty notice only)
pupil       forename, surname, full_name: str
            date_of_birth: date
            year_group: str                    "7", "R", ...; shown as "Year 7", "Reception"
            address_lines: list[str] | None    None = withheld because confidential; the letter then says the
                                               address is held by the authority
            lives_with: list[int]              contact ids of the parents the pupil lives with (their address is
                                               the pupil's: a redacted copy withholding it withholds both)
school      name: str, urn: str
officer     name, title, email, phone: str     the officer responsible (signs most letters; email/phone may be "")
            authorisation: str                 e.g. "Authorised officer of Harrowfield County Council under
                                               section 444A of the Education Act 1996" (penalty notice, reg 3(c))
attendance  as_of: date, period_start: date, period_end: date   (period_end is normally as_of)
            possible_sessions, present_sessions, authorised_absence, unauthorised_absence: int
            absence_rate, attendance_rate: str | None   one decimal, no % sign, e.g. "15.8"; None when there
                                               were no possible sessions (then the row is left out)
            unauthorised: list of {date: date, session: "AM"|"PM", code: str, description: str}
                                               the unauthorised sessions, oldest first; letters about an offence
                                               period list only those inside it, so the list may be longer
data        the trigger data, parsed (dates as date, lists as list[str]); keys by kind below. Missing optional
            keys are tested with `is defined`.
case        support_history: list of {on: date, what: str}   what has been done to help, oldest first
redaction   OPTIONAL {withheld: str, original_sha256: str}: a redacted copy (casework.letters.issue.rerender)

Per kind (in addition to the above)
-----------------------------------
attendance_concern   data.reason: str                      OPTIONAL, the school's note, quoted if non-empty
meeting_invitation   data.meeting_on: date | datetime       a datetime also prints the time
                     data.meeting_place: str
                     data.purpose: str                      OPTIONAL, what this meeting is about
meeting_not_attended data.missed_on: date                   the meeting the parent did not come to
                     data.meeting_on, data.meeting_place    OPTIONAL, a rearranged meeting (else the officer
                                                            will contact the parent)
action_plan          data.actions: list[str] (or one str), data.review_on: date
parenting_contract   data.requirements: list[str] (or str)  what the parent agrees to do
                     data.support: list[str] (or str)       what the authority/school will provide
                     data.review_on: date
                     data.starts_on, data.ends_on, data.agreed_on: date   OPTIONAL; the period defaults to
                                                            letter.issued_on .. data.review_on
notice_to_improve    improvement: {starts_on: date, ends_on: date, weeks: int (3..6), target: str}
                     improvement.further_support: list[str]   OPTIONAL (a general offer is printed otherwise)
                     improvement.reoffered: list[str]         OPTIONAL support offered before and re-offered
                     improvement.early_grounds: list[str]     OPTIONAL grounds for a notice before the end
                                                              (standard grounds are printed otherwise)
penalty_notice       pn: {ref: str, issued_on: date, offence_start: date, offence_end: date,
                          receipt_on: date (deemed receipt), reduced_until: date | None, pay_by: date,
                          amount_reduced: Decimal | None, amount_full: Decimal, second_notice: bool,
                          unauthorised_sessions: int}
                     First notice: amount_reduced and reduced_until set (e.g. £80 to receipt + 21 days,
                     £160 to receipt + 28 days). Second notice within 3 years: second_notice=True,
                     amount_reduced=None, reduced_until=None (flat £160 within 28 days).
                     render_html refuses a notice with any reg 3 particular missing or its dates out of order.
penalty_notice_withdrawal
                     pn: {ref, issued_on, offence_start, offence_end, withdrawn_on: date,
                          ground: "ought_not_to_have_been_issued" | "wrong_person" | "material_error",
                          ground_text: str (the officer's explanation, may be ""),
                          amount_paid: Decimal (0 if nothing paid), refund_due: bool}
prosecution_warning  prosecution: {section: "444(1)" | "444(1A)", offence_start: date, offence_end: date}
interview_invitation prosecution: {section, offence_start, offence_end}
                     data.interview_on: date | datetime | None   OPTIONAL; a datetime also prints the time
                     data.interview_place: str | None            OPTIONAL
                     without a date the letter says the officer will contact the parent to arrange one
"""
from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal

_AUTHORITY = {
    "name": "Harrowfield County Council",
    "service_name": "School Attendance Service",
    "address_lines": ["County Hall", "Market Street", "Harrowfield", "HF1 2AB"],
    "phone": "01632 960100",
    "email": "attendance@harrowfield.example",
    "website": "www.harrowfield.example/attendance",
    "signatory_name": "Dr Priya Raman",
    "signatory_title": "Director of Children's Services",
    "payee_name": "Harrowfield County Council",
    "payee_address_lines": ["Penalty Notice Payments", "PO Box 4410", "Harrowfield", "HF1 9ZZ"],
    "payment_methods": [
        "Online at www.harrowfield.example/pay-penalty-notice, by debit or credit card, at any time",
        "By telephone on 01632 960555, Monday to Friday, 9am to 5pm",
        "By bank transfer to Harrowfield County Council, sort code 20-00-00, account 55779911",
    ],
    "payment_reference_hint": "Whichever way you pay, quote the penalty notice reference so that we can match your payment.",
    "logo": None,
}

_OFFICER = {
    "name": "Daniel Okafor",
    "title": "Attendance and Entitlement Officer",
    "email": "daniel.okafor@harrowfield.example",
    "phone": "01632 960123",
    "authorisation": "Authorised officer of Harrowfield County Council under section 444A of the Education Act 1996",
}

_RECIPIENT = {
    "title": "Ms",
    "forename": "Sarah",
    "surname": "Clarke",
    "full_name": "Sarah Clarke",
    "address_lines": ["14 Willow Close", "Eastfield", "Harrowfield", "HF3 7QP"],
    "contact_id": 101,
    "relationship": "mother",
    "s576_basis": "Has parental responsibility and Amelia lives with her",
}

_PUPIL = {
    "forename": "Amelia",
    "surname": "Clarke",
    "full_name": "Amelia Clarke",
    "date_of_birth": date(2014, 3, 14),
    "year_group": "7",
    "address_lines": ["14 Willow Close", "Eastfield", "Harrowfield", "HF3 7QP"],
    "lives_with": [101],
}

_SCHOOL = {"name": "Riverside Academy", "urn": "143210"}

_O = "Absent without a reason accepted by the school"
_U = "Arrived after the register closed"
_SESSIONS = [
    (date(2026, 9, 14), "AM", "O", _O), (date(2026, 9, 14), "PM", "O", _O),
    (date(2026, 9, 25), "AM", "O", _O), (date(2026, 9, 25), "PM", "O", _O),
    (date(2026, 10, 2), "AM", "U", _U),
    (date(2026, 10, 5), "AM", "O", _O), (date(2026, 10, 5), "PM", "O", _O),
    (date(2026, 10, 9), "AM", "O", _O), (date(2026, 10, 9), "PM", "O", _O),
    (date(2026, 10, 12), "AM", "U", _U),
    (date(2026, 10, 16), "AM", "O", _O), (date(2026, 10, 16), "PM", "O", _O),
    (date(2026, 10, 22), "AM", "O", _O), (date(2026, 10, 22), "PM", "O", _O),
    (date(2026, 11, 6), "AM", "O", _O), (date(2026, 11, 6), "PM", "O", _O),
    (date(2026, 11, 16), "AM", "O", _O), (date(2026, 11, 16), "PM", "O", _O),
    (date(2026, 11, 27), "AM", "O", _O), (date(2026, 11, 27), "PM", "O", _O),
    (date(2026, 12, 7), "AM", "U", _U),
]

_HISTORY = [
    (date(2026, 9, 21), "Attendance concern raised by Riverside Academy and a letter sent to you."),
    (date(2026, 9, 29), "Meeting at school with you, Amelia and her head of year to talk about what was making it hard for Amelia to attend."),
    (date(2026, 10, 5), "Support plan agreed: a morning check-in with Amelia's form tutor, a referral to the school nurse and a weekly phone call from the attendance officer."),
    (date(2026, 10, 19), "Attendance contract agreed with you, including a referral to the family support service."),
    (date(2026, 10, 21), "Referral to the family support service made; you did not take up the appointment offered on 28 October 2026."),
]


def _attendance(as_of: date, possible: int, present: int, authorised: int) -> dict:
    sessions = [s for s in _SESSIONS if s[0] <= as_of]
    unauthorised = len(sessions)
    absent = authorised + unauthorised
    return {
        "as_of": as_of,
        "period_start": date(2026, 9, 2),
        "period_end": as_of,
        "possible_sessions": possible,
        "present_sessions": present,
        "authorised_absence": authorised,
        "unauthorised_absence": unauthorised,
        "absence_rate": f"{100 * absent / possible:.1f}",
        "attendance_rate": f"{100 * present / possible:.1f}",
        "unauthorised": [
            {"date": d, "session": s, "code": c, "description": text} for d, s, c, text in sessions
        ],
    }


def _history(until: date) -> list[dict]:
    return [{"on": on, "what": what} for on, what in _HISTORY if on < until]


def _base(kind: str, issued_on: date, letter_no: int, attendance: dict) -> dict:
    return {
        "authority": copy.deepcopy(_AUTHORITY),
        "letter": {"kind": kind, "ref": f"CW-2026-00017/L{letter_no}", "issued_on": issued_on,
                   "case_ref": "CW-2026-00017"},
        "recipient": copy.deepcopy(_RECIPIENT),
        "pupil": copy.deepcopy(_PUPIL),
        "school": dict(_SCHOOL),
        "officer": dict(_OFFICER),
        "attendance": attendance,
        "data": {},
        "case": {"support_history": _history(issued_on)},
    }


def _attendance_concern() -> dict:
    # 2 Sep to 18 Sep 2026: 13 school days, 26 sessions
    ctx = _base("attendance_concern", date(2026, 9, 21), 1, _attendance(date(2026, 9, 18), 26, 23, 1))
    ctx["data"] = {"reason": "Amelia has missed two full days and several mornings since the start of term."}
    return ctx


def _meeting_invitation() -> dict:
    ctx = _base("meeting_invitation", date(2026, 9, 23), 9, _attendance(date(2026, 9, 18), 26, 23, 1))
    ctx["data"] = {"meeting_on": datetime(2026, 9, 29, 9, 15), "meeting_place": "Riverside Academy, main reception",
                   "purpose": "To agree a support plan for Amelia's attendance."}
    return ctx


def _meeting_not_attended() -> dict:
    ctx = _base("meeting_not_attended", date(2026, 9, 30), 10, _attendance(date(2026, 9, 25), 36, 30, 2))
    ctx["data"] = {"missed_on": date(2026, 9, 29), "meeting_on": datetime(2026, 10, 6, 15, 30),
                   "meeting_place": "Riverside Academy, main reception"}
    return ctx


def _action_plan() -> dict:
    ctx = _base("action_plan", date(2026, 10, 5), 2, _attendance(date(2026, 10, 2), 46, 39, 2))
    ctx["data"] = {
        "actions": [
            "Amelia will meet her form tutor, Mr Hughes, for a short check-in at 8:35am each school day.",
            "The school will refer Amelia to the school nurse about her headaches by 9 October 2026.",
            "You will tell the school by 8:30am on the first day of any absence and say why.",
            "Daniel Okafor will phone you each Thursday to see how the week has gone.",
        ],
        "review_on": date(2026, 11, 2),
    }
    return ctx


def _parenting_contract() -> dict:
    ctx = _base("parenting_contract", date(2026, 10, 19), 3, _attendance(date(2026, 10, 16), 66, 50, 4))
    ctx["data"] = {
        "requirements": [
            "Make sure Amelia arrives at school by 8:40am every school day.",
            "Tell the school by 8:30am on the first day of any absence and give the reason.",
            "Attend the family support service appointments offered to you.",
            "Attend the review meeting on 30 November 2026.",
        ],
        "support": [
            "A referral to the family support service, with a first appointment within two weeks.",
            "A daily check-in for Amelia with her form tutor, and a quiet place to go at break times.",
            "A weekly phone call from Daniel Okafor to talk about how things are going.",
        ],
        "review_on": date(2026, 11, 30),
        "agreed_on": date(2026, 10, 19),
    }
    return ctx


def _notice_to_improve() -> dict:
    # 2 Sep to 23 Oct 2026: 38 school days, 76 sessions (26 to 30 Oct is half term)
    ctx = _base("notice_to_improve", date(2026, 11, 2), 4, _attendance(date(2026, 10, 30), 76, 58, 4))
    ctx["improvement"] = {
        "starts_on": date(2026, 11, 2),
        "ends_on": date(2026, 12, 11),
        "weeks": 6,
        "target": "No unauthorised absence at all during the improvement period, and Amelia arriving before "
                  "the register closes every day.",
        "further_support": [
            "A meeting with Riverside Academy's special educational needs coordinator to look at whether "
            "Amelia needs extra help in lessons.",
            "A place for Amelia in the school's Tuesday lunchtime wellbeing group.",
        ],
        "reoffered": ["Appointments with the family support service, which you did not take up in October."],
    }
    ctx["data"] = {"improvement_weeks": 6}
    return ctx


def _penalty_notice() -> dict:
    # 2 Sep to 11 Dec 2026: 68 school days, 136 sessions
    ctx = _base("penalty_notice", date(2026, 12, 14), 5, _attendance(date(2026, 12, 11), 136, 109, 6))
    ctx["pn"] = {
        "ref": "PN-2026-00009",
        "issued_on": date(2026, 12, 14),
        "offence_start": date(2026, 10, 5),
        "offence_end": date(2026, 12, 11),
        "receipt_on": date(2026, 12, 16),
        "reduced_until": date(2027, 1, 6),
        "pay_by": date(2027, 1, 13),
        "amount_reduced": Decimal("80.00"),
        "amount_full": Decimal("160.00"),
        "second_notice": False,
        "unauthorised_sessions": 16,
    }
    ctx["data"] = {"offence_start": date(2026, 10, 5), "offence_end": date(2026, 12, 11)}
    return ctx


def _penalty_notice_withdrawal() -> dict:
    ctx = _base("penalty_notice_withdrawal", date(2026, 12, 21), 6, _attendance(date(2026, 12, 18), 146, 118, 7))
    ctx["pn"] = {
        "ref": "PN-2026-00009",
        "issued_on": date(2026, 12, 14),
        "offence_start": date(2026, 10, 5),
        "offence_end": date(2026, 12, 11),
        "withdrawn_on": date(2026, 12, 21),
        "ground": "material_error",
        "ground_text": "The notice gave the wrong date of birth for Amelia.",
        "amount_paid": Decimal("80.00"),
        "refund_due": True,
    }
    ctx["data"] = {"ground": "material_error"}
    return ctx


def _prosecution_warning() -> dict:
    ctx = _base("prosecution_warning", date(2027, 1, 18), 7, _attendance(date(2026, 12, 18), 146, 118, 7))
    ctx["prosecution"] = {"section": "444(1)", "offence_start": date(2026, 10, 5), "offence_end": date(2026, 12, 11)}
    ctx["data"] = {"section": "444(1)", "offence_start": date(2026, 10, 5), "offence_end": date(2026, 12, 11)}
    ctx["case"]["support_history"].append(
        {"on": date(2026, 12, 14), "what": "Penalty notice PN-2026-00009 issued to you; it was not paid within 28 days."}
    )
    return ctx


def _interview_invitation() -> dict:
    ctx = _base("interview_invitation", date(2027, 1, 25), 8, _attendance(date(2026, 12, 18), 146, 118, 7))
    ctx["prosecution"] = {"section": "444(1A)", "offence_start": date(2026, 10, 5), "offence_end": date(2026, 12, 11)}
    ctx["data"] = {
        "invite": "yes",
        "interview_on": datetime(2027, 2, 4, 10, 30),
        "interview_place": "Interview Room 2, County Hall, Market Street, Harrowfield HF1 2AB",
    }
    return ctx


_BUILDERS = {
    "attendance_concern": _attendance_concern,
    "meeting_invitation": _meeting_invitation,
    "meeting_not_attended": _meeting_not_attended,
    "action_plan": _action_plan,
    "parenting_contract": _parenting_contract,
    "notice_to_improve": _notice_to_improve,
    "penalty_notice": _penalty_notice,
    "penalty_notice_withdrawal": _penalty_notice_withdrawal,
    "prosecution_warning": _prosecution_warning,
    "interview_invitation": _interview_invitation,
}


def sample_context(kind: str) -> dict:
    """A complete, realistic context for `kind` (a fresh copy each call)."""
    try:
        return _BUILDERS[kind]()
    except KeyError:
        raise ValueError(f"no sample context for letter kind {kind!r}") from None
