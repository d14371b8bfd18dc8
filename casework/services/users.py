"""Users: creation with Argon2-hashed passwords, look-up and school scope."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session, select

from ..models import ROLES, School, User, UserSchool
from .audit import audit
from .errors import BadInput, PermissionDenied

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def add_user(session: Session, email: str, role: str, password: str, school_urns: list[str] = (),
             name: str = "", actor: str = "cli") -> User:
    """Create a user; school users must name at least one school, and only school users may."""
    email = email.strip().lower()
    if "@" not in email:
        raise BadInput(f"email {email!r} is not an email address")
    if role not in ROLES:
        raise BadInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
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


def school_ids(session: Session, user: User) -> set[int]:
    """The schools a school user is scoped to (the one place school scope is read)."""
    return set(session.exec(select(UserSchool.school_id).where(UserSchool.user_id == user.id)).all())
