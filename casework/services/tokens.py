"""API tokens for the live data feed: issued to one school's MIS, shown once, stored hashed, revocable."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from .. import clock
from ..models import ApiToken, School
from .audit import audit
from .errors import BadInput
from .users import earlier_request

TOKEN_PREFIX = "cwf_"
PREFIX_LENGTH = 12  # "cwf_" and 8 characters: enough to tell tokens apart in lists and audit rows
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class FeedCaller:
    """The school a request's token speaks for."""

    token_id: int
    token_prefix: str
    school_id: int
    school_urn: str
    school_name: str


def token_digest(token: str) -> str:
    # A 256-bit random token cannot be guessed or brute-forced, so a fast hash (not a password hash) is right.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(session: Session, school_urn: str, actor: str, label: str = "",
                request_id: str = "") -> tuple[ApiToken, str]:
    """A new token for the school's MIS: the stored row and the token itself (shown once, never stored).

    With a form's one-time `request_id`, a repeat of the same post raises RepeatedRequest and issues nothing."""
    earlier_request(session, actor, "api_token", request_id)
    school = session.exec(select(School).where(School.urn == school_urn)).first()
    if school is None:
        raise BadInput(f"school {school_urn}: unknown school")
    while True:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        prefix = token[:PREFIX_LENGTH]
        if session.exec(select(ApiToken.id).where(ApiToken.prefix == prefix)).first() is None:
            break
    row = ApiToken(school_id=school.id, token_sha256=token_digest(token), prefix=prefix, label=label.strip(),
                   created_at=clock.now(), created_by=actor)
    session.add(row)
    session.flush()
    audit(session, actor, "create", "api_token", prefix,
          {"school": school.urn, "label": row.label, **({"request": request_id} if request_id else {})})
    return row, token


def revoke_token(session: Session, prefix: str, actor: str) -> ApiToken:
    """Revoke the token with this display prefix; it is refused from now on."""
    rows = session.exec(select(ApiToken).where(ApiToken.prefix == prefix)).all()
    if not rows:
        raise BadInput(f"token {prefix!r}: no token has this prefix")
    if len(rows) > 1:
        raise BadInput(f"token {prefix!r}: more than one token has this prefix")
    row = rows[0]
    if row.revoked_at is not None:
        raise BadInput(f"token {prefix}: already revoked at {row.revoked_at:%Y-%m-%d %H:%M} by {row.revoked_by}")
    row.revoked_at, row.revoked_by = clock.now(), actor
    session.add(row)
    school = session.get(School, row.school_id)
    audit(session, actor, "update", "api_token", prefix, {"revoked": True, "school": school.urn})
    session.flush()
    return row


def list_tokens(session: Session, school_urn: str | None = None) -> list[tuple[ApiToken, School]]:
    """Every token (or one school's), oldest first, with its school."""
    return list(session.exec(_tokens_query(session, school_urn).order_by(ApiToken.id)).all())


def token_page(session: Session, school_urn: str | None = None, *, page: int = 1,
               page_size: int = 50) -> tuple[list[tuple[ApiToken, School]], bool]:
    """One page of the tokens (or one school's), newest first, with their schools; and whether another page follows."""
    rows = session.exec(_tokens_query(session, school_urn).order_by(ApiToken.id.desc())
                        .offset((page - 1) * page_size).limit(page_size + 1)).all()
    return list(rows[:page_size]), len(rows) > page_size


def _tokens_query(session: Session, school_urn: str | None):
    query = select(ApiToken, School).join(School, School.id == ApiToken.school_id)
    if school_urn:
        if session.exec(select(School.id).where(School.urn == school_urn)).first() is None:
            raise BadInput(f"school {school_urn}: unknown school")
        query = query.where(School.urn == school_urn)
    return query


def authenticate(session: Session, presented: str | None) -> FeedCaller | None:
    """The caller a live, known token speaks for; None (audited as a failed login) for any other value."""
    row = school = None
    reason = "no token"
    if presented:
        row = None
        if len(presented) <= MAX_TOKEN_LENGTH:
            row = session.exec(select(ApiToken).where(ApiToken.token_sha256 == token_digest(presented))).first()
        if row is None:
            reason = "unknown token"
        elif row.revoked_at is not None:
            reason = "revoked token"
        else:
            school = session.get(School, row.school_id)
    if row is None or school is None:
        shown = row.prefix if row is not None else _printable(presented or "")[:PREFIX_LENGTH]
        audit(session, "api", "login_failed", "api_token", shown, {"reason": reason})
        return None
    row.last_used_at = clock.now()
    session.add(row)
    return FeedCaller(row.id, row.prefix, school.id, school.urn, school.name)


def _printable(value: str) -> str:
    return "".join(ch if ch.isascii() and ch.isprintable() else "?" for ch in value)
