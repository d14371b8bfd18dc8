"""The school portal: the school's pupils, its cases, raising a concern and the confirmation that follows."""
from .core import answers

ROUTES = {
    # LA staff without ?school= are asked to choose a school; school users see their first school.
    "/school": answers(302, 403, 200, 200, 403, 200, 200),
    "/school/cases": answers(302, 403, 200, 200, 403, 200, 200),
    "/school/concerns/new": answers(302, 403, 200, 200, 403, 200, 200),
    "/school/concerns/{ref}": answers(302, 403, 200, 200, 403, 200, 404),
}
