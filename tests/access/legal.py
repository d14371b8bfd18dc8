"""The legal officer's list of cases in legal action."""
from .core import answers

ROUTES = {
    "/legal": answers(302, 403, 403, 200, 200, 403, 403),
}
