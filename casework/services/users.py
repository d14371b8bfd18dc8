"""Users: creation with Argon2-hashed passwords, throttled sign-in, password changes, look-up and school scope."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, func, or_
from sqlmodel import Session, select

from .. import clock
from ..models import ROLES, AuditLog, School, User, UserSchool
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
             name: str = "", actor: str = "cli", request_id: str = "") -> User:
    """Create a user; school users must name at least one school, and only school users may.

    `request_id` (a form's one-time id) is kept in the audit row so that `earlier_request` can spot a repeat."""
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
    audit(session, actor, "create", "user", email,
          {"role": role, "schools": list(school_urns), **({"request": request_id} if request_id else {})})
    session.flush()
    return user


def get_user(session: Session, email: str) -> User:
    """The active user with this email, or PermissionDenied. Read once per session (see `remember_user`)."""
    email = email.strip().lower()
    known = session.info.setdefault(_KNOWN_USERS, {})
    user = known.get(email)
    if user is not None and user not in session:  # gone with a rollback, or expunged: read it again
        user = None
    if user is None:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is not None:
            known[email] = user
    if user is None or not user.active:
        raise PermissionDenied(f"no active user {email}")
    return user


_KNOWN_USERS = "casework_users_by_email"


def signed_in_user(session: Session, user_id: int) -> User | None:
    """The user with this id, active or not (the web reads its signed-in user so at every request)."""
    return session.exec(_user_by_id_query(), params={"id": user_id}).first()


@cache
def _user_by_id_query():
    """Built once (see casework.services.facts)."""
    return select(User).where(User.id == bindparam("id"))


def remember_user(session: Session, user: User) -> None:
    """`user`, already loaded in `session` (the web's signed-in user), is what get_user gives for their email."""
    session.info.setdefault(_KNOWN_USERS, {})[user.email] = user


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
    if verify_password(user, new):
        raise BadInput("The new password must be different from the current one")
    user.password_hash = hash_password(new)
    user.must_change_password = False
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


# ---- Administration: the admin pages' use cases. Each refuses with every problem at once and changes nothing then.

SCHOOL_ROLES = ("school", "aeo")  # school users (their schools) and AEOs (their patch) name schools
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied by hand


class RepeatedRequest(BadInput):
    """The same form was posted again: what it did was done already, to `ref` (nothing was done now)."""

    def __init__(self, ref: str):
        self.ref = ref
        super().__init__(f"this was done already ({ref})")


class InvalidUser(BadInput):
    """A user's details are refused: `problems` maps each detail ("email", "name", "role", "schools", "password",
    or "" for the user as a whole) to the reason."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass(frozen=True)
class UserRow:
    user: User
    schools: list[School]


def generate_password() -> str:
    """A random password to show once: four groups of four letters and digits (about 79 bits)."""
    return "-".join("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(4))


def list_users(session: Session, *, role: str | None = None, search: str = "", page: int = 1,
               page_size: int = 50) -> tuple[list[UserRow], bool]:
    """One page of users by email, optionally of one role or matching `search` (email or name), with their schools;
    and whether another page follows."""
    query = select(User)
    if role:
        query = query.where(User.role == role)
    if search.strip():
        term = search.strip().lower()
        query = query.where(or_(func.lower(User.email).contains(term, autoescape=True),
                                func.lower(User.name).contains(term, autoescape=True)))
    users = session.exec(query.order_by(User.email).offset((page - 1) * page_size).limit(page_size + 1)).all()
    schools = schools_of(session, [user.id for user in users[:page_size]])
    return [UserRow(user, schools.get(user.id, [])) for user in users[:page_size]], len(users) > page_size


def schools_of(session: Session, user_ids: list[int]) -> dict[int, list[School]]:
    """Each user's schools by name, in one query."""
    found: dict[int, list[School]] = {}
    if user_ids:
        rows = session.exec(select(UserSchool.user_id, School).join(School, School.id == UserSchool.school_id)
                            .where(UserSchool.user_id.in_(user_ids)).order_by(School.name, School.urn)).all()
        for user_id, school in rows:
            found.setdefault(user_id, []).append(school)
    return found


def user_by_id(session: Session, user_id: int) -> UserRow | None:
    """The user with this id and their schools, or None."""
    user = session.get(User, user_id)
    return UserRow(user, schools_of(session, [user.id]).get(user.id, [])) if user else None


def earlier_request(session: Session, actor: str, object_type: str, request_id: str) -> None:
    """RepeatedRequest when this actor's form with this one-time id already created something of this type (in the
    last day). The actor's row is locked first, so two posts of one form are checked one after the other."""
    if not request_id:
        return
    session.exec(select(User.id).where(User.email == actor).with_for_update()).all()
    rows = session.exec(select(AuditLog.object_ref, AuditLog.detail).where(
        AuditLog.at >= clock.now() - timedelta(days=1), AuditLog.user_email == actor,
        AuditLog.object_type == object_type, AuditLog.action.in_(("create", "update")))).all()
    for ref, detail in rows:
        if json.loads(detail or "{}").get("request") == request_id:
            raise RepeatedRequest(ref)


def create_user(session: Session, *, email: str, name: str, role: str, school_urns: list[str], actor: str,
                password: str = "", request_id: str = "") -> tuple[User, str]:
    """Add a user (as `add_user`), checking every detail first; a password is generated when none is given.

    Returns the user and the password, which is not kept anywhere else: show it once."""
    earlier_request(session, actor, "user", request_id)
    email = email.strip().lower()
    problems = _email_problems(session, email)
    if not name.strip():
        problems["name"] = "Enter the user's name"
    role_problems, _ = _role_problems(session, role, school_urns)
    problems.update(role_problems)
    if password:
        try:
            check_new_password(email, password)
        except BadInput as refused:
            problems["password"] = str(refused)
    if problems:
        raise InvalidUser(problems)
    password = password or generate_password()
    user = add_user(session, email, role, password, _unique(school_urns), name=name.strip(), actor=actor,
                    request_id=request_id)
    user.must_change_password = True  # the admin has seen it
    session.add(user)
    session.flush()
    return user, password


def update_user(session: Session, user_id: int, *, name: str, role: str, school_urns: list[str],
                actor: str) -> dict:
    """Change a user's name, role and schools; returns what changed (audited). Nobody removes their own admin role,
    and the last active admin keeps it."""
    user = _user_for_update(session, user_id)
    problems = {} if name.strip() else {"name": "Enter the user's name"}
    role_problems, schools = _role_problems(session, role, school_urns)
    problems.update(role_problems)
    if not problems and user.role == "admin" and role != "admin":
        problems.update({"role": why for why in _admin_kept(session, user, actor,
                                                             "remove the administrator role from").values()})
    if problems:
        raise InvalidUser(problems)
    changes = {}
    if user.name != name.strip():
        changes["name"] = name.strip()
    if user.role != role:
        changes["role"] = role
    if _replace_schools(session, user, schools):
        changes["schools"] = sorted(school.urn for school in schools)
    if changes:
        user.name, user.role = name.strip(), role
        session.add(user)
        audit(session, actor, "update", "user", user.email, changes)
        session.flush()
    return changes


def set_active(session: Session, user_id: int, active: bool, actor: str) -> bool:
    """Deactivate (no more sign-in) or reactivate a user; False when it already was so. Nobody deactivates themselves,
    and the last active admin stays active."""
    user = _user_for_update(session, user_id)
    if user.active == active:
        return False
    if not active:
        problems = _admin_kept(session, user, actor, "deactivate")
        if problems:
            raise InvalidUser(problems)
    user.active = active
    session.add(user)
    audit(session, actor, "update", "user", user.email, {"active": active})
    session.flush()
    return True


def unlock(session: Session, user_id: int, actor: str) -> bool:
    """Lift a sign-in lock and its failure count now; False when the account was not locked."""
    user = _user_for_update(session, user_id)
    if user.locked_until is None and not user.failed_logins:
        return False
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    audit(session, actor, "update", "user", user.email, {"unlocked": True})
    session.flush()
    return True


def reset_password(session: Session, user_id: int, actor: str, password: str = "", request_id: str = "") -> str:
    """Give another user a new password (generated when none is given) and lift any lock; returns it to show once."""
    user = _user_for_update(session, user_id)
    earlier_request(session, actor, "user", request_id)
    if user.email == actor:
        raise InvalidUser({"password": "Use Change password for your own account"})
    if password:
        try:
            check_new_password(user.email, password)
        except BadInput as refused:
            raise InvalidUser({"password": str(refused)}) from None
    password = password or generate_password()
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    user.must_change_password = True  # the admin has seen it
    session.add(user)
    audit(session, actor, "update", "user", user.email,
          {"changed": "password", "reset_by_admin": True, **({"request": request_id} if request_id else {})})
    session.flush()
    return password


def _user_for_update(session: Session, user_id: int) -> User:
    """The user, row-locked and re-read. For an admin, every active admin is locked first, in id order, so that
    two admins changing each other wait in turn (and cannot leave no active admin, nor deadlock)."""
    user = session.get(User, user_id)
    if user is None:
        raise BadInput(f"user {user_id}: no such user")
    if user.role == "admin":
        session.exec(_active_admins().order_by(User.id).with_for_update()).all()
    return session.exec(select(User).where(User.id == user_id).with_for_update()
                        .execution_options(populate_existing=True)).one()


def _active_admins():
    return select(User.id).where(User.role == "admin", User.active.is_(True))


def _email_problems(session: Session, email: str) -> dict[str, str]:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return {"email": "Enter an email address in the correct format, like name@example.org"}
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        return {"email": "A user with this email address already exists"}
    return {}


def _role_problems(session: Session, role: str, school_urns: list[str]) -> tuple[dict[str, str], list[School]]:
    """What is wrong with this role and these schools, and the schools found."""
    urns = _unique(school_urns)
    schools = list(session.exec(select(School).where(School.urn.in_(urns))).all()) if urns else []
    unknown = sorted(set(urns) - {school.urn for school in schools})
    if role not in ROLES:
        return {"role": "Choose the user's role"}, schools
    if unknown:
        return {"schools": f"No school has the URN {', '.join(unknown)}"}, schools
    if role == "school" and not urns:
        return {"schools": "A school user needs at least one school"}, schools
    if role not in SCHOOL_ROLES and urns:
        return {"schools": "Only school users and AEOs have schools: remove the URNs"}, schools
    return {}, schools


def _admin_kept(session: Session, user: User, actor: str, doing: str) -> dict[str, str]:
    """Refusals for taking `user` (locked by `_user_for_update`) out of the active admins."""
    if user.email == actor:
        return {"": f"You cannot {doing} your own account"}
    if user.role == "admin" and user.active and list(session.exec(_active_admins()).all()) == [user.id]:
        return {"": f"You cannot {doing} the last active administrator"}
    return {}


def _replace_schools(session: Session, user: User, schools: list[School]) -> bool:
    """Give the user exactly these schools; True when that changed anything."""
    wanted = {school.id for school in schools}
    current = {link.school_id: link for link in session.exec(select(UserSchool).where(UserSchool.user_id == user.id))}
    for school_id in current.keys() - wanted:
        session.delete(current[school_id])
    for school_id in wanted - current.keys():
        session.add(UserSchool(user_id=user.id, school_id=school_id))
    return wanted != current.keys()


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(value.strip() for value in values if value.strip()))
