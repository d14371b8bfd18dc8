"""Pupil search, the pupil page and the family view: LA case roles see every pupil, a school only its own roll."""
from .core import answers

ROUTES = {
    "/pupils": answers(302, 403, 200, 200, 200, 200, 200),
    "/pupils/{pupil_id}": answers(302, 403, 200, 200, 200, 200, 404),
    "/pupils/{pupil_id}/family": answers(302, 403, 200, 200, 200, 200, 404),
}
