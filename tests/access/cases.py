"""The case area's trigger forms (the worklist, caseload, case page and letters are in core)."""
from .core import answers

ROUTES = {
    # The world's case is at a notice to improve, where only AEOs and managers may close it.
    "/cases/{ref}/triggers/{trigger}": answers(302, 403, 200, 200, 403, 403, 404),
}


def params(session, world) -> dict:
    return {"trigger": "close"}
