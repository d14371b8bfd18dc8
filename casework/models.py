"""The tables (SQLModel). Issued letters, PNs and chronology events are never updated in place."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import CheckConstraint, Column, Index, Numeric, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from workflows import load

PATHWAY = load()
CASE_STATES = PATHWAY.states
PN_STATUSES = ("issued", "paid", "unpaid", "withdrawn", "prosecuted")
ROLES = ("school", "aeo", "legal", "manager", "admin")
PHASES = ("primary", "secondary", "special", "alternative_provision", "all_through")
SEN_VALUES = ("none", "support", "ehcp")


def _in(column: str, values) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def money() -> Column:
    return Column(Numeric(10, 2, asdecimal=True))


class School(SQLModel, table=True):
    __table_args__ = (CheckConstraint(_in("phase", PHASES), name="ck_school_phase"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    urn: str = Field(sa_column=Column(String(6), unique=True, nullable=False))
    name: str
    la_code: str = Field(max_length=3)
    estab: str = Field(max_length=4)
    phase: str = Field(max_length=32)
    independent: bool = False


class Pupil(SQLModel, table=True):
    __table_args__ = (CheckConstraint(_in("sen", SEN_VALUES), name="ck_pupil_sen"),
                      # pupil search: case-insensitive name prefixes, and the list in name order (migration 0006)
                      Index("ix_pupil_surname_lower", text("lower(surname)")),
                      Index("ix_pupil_forename_lower", text("lower(forename)")),
                      Index("ix_pupil_name_order", "surname", "forename", "id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    upn: str = Field(sa_column=Column(String(13), unique=True, nullable=False))
    school_id: Optional[int] = Field(default=None, foreign_key="school.id", index=True)
    surname: str
    forename: str
    date_of_birth: date
    year_group: str = Field(default="", max_length=4)
    sen: str = Field(default="none", max_length=8)
    fsm: bool = False
    eal: bool = False
    social_worker: bool = False
    looked_after: bool = False
    young_carer: bool = False
    health_flag: bool = False
    address_line1: str = ""
    address_line2: str = ""
    town: str = ""
    postcode: str = ""


class Contact(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    contact_ref: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    title: str = ""
    forename: str
    surname: str
    address_line1: str = ""
    address_line2: str = ""
    town: str = ""
    postcode: str = ""
    email: str = ""
    phone: str = ""
    address_confidential: bool = False


class PupilContact(SQLModel, table=True):
    """A contact's link to one pupil; `s576_basis` records why they are a parent in law (or why not)."""

    __tablename__ = "pupil_contact"
    __table_args__ = (UniqueConstraint("pupil_id", "contact_id", name="uq_pupil_contact"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    relationship: str = ""
    parental_responsibility: bool = False
    lives_with_pupil: bool = False
    s576_basis: str = ""

    @property
    def is_parent(self) -> bool:
        return self.parental_responsibility or self.lives_with_pupil


class RegisterYear(SQLModel, table=True):
    """A pupil's marks at one school for one academic year: one token per session from `start_date`."""

    __tablename__ = "register_year"
    __table_args__ = (UniqueConstraint("pupil_id", "school_id", "academic_year", name="uq_register_year"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    academic_year: int
    start_date: date
    marks: str = Field(sa_column=Column(Text, nullable=False, default=""))


class MarkChange(SQLModel, table=True):
    """The previous value of every changed mark, who or what changed it and when."""

    __tablename__ = "mark_change"
    id: Optional[int] = Field(default=None, primary_key=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    school_id: int = Field(foreign_key="school.id")
    date: date
    session: str = Field(max_length=2)
    old_code: str = Field(max_length=2)
    new_code: str = Field(max_length=2)
    changed_at: datetime
    changed_by: str = ""
    source: str = ""


class User(SQLModel, table=True):
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_user_role"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), unique=True, nullable=False))
    name: str = ""
    role: str = Field(max_length=16)
    password_hash: str = ""
    active: bool = True
    failed_logins: int = 0
    locked_until: Optional[datetime] = None
    must_change_password: bool = False  # an admin chose the password (new user, reset): the user must replace it


class UserSchool(SQLModel, table=True):
    __tablename__ = "user_school"
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    school_id: int = Field(foreign_key="school.id", primary_key=True)


class Case(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(_in("state", CASE_STATES), name="ck_case_state"),
        Index("ix_case_pupil_open", "pupil_id", "state"),
        Index("ix_case_opened_order", "opened_on", "ref"),  # the caseload's order (migration 0008)
        Index("ix_case_officer_opened_order", "officer_id", "opened_on", "ref"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(sa_column=Column(String(20), unique=True, nullable=False))
    pupil_id: int = Field(foreign_key="pupil.id")
    school_id: int = Field(foreign_key="school.id", index=True)
    state: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    pathway: str = Field(max_length=64)
    officer_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True)
    version: int = 1
    opened_on: date
    closed_on: Optional[date] = None
    outcome: str = ""
    limitation_date: Optional[date] = None
    offence_start: Optional[date] = None
    offence_end: Optional[date] = None


class CaseEvent(SQLModel, table=True):
    """The append-only chronology: each event carries the SHA-256 of the one before it."""

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_event_seq"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    seq: int
    on: date
    recorded_at: datetime
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id")
    actor_email: str = ""
    trigger: str = Field(max_length=64)
    from_state: Optional[str] = None
    to_state: str
    data: str = Field(sa_column=Column(Text, nullable=False, default="{}"))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class PenaltyNotice(SQLModel, table=True):
    __tablename__ = "penalty_notice"
    __table_args__ = (CheckConstraint(_in("status", PN_STATUSES), name="ck_pn_status"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(sa_column=Column(String(20), unique=True, nullable=False))
    case_id: Optional[int] = Field(default=None, foreign_key="case.id", index=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    issued_on: date
    offence_start: date
    offence_end: date
    reason: str = ""
    amount_reduced: Optional[Decimal] = Field(default=None, sa_column=money())
    amount_full: Decimal = Field(sa_column=money())
    receipt_on: Optional[date] = None
    reduced_until: Optional[date] = None
    pay_by: Optional[date] = None
    status: str = Field(max_length=16)
    withdrawn_on: Optional[date] = None
    withdrawal_ground: str = ""
    prosecuted: bool = False
    source: str = "casework"


class Payment(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    penalty_notice_id: int = Field(foreign_key="penalty_notice.id", index=True)
    paid_on: date
    amount: Decimal = Field(sa_column=money())
    recorded_at: datetime
    recorded_by: str = ""


LETTER_STATUSES = ("generated", "posted", "returned", "untracked")
POSTAL_CLASSES = ("first", "second")
PRINT_RUN_STATUSES = ("building", "ready", "failed", "posted")


class PrintRun(SQLModel, table=True):
    """Letters waiting to be posted, gathered (ordered by postcode) into one print-ready PDF, then posted together."""

    __tablename__ = "print_run"
    __table_args__ = (CheckConstraint(_in("status", PRINT_RUN_STATUSES), name="ck_print_run_status"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    created_at: datetime = Field(index=True)
    created_by: str = ""
    on: date  # letters issued on or before this day
    kind: str = ""  # "" for every kind
    status: str = Field(default="building", max_length=16)
    letter_count: int = 0
    done: int = 0  # letters added to the PDF so far (progress while building)
    pages: int = 0
    sha256: str = Field(default="", max_length=64)
    path: str = ""
    error: str = ""
    finished_at: Optional[datetime] = None
    posted_on: Optional[date] = None
    postal_class: str = Field(default="", max_length=8)
    posted_by: str = ""


class Letter(SQLModel, table=True):
    """An issued letter: its stored PDF, the inputs it was rendered from, and its service record.

    `status`: generated (waiting to be posted) → posted (`posted_on`, `postal_class`; deemed served on
    `served_on`) → returned (undelivered, `returned_on`); `untracked` for letters issued before service records."""

    __table_args__ = (
        CheckConstraint(_in("status", LETTER_STATUSES), name="ck_letter_status"),
        Index("ix_letter_queue", "status", "print_run_id", "postcode"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    event_id: Optional[int] = Field(default=None, foreign_key="case_event.id")
    kind: str = Field(max_length=64)
    contact_id: int = Field(foreign_key="contact.id")
    penalty_notice_id: Optional[int] = Field(default=None, foreign_key="penalty_notice.id")
    issued_on: date
    recorded_at: datetime
    template_version: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    path: str
    pages: int = 1
    snapshot: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    postcode: str = Field(default="", max_length=16)
    status: str = Field(default="generated", max_length=16)
    print_run_id: Optional[int] = Field(default=None, foreign_key="print_run.id", index=True)
    posted_on: Optional[date] = None
    postal_class: str = Field(default="", max_length=8)
    served_on: Optional[date] = None
    returned_on: Optional[date] = None


class Deadline(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    kind: str = Field(max_length=64)
    due_on: date = Field(index=True)
    penalty_notice_id: Optional[int] = Field(default=None, foreign_key="penalty_notice.id")
    raised_at: Optional[datetime] = None
    done_at: Optional[datetime] = None
    note: str = ""


class Counter(SQLModel, table=True):
    """Sequences for human references (CW-2026-00017, PN-2026-00009), locked when taken."""

    name: str = Field(primary_key=True, max_length=32)
    value: int = 0


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    user_email: str = ""
    action: str = Field(max_length=32)
    object_type: str = Field(max_length=32)
    object_ref: str = ""
    detail: str = Field(sa_column=Column(Text, nullable=False, default="{}"))


class Setting(SQLModel, table=True):
    """Authority settings used by letters (name, address, signatory, payment instructions)."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False, default=""))


class ApiToken(SQLModel, table=True):
    """A school MIS's credential for the live data feed; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    id: Optional[int] = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    token_sha256: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    prefix: str = Field(max_length=12)
    label: str = ""
    created_at: datetime
    created_by: str = ""
    revoked_at: Optional[datetime] = None
    revoked_by: str = ""
    last_used_at: Optional[datetime] = None


class FeedRequest(SQLModel, table=True):
    """An accepted feed post, kept so that a repeat with the same Idempotency-Key returns the same answer."""

    __tablename__ = "feed_request"
    __table_args__ = (UniqueConstraint("token_id", "idempotency_key", name="uq_feed_request_key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="api_token.id", index=True)
    idempotency_key: str = Field(max_length=200)
    body_sha256: str = Field(max_length=64)
    status_code: int
    response: str = Field(sa_column=Column(Text, nullable=False, default="{}"))
    created_at: datetime


ALERT_KINDS = ("pn_threshold", "persistent_absence", "severe_absence", "cme", "n_code_overdue", "evidence_drift")


class Alert(SQLModel, table=True):
    """Something an officer or a school must look at: a newly met trigger, an overdue N code, a drifted mark."""

    __table_args__ = (
        CheckConstraint(_in("kind", ALERT_KINDS), name="ck_alert_kind"),
        Index("ix_alert_open", "school_id", "kind", "resolved_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    school_id: int = Field(foreign_key="school.id")
    case_id: Optional[int] = Field(default=None, foreign_key="case.id", index=True)
    raised_on: date
    created_at: datetime
    message: str = ""
    detail: str = Field(sa_column=Column(Text, nullable=False, default="{}"))
    resolved_at: Optional[datetime] = None
    resolved_by: str = ""


class PupilMeasure(SQLModel, table=True):
    """The flags last computed for a pupil, so that arrivals can tell what is newly met."""

    __tablename__ = "pupil_measure"
    pupil_id: int = Field(foreign_key="pupil.id", primary_key=True)
    as_of: date
    pn_threshold: bool = False
    persistent_absence: bool = False
    severe_absence: bool = False
    cme: bool = False
    computed_at: datetime


class EvidencePeriod(SQLModel, table=True):
    """Register sessions a case relied on (NTI, PN, referral): later changes inside it are drift."""

    __tablename__ = "evidence_period"
    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    start: date
    end: date
    trigger: str = Field(max_length=64)
    relied_at: datetime


# ================================================================ penalty notice requests from schools (issue 7)

PN_REQUEST_STATUSES = ("submitted", "accepted", "returned", "refused")
PN_REQUEST_REASONS = ("holiday", "late", "other")


class PnRequest(SQLModel, table=True):
    """A school's request that the authority issue penalty notices for one absence of one or more siblings.

    `status`: submitted (in the officers' queue) → accepted (notices issued, or prosecution to consider), returned (sent
    back to the school with `decision_reason`; the school may submit a corrected request) or refused (closed)."""

    __tablename__ = "pn_request"
    __table_args__ = (
        CheckConstraint(_in("status", PN_REQUEST_STATUSES), name="ck_pn_request_status"),
        CheckConstraint(_in("reason", PN_REQUEST_REASONS), name="ck_pn_request_reason"),
        Index("ix_pn_request_queue", "status", "submitted_at", "id"),
        Index("ix_pn_request_school", "school_id", "submitted_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(sa_column=Column(String(20), unique=True, nullable=False))
    school_id: int = Field(foreign_key="school.id")
    reason: str = Field(max_length=16)
    period_start: date
    period_end: date
    details: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    headteacher: str = ""  # who confirmed the request (the headteacher, or someone with their authority)
    submitted_at: datetime
    submitted_by: str = ""
    submission_key: str = Field(sa_column=Column(String(80), unique=True, nullable=False))  # a form posted twice
    replaces_id: Optional[int] = Field(default=None, foreign_key="pn_request.id")  # the returned request it corrects
    status: str = Field(default="submitted", max_length=16)
    decided_at: Optional[datetime] = None
    decided_by: str = ""
    decision_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class PnRequestPupil(SQLModel, table=True):
    """A child of a request; once accepted, the case the notices were issued on and what happened per parent."""

    __tablename__ = "pn_request_pupil"
    __table_args__ = (UniqueConstraint("request_id", "pupil_id", name="uq_pn_request_pupil"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="pn_request.id", index=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    case_id: Optional[int] = Field(default=None, foreign_key="case.id")
    consider_prosecution: bool = False  # a parent at the 2-in-3-years limit got no notice
    notes: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))  # JSON list of sentences


class PnRequestNotice(SQLModel, table=True):
    """A penalty notice issued because a request was accepted."""

    __tablename__ = "pn_request_notice"
    id: Optional[int] = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="pn_request.id", index=True)
    penalty_notice_id: int = Field(foreign_key="penalty_notice.id", unique=True)


class PnRequestEvidence(SQLModel, table=True):
    """One item of a request's evidence: a statement, or an uploaded PDF/PNG/JPEG kept in the file store."""

    __tablename__ = "pn_request_evidence"
    id: Optional[int] = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="pn_request.id", index=True)
    kind: str = Field(max_length=32)
    statement: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    filename: str = ""
    media_type: str = Field(default="", max_length=32)
    size: int = 0
    sha256: str = Field(default="", max_length=64)
    path: str = ""


# ---- Court bundles (casework/bundles): evidence uploaded to a case, and the versions of its court bundle ----

EVIDENCE_MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg")
BUNDLE_STATUSES = ("building", "ready", "refused", "failed", "served")


class EvidenceDocument(SQLModel, table=True):
    """A file attached to a case for its court bundle: the file as uploaded, and the A4 PDF the bundle merges."""

    __tablename__ = "evidence_document"
    __table_args__ = (CheckConstraint(_in("media_type", EVIDENCE_MEDIA_TYPES), name="ck_evidence_media_type"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    title: str = Field(max_length=200)
    filename: str = Field(default="", max_length=255)
    media_type: str = Field(max_length=32)
    size: int
    sha256: str = Field(max_length=64)
    path: str
    pdf_sha256: str = Field(max_length=64)
    pdf_path: str
    pages: int
    uploaded_at: datetime
    uploaded_by: str = ""
    withdrawn_at: Optional[datetime] = None
    withdrawn_by: str = ""


class BundleVersion(SQLModel, table=True):
    """One build of a case's court bundle: progress while building, then the stored PDF, its SHA-256 and manifest.

    `status`: building → ready (stored, redaction check passed) → served (frozen); or refused (the redaction check
    found a confidential address: nothing stored) or failed. A version built after a served one keeps the served
    pages and their numbers (`base_version`) and appends what is new."""

    __tablename__ = "bundle_version"
    __table_args__ = (
        UniqueConstraint("case_id", "version", name="uq_bundle_version"),
        CheckConstraint(_in("status", BUNDLE_STATUSES), name="ck_bundle_status"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    version: int
    base_version: Optional[int] = None
    status: str = Field(default="building", max_length=16)
    requested_at: datetime
    requested_by: str = ""
    step: str = ""  # what the build is doing now, in words (progress)
    done: int = 0
    total: int = 0
    pages: int = 0
    sha256: str = Field(default="", max_length=64)
    path: str = ""
    body_sha256: str = Field(default="", max_length=64)  # the pages before stamping, which later versions extend
    body_path: str = ""
    manifest: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    finished_at: Optional[datetime] = None
    served_at: Optional[datetime] = None
    served_by: str = ""
