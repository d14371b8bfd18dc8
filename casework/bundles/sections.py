"""The bundle's sections and documents, in court order, from the case's data.

Each document has a stable `key` (the same document in a later version has the same key) and a `sha256`: the SHA-256
of a stored file (letters, uploads), or of the data a part is rendered from, so a later version can tell what is new
or changed. Parts rendered from case data carry their template and context; stored files their path in the store.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from ..register import calendar, codes
from ..services.triggers_ui import FIELD_TEXT, event_details
from . import registers
from .data import BundleData, paid


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    multi: bool = False  # holds several documents, each with a bookmark of its own
    exhibits: bool = False  # its documents are exhibits to the witness statement


SECTIONS = (
    Section("cover", "Cover sheet"),
    Section("index", "Index"),
    Section("chronology", "Chronology of interventions"),
    Section("statement", "Witness statement (s.9 Criminal Justice Act 1967)"),
    Section("certificate", "Certificate of attendance (s.566 Education Act 1996)", multi=True),
    Section("register", "Attendance register extracts", multi=True, exhibits=True),
    Section("letters", "Letters as issued", multi=True, exhibits=True),
    Section("penalty_notices", "Penalty notice records", multi=True, exhibits=True),
    Section("decisions", "Decision records"),
    Section("interview", "Interview record", exhibits=True),
    Section("uploads", "Uploaded documents", multi=True, exhibits=True),
)
SECTION = {s.key: s for s in SECTIONS}
VOLATILE = ("extracted_at", "own_pages")  # context keys left out of a part's hash: they change on every build

OFFENCES = {
    "444(1)": "Education Act 1996, section 444(1): failing to secure the regular attendance at school of a registered "
              "pupil of compulsory school age",
    "444(1A)": "Education Act 1996, section 444(1A): knowing that the child is failing to attend regularly, failing "
               "without reasonable justification to cause the child to do so",
}
EVENT_WORDS = {
    "raise_concern": "Attendance concern raised",
    "start_consultation": "Consultation with the school started",
    "agree_action_plan": "Support plan agreed",
    "offer_parenting_contract": "Attendance contract agreed with the parent",
    "issue_notice_to_improve": "Notice to improve issued",
    "issue_penalty_notice": "Penalty notices issued",
    "record_payment": "Payment of a penalty notice recorded",
    "withdraw_penalty_notice": "Penalty notice withdrawn",
    "refer_for_prosecution": "Case referred for prosecution",
    "record_interview": "Interview under caution recorded",
    "lay_information": "Information laid at the magistrates' court",
    "record_outcome": "Court outcome recorded",
    "step_down": "Case stepped down to a support plan",
    "close": "Case closed",
    "issue_letter": "Letter sent",
}
ELSEWHERE = {"decision": "decisions", "eso_considered": "decisions", "health_review": "decisions",
             "interview_notes": "interview"}  # long texts shown in their own section, not the chronology
SAID = {"invite", "notes"}  # keys the sentence itself already says
PN_STATUS_WORDS = {"issued": "Issued, payment period running", "paid": "Paid", "unpaid": "Unpaid: payment period ended",
                   "withdrawn": "Withdrawn", "prosecuted": "Unpaid and relied on for this prosecution"}
WITHDRAWAL_WORDS = {"ought_not_to_have_been_issued": "it ought not to have been issued",
                    "wrong_person": "it was issued to the wrong person",
                    "material_error": "it contains a material error"}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
UNAUTHORISED_CODES = sorted(code for code, (category, _) in codes.ALL_CODES.items()
                            if category is codes.Category.UNAUTHORISED)


@dataclass
class Document:
    key: str
    section: str
    title: str
    sha256: str = ""
    template: str = ""          # rendered from case data with bundle_templates/<template>.html
    context: dict | None = None
    path: str = ""              # a stored PDF, merged as it is
    file_sha256: str = ""       # the SHA-256 the stored PDF at `path` must still have
    source: str = "rendered"    # rendered | stored | redacted
    original_sha256: str = ""   # a redacted copy: the SHA-256 of the letter as issued
    exhibit: str = ""
    dated: date | None = None
    letter_id: int | None = None
    pages: int = 0


def rendered(key: str, section: str, title: str, template: str, context: dict, **kw) -> Document:
    """A part rendered from case data; its SHA-256 is of the data (less what changes on every build)."""
    stable = {k: v for k, v in context.items() if k not in VOLATILE}
    digest = hashlib.sha256(json.dumps([template, stable], sort_keys=True, default=str).encode()).hexdigest()
    return Document(key, section, title, sha256=digest, template=template, context=context, **kw)


# ---------------------------------------------------------------- words

def full_name(contact) -> str:
    return " ".join(p for p in (contact.title, contact.forename, contact.surname) if p)


def address_lines(obj) -> list[str]:
    return [v for v in (obj.address_line1, obj.address_line2, obj.town, obj.postcode) if v]


def person(contact, relationship: str = "") -> dict:
    """A named person; their address only when it is not confidential."""
    return {"name": full_name(contact), "relationship": relationship,
            "address_lines": None if contact.address_confidential else address_lines(contact)}


def initials(name: str) -> str:
    """Exhibit prefix from the witness's name: Jo Smith -> JS."""
    folded = unicodedata.normalize("NFKD", name)
    letters = [w[0] for w in re.findall(r"[A-Za-z][A-Za-z'-]*", folded.encode("ascii", "ignore").decode())]
    return "".join(letters[:1] + letters[-1:]).upper() or "EX"


def _value(text: str) -> str:
    """ISO dates and times of event data in words: 2026-01-21T09:30 -> 21 January 2026 at 09:30."""
    if ISO_DATE.fullmatch(text[:10]) and (len(text) == 10 or text[10:11] == "T"):
        moment = datetime.fromisoformat(text)
        return _long(moment.date()) + (f" at {moment:%H:%M}" if len(text) > 10 else "")
    return text


def event_sentence(d: BundleData, trigger: str, data: dict) -> str:
    """What happened at an event, in plain words."""
    words = EVENT_WORDS.get(trigger, trigger.replace("_", " ").capitalize())
    if trigger == "record_interview" and str(data.get("invite", "")).lower() == "yes":
        words = "Invitation to interview under caution sent"
    order = list(FIELD_TEXT)
    shown = dict(sorted(((k, v) for k, v in data.items() if k not in ELSEWHERE and k not in SAID),
                        key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    details = [f"{label}: {_value(text)}" for label, text in event_details(d.pathway, trigger, shown)]
    moved = sorted({SECTION[ELSEWHERE[k]].title.lower() for k in data if k in ELSEWHERE})
    details += [f"recorded in the {where}" for where in moved]
    details += [str(note) for note in data.get("notes", [])]
    return words + (". " + "; ".join(details) if details else "") + "."


# ---------------------------------------------------------------- evidence documents (exhibits)

def register_documents(d: BundleData, start: date, end: date) -> tuple[list[Document], list[registers.Extract]]:
    """The register of the offence period at each school, then the year to date for information."""
    docs, extracts = [], []
    for urn in registers.schools_with_marks(d.segments, start, end, d.school.urn):
        found = registers.extract(d.segments, urn, start, end)
        extracts.append(found)
        docs.append(rendered(f"register:offence:{urn}", "register",
                             f"Register, offence period: {_school_name(d, urn)}", "register",
                             _register_context(d, found, "offence")))
    ytd_start, ytd_end = registers.year_to_date(d.segments, d.today)
    for urn in registers.schools_with_marks(d.segments, ytd_start, ytd_end, d.school.urn):
        found = registers.extract(d.segments, urn, ytd_start, ytd_end)
        docs.append(rendered(f"register:year:{urn}", "register",
                             f"Register, year to date (for information): {_school_name(d, urn)}", "register",
                             _register_context(d, found, "information")))
    return docs, extracts


def _school_name(d: BundleData, urn: str) -> str:
    school = d.schools_by_urn.get(urn)
    return school.name if school else f"school {urn}"


def _register_context(d: BundleData, found: registers.Extract, purpose: str) -> dict:
    width, weeks = found.weeks()
    return {"school": {"name": _school_name(d, found.school_urn), "urn": found.school_urn},
            "pupil": _pupil(d), "start": found.start, "end": found.end, "purpose": purpose, "width": width,
            "weeks": weeks, "totals": found.totals.as_dict(), "legend": found.legend(), "case_ref": d.case.ref,
            "unauthorised_codes": UNAUTHORISED_CODES}


def _pupil(d: BundleData) -> dict:
    p = d.pupil
    return {"name": f"{p.forename} {p.surname}", "date_of_birth": p.date_of_birth, "upn": p.upn,
            "year_group": p.year_group}


def letter_documents(d: BundleData, redact: set[int]) -> list[Document]:
    """Every letter as issued; those in `redact` (letter ids) as redacted copies re-rendered without the address."""
    docs = []
    for letter in d.letters:
        contact = d.contacts.get(letter.contact_id)
        label = d.pathway.letters.get(letter.kind, {}).get("label", letter.kind.replace("_", " ").capitalize())
        title = f"{label} to {full_name(contact) if contact else 'contact ' + str(letter.contact_id)}"
        if letter.id in redact:
            docs.append(Document(f"letter:{letter.id}", "letters", title + " (redacted copy)",
                                 sha256=hashlib.sha256(f"{letter.sha256}:redacted".encode()).hexdigest(),
                                 source="redacted", original_sha256=letter.sha256, dated=letter.issued_on,
                                 letter_id=letter.id))
        else:
            docs.append(Document(f"letter:{letter.id}", "letters", title, sha256=letter.sha256, path=letter.path,
                                 file_sha256=letter.sha256, source="stored", dated=letter.issued_on,
                                 letter_id=letter.id))
    return docs


def penalty_notice_documents(d: BundleData, letters: list[Document]) -> list[Document]:
    """One record per penalty notice on the case: the notice, every payment, its status."""
    letter_of = {letter.penalty_notice_id: letter.id for letter in d.letters if letter.kind == "penalty_notice"}
    exhibit_of = {doc.letter_id: doc.exhibit for doc in letters}
    docs = []
    for pn in d.penalty_notices:
        contact = d.contacts.get(pn.contact_id)
        payments = d.payments.get(pn.id, [])
        context = {
            "ref": pn.ref, "recipient": full_name(contact) if contact else "", "issued_on": pn.issued_on,
            "offence_start": pn.offence_start, "offence_end": pn.offence_end, "amount_reduced": pn.amount_reduced,
            "amount_full": pn.amount_full, "receipt_on": pn.receipt_on, "reduced_until": pn.reduced_until,
            "pay_by": pn.pay_by, "status": PN_STATUS_WORDS.get(pn.status, pn.status), "prosecuted": pn.prosecuted,
            "withdrawn_on": pn.withdrawn_on, "ground": WITHDRAWAL_WORDS.get(pn.withdrawal_ground, ""),
            "payments": [{"on": p.paid_on, "amount": p.amount, "by": p.recorded_by} for p in payments],
            "paid": paid(payments), "notice_exhibit": exhibit_of.get(letter_of.get(pn.id), ""),
            "case_ref": d.case.ref,
        }
        docs.append(rendered(f"pn:{pn.ref}", "penalty_notices", f"Penalty notice {pn.ref} to {context['recipient']}",
                             "penalty_notice", context, dated=pn.issued_on))
    return docs


def interview_documents(d: BundleData) -> list[Document]:
    rows = [{"on": e.row.on, "by": e.actor_name, "invited": str(e.data.get("invite", "")).lower() == "yes",
             "notes": str(e.data.get("interview_notes", ""))}
            for e in d.events if e.row.trigger == "record_interview"]
    if not rows:
        return []
    return [rendered("interview", "interview", SECTION["interview"].title, "interview",
                     {"interviews": rows, "case_ref": d.case.ref, "pupil": _pupil(d)}, dated=rows[-1]["on"])]


def upload_documents(d: BundleData) -> list[Document]:
    return [Document(f"upload:{u.id}", "uploads", u.title, sha256=u.sha256, path=u.pdf_path, file_sha256=u.pdf_sha256,
                     source="stored", dated=u.uploaded_at.date()) for u in d.uploads]


def assign_exhibits(docs: list[Document], prefix: str, existing: dict[str, str]) -> None:
    """Label exhibits PREFIX/1, PREFIX/2… in bundle order; a document already labelled keeps its label."""
    numbers = [int(label.rsplit("/", 1)[1]) for label in existing.values() if "/" in label]
    following = max(numbers, default=0) + 1
    for doc in docs:
        if not SECTION[doc.section].exhibits:
            continue
        if doc.key in existing:
            doc.exhibit = existing[doc.key]
        else:
            doc.exhibit, following = f"{prefix}/{following}", following + 1


# ---------------------------------------------------------------- parts rendered from case data

def offence(d: BundleData) -> dict:
    referral = d.latest("refer_for_prosecution")
    section = str(referral.data.get("section", "")) if referral else ""
    return {"section": section, "words": OFFENCES.get(section, f"Education Act 1996, section {section}"),
            "start": d.case.offence_start, "end": d.case.offence_end}


def cover(d: BundleData) -> Document:
    laid = d.latest("lay_information")
    hearing = laid.data.get("hearing_on") if laid else None
    context = {
        "court": str(laid.data.get("court", "")) if laid else "",
        "hearing_on": date.fromisoformat(hearing) if isinstance(hearing, str) and hearing else None,
        "prosecutor": {"name": d.authority["authority_name"],
                       "address_lines": [x for x in d.authority["authority_address"].splitlines() if x.strip()]},
        "defendants": [person(p.contact, p.link.relationship) for p in d.parents],
        "offence": offence(d), "pupil": _pupil(d), "school": d.school.name, "case_ref": d.case.ref,
    }
    return rendered("cover", "cover", SECTION["cover"].title, "cover", context)


def chronology(d: BundleData, letters: list[Document]) -> Document:
    by_event: dict[int, list[Document]] = {}
    event_of = {letter.id: letter.event_id for letter in d.letters}
    for doc in letters:
        by_event.setdefault(event_of.get(doc.letter_id), []).append(doc)
    rows = [{"on": e.row.on, "what": event_sentence(d, e.row.trigger, e.data), "by": e.actor_name,
             "letters": [f"{doc.title} ({doc.exhibit})" for doc in by_event.get(e.row.id, [])]}
            for e in d.events]
    return rendered("chronology", "chronology", SECTION["chronology"].title, "chronology",
                    {"events": rows, "case_ref": d.case.ref, "pupil": _pupil(d)})


def certificates(d: BundleData, extracts: list[registers.Extract], extracted_at: datetime) -> list[Document]:
    """One certificate per school whose register covers the offence period, exactly that period."""
    persons = [person(p.contact, p.link.relationship) for p in d.parents if p.link.parental_responsibility]
    docs = []
    for found in extracts:
        context = {
            "school": {"name": _school_name(d, found.school_urn), "urn": found.school_urn}, "pupil": _pupil(d),
            "start": found.start, "end": found.end, "totals": found.totals.as_dict(),
            "unauthorised": [{"date": day, "session": session, "code": code, "meaning": codes.description(code)}
                             for day, session, code in found.unauthorised],
            "persons": persons, "extracted_at": extracted_at, "case_ref": d.case.ref,
            "compulsory_age": calendar.csa_problem(d.pupil.date_of_birth, found.start, found.end) is None,
        }
        docs.append(rendered(f"certificate:{found.school_urn}", "certificate",
                             f"Certificate of attendance: {context['school']['name']}", "certificate", context))
    return docs


def decisions(d: BundleData) -> list[Document]:
    referrals = [{"on": e.row.on, "by": e.actor_name, "section": OFFENCES.get(str(e.data.get("section", "")), ""),
                  "offence_start": e.data.get("offence_start"), "offence_end": e.data.get("offence_end"),
                  "eso_considered": str(e.data.get("eso_considered", "")), "decision": str(e.data.get("decision", "")),
                  "health_review": str(e.data.get("health_review", ""))}
                 for e in d.events if e.row.trigger == "refer_for_prosecution"]
    if not referrals:
        return []
    needs_review = d.pupil.sen == "ehcp" or d.pupil.health_flag
    return [rendered("decisions", "decisions", SECTION["decisions"].title, "decisions",
                     {"referrals": [{**r, "offence_start": _maybe_date(r["offence_start"]),
                                     "offence_end": _maybe_date(r["offence_end"])} for r in referrals],
                      "needs_health_review": needs_review, "case_ref": d.case.ref, "pupil": _pupil(d)},
                     dated=referrals[-1]["on"])]


def _maybe_date(value):
    return date.fromisoformat(value) if isinstance(value, str) and ISO_DATE.fullmatch(value) else value


def statement(d: BundleData, exhibits: list[Document], extracts: list[registers.Extract]) -> Document:
    """The officer's s.9 statement, prefilled from the case, for signature."""
    officer = d.officer
    name = (officer.name or officer.email) if officer else ""
    context = {
        "witness": {"name": name, "occupation": f"Attendance and Entitlement Officer, {d.authority['authority_name']}"},
        "paragraphs": statement_paragraphs(d, exhibits, extracts, officer.email if officer else ""),
        "exhibits": [{"label": doc.exhibit, "title": doc.title} for doc in exhibits],
        "case_ref": d.case.ref,
    }
    context["own_pages"] = 1 + (sum(len(p) for p in context["paragraphs"]) + 80 * len(exhibits)) // 3500
    return rendered("statement", "statement", f"Witness statement of {name or 'the officer'}", "statement", context)


def statement_paragraphs(d: BundleData, exhibits: list[Document], extracts: list[registers.Extract],
                         witness_email: str) -> list[str]:
    p, off = d.pupil, offence(d)
    first = [f"I am employed by {d.authority['authority_name']} as an Attendance and Entitlement Officer. I make this "
             "statement from my own knowledge and from the records of the authority, which were made at or near the "
             "time of the events they record.",
             f"{p.forename} {p.surname} (born {_long(p.date_of_birth)}) is a registered pupil at {d.school.name}. "
             + _parents_sentence(d)]
    register = [doc for doc in exhibits if doc.key.startswith("register:offence:")]
    for doc, found in zip(register, extracts):
        totals = found.totals
        first.append(f"I produce as exhibit {doc.exhibit} the attendance register of "
                     f"{_school_name(d, found.school_urn)} from {_long(found.start)} to {_long(found.end)}. "
                     f"Of {totals.possible} possible sessions in that period, {p.forename} attended {totals.present} "
                     f"and was absent without authority for {totals.unauthorised}.")
    exhibit_of = {doc.letter_id: doc.exhibit for doc in exhibits if doc.letter_id}
    by_event: dict[int, list[str]] = {}
    for letter in d.letters:
        if letter.id in exhibit_of:
            by_event.setdefault(letter.event_id, []).append(exhibit_of[letter.id])
    for e in d.events:
        who = "I" if e.row.actor_email == witness_email else e.actor_name
        sentence = f"On {_long(e.row.on)}: {event_sentence(d, e.row.trigger, e.data)}"
        if who != "I":
            sentence += f" This was recorded by {who}."
        labels = by_event.get(e.row.id)
        if labels:
            sentence += f" I produce the letters sent as exhibit{'s' if len(labels) > 1 else ''} {', '.join(labels)}."
        first.append(sentence)
    others = [doc for doc in exhibits if not doc.key.startswith("register:offence:") and not doc.letter_id]
    first += [f"I produce as exhibit {doc.exhibit}: {doc.title}." for doc in others]
    if off["start"] and off["end"]:
        first.append(f"The offence alleged is under {off['words']}, in the period {_long(off['start'])} to "
                     f"{_long(off['end'])}.")
    return first


def _parents_sentence(d: BundleData) -> str:
    names = [f"{full_name(x.contact)} ({x.link.relationship or 'parent'})" for x in d.parents]
    if not names:
        return "No parent is recorded for the pupil."
    return ("The pupil's parents within the meaning of section 576 of the Education Act 1996 are "
            + ", ".join(names) + ".")


def _long(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def index_context(d: BundleData, entries: list[dict], heading: str, version_note: str = "") -> dict:
    return {"entries": entries, "heading": heading, "case_ref": d.case.ref, "pupil": _pupil(d), "note": version_note}

