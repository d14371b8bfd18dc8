"""Administration: users, schools, feed tokens and authority settings are for admins alone."""
from sqlmodel import Session, select

from casework.models import User

from .core import answers

ADMIN_ONLY = answers(302, 200, 403, 403, 403, 403, 403)

ROUTES = {
    "/admin/users": ADMIN_ONLY,
    "/admin/users/new": ADMIN_ONLY,
    "/admin/users/{user_id}": ADMIN_ONLY,
    "/admin/schools": ADMIN_ONLY,
    "/admin/schools/{school_id}": ADMIN_ONLY,
    "/admin/tokens": ADMIN_ONLY,
    "/admin/settings": ADMIN_ONLY,
    "/admin/settings/logo": answers(302, 404, 403, 403, 403, 403, 403),  # 404 for an admin: no logo uploaded
}
POST_ONLY: set[str] = set()


def params(session: Session, world) -> dict:
    return {"user_id": session.exec(select(User.id).where(User.email == world.aeo)).one()}
