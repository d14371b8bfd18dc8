"""The manager's dashboard: the overview, absence by school and group, and case allocation (managers only)."""
from .core import answers

MANAGERS_ONLY = answers(302, 403, 403, 200, 403, 403, 403)

ROUTES = {
    "/dashboard": MANAGERS_ONLY,
    "/dashboard/absence": MANAGERS_ONLY,
    "/dashboard/allocation": MANAGERS_ONLY,
}
