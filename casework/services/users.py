"""Users: creation with Argon2-hashed passwords, throttled sign-in, password changes, look-up and school scope."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session, select

from .. import clock
from ..models import ROLES, School, User, UserSchool
from .audit import audit
from .errors import BadInput, PermissionDenied

_hasher = PasswordHasher()
_HASH_OF_NO_ONE = _hasher.hash("checked against when the email is unknown, so timing does not reveal who exists")
MIN_PASSWORD_LENGTH = 10
MAX_FAILED_SIGN_INS = 5
LOCK_DURATION = timedelta(minutes=15)
LOCAL_TIME = ZoneInfo("Europe/London")


class SignInRefused(PermissionDenied):
    """The email and password did not sign in; the message is safe to show."""


class AccountLocked(SignInRefused):
    """Too many failed sign-ins: the account is locked until `until`, whatever password is given."""

    def __init__(self, until: datetime):
        self.until = until
        super().__init__("This account is locked after too many failed sign-ins. "
                         f"Try again after {until.astimezone(LOCAL_TIME):%H:%M}.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def check_new_password(email: str, password: str) -> None:
    """BadInput unless the password is long enough and is not the email address."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"The password must be at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() == email.strip().lower():
        raise BadInput("The password must not be your email address")


def add_user(session: Session, email: str, role: str, password: str, school_urns: list[str] = (),
             name: str = "", actor: str = "cli") -> User:
    """Create a user; school users must name at least one school, and only school users may."""
    email = email.strip().lower()
    if "@" not in email:
        raise BadInput(f"email {email!r} is not an email address")
    if role not in ROLES:
        raise BadInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    check_new_password(email, password)
    if role == "school" and not school_urns:
        raise BadInput("a school user needs at least one --school URN")
    if role not in ("school", "aeo") and school_urns:
        raise BadInput(f"only school users (their schools) and AEOs (their patch) name schools, not {role}")
    if session.exec(select(User).where(User.email == email)).first():
        raise BadInput(f"user {email} already exists")
    schools = []
    for urn in school_urns:
        school = session.exec(select(School).where(School.urn == urn)).first()
        if school is None:
            raise BadInput(f"school {urn}: unknown school")
        schools.append(school)
    user = User(email=email, name=name or email.split("@")[0], role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    for school in schools:
        session.add(UserSchool(user_id=user.id, school_id=school.id))
    audit(session, actor, "create", "user", email, {"role": role, "schools": list(school_urns)})
    session.flush()
    return user


def get_user(session: Session, email: str) -> User:
    """The active user with this email, or PermissionDenied."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None or not user.active:
        raise PermissionDenied(f"no active user {email}")
    return user


def sign_in(session: Session, email: str, password: str) -> User:
    """The active user with this email and password; SignInRefused (or AccountLocked) otherwise, audited either way."""
    email = email.strip().lower()
    user = session.exec(select(User).where(User.email == email).with_for_update()).first()
    if user is None or not user.active:
        _spend_a_verification(password)
        audit(session, email, "login_failed", "user", email, {"reason": "unknown or inactive user"})
        raise SignInRefused("The email address or password is not right")
    _refuse_if_locked(session, user)
    _check_password(session, user, password, "The email address or password is not right")
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    audit(session, user.email, "login", "user", user.email)
    return user


def change_password(session: Session, user_id: int, current: str, new: str) -> User:
    """Re-hash the user's password; a wrong current password counts as a failed sign-in."""
    user = session.exec(select(User).where(User.id == user_id).with_for_update()).one()
    _refuse_if_locked(session, user)
    _check_password(session, user, current, "The current password is not right")
    check_new_password(user.email, new)
    user.password_hash = hash_password(new)
    session.add(user)
    audit(session, user.email, "update", "user", user.email, {"changed": "password"})
    return user


def _spend_a_verification(password: str) -> None:
    """Take as long as checking a real user's password."""
    try:
        _hasher.verify(_HASH_OF_NO_ONE, password)
    except VerifyMismatchError:
        pass


def _refuse_if_locked(session: Session, user: User) -> None:
    if user.locked_until is not None and user.locked_until > clock.now():
        audit(session, user.email, "login_failed", "user", user.email, {"reason": "locked"})
        raise AccountLocked(user.locked_until)


def _check_password(session: Session, user: User, password: str, refusal: str) -> None:
    """Count a wrong password, locking the account at the limit (and starting a fresh count after the lock)."""
    if verify_password(user, password):
        return
    user.failed_logins += 1
    audit(session, user.email, "login_failed", "user", user.email, {"failed_logins": user.failed_logins})
    if user.failed_logins >= MAX_FAILED_SIGN_INS:
        user.failed_logins, user.locked_until = 0, clock.now() + LOCK_DURATION
        audit(session, user.email, "locked", "user", user.email, {"until": user.locked_until})
        session.add(user)
        raise AccountLocked(user.locked_until)
    session.add(user)
    raise SignInRefused(refusal)
