"""The tables (SQLModel). Issued letters, PNs and chronology events are never updated in place."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import CheckConstraint, Column, Index, Numeric, String, Text, UniqueConstraint
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
    __table_args__ = (CheckConstraint(_in("sen", SEN_VALUES), name="ck_pupil_sen"),)
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


class UserSchool(SQLModel, table=True):
    __tablename__ = "user_school"
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    school_id: int = Field(foreign_key="school.id", primary_key=True)


class Case(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(_in("state", CASE_STATES), name="ck_case_state"),
        Index("ix_case_pupil_open", "pupil_id", "state"),
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


class Letter(SQLModel, table=True):
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
