"""Penalty notice requests: schools make theirs and see their outcomes; AEOs and managers decide them; managers see
the figures. A request of school A is not found for school B."""
from .core import answers

ROUTES = {
    "/requests": answers(302, 403, 403, 403, 403, 200, 200),
    "/requests/new": answers(302, 403, 403, 403, 403, 200, 200),
    "/requests/template.csv": answers(302, 403, 403, 403, 403, 200, 200),
    "/requests/{request_ref}": answers(302, 403, 403, 403, 403, 200, 404),
    "/requests/{request_ref}/evidence/{evidence_id}": answers(302, 403, 200, 200, 403, 200, 404),
    "/requests/queue": answers(302, 403, 200, 200, 403, 403, 403),
    "/requests/{request_ref}/review": answers(302, 403, 200, 200, 403, 403, 403),
    "/requests/figures": answers(302, 403, 403, 200, 403, 403, 403),
    "/requests/figures/prm.csv": answers(302, 403, 403, 200, 403, 403, 403),
}

REF = "PR-2026-90001"


def params(session, world) -> dict:
    """A request of school A (the world's school) with one uploaded file, made once per database."""
    from datetime import date, datetime, timezone

    from sqlmodel import select

    from casework.letters import storage
    from casework.models import PnRequest, PnRequestEvidence, PnRequestPupil

    request = session.exec(select(PnRequest).where(PnRequest.ref == REF)).first()
    if request is None:
        request = PnRequest(ref=REF, school_id=world.school_id, reason="holiday", period_start=date(2026, 9, 14),
                            period_end=date(2026, 9, 18), headteacher="Pat Head", submitted_by="access@example.org",
                            submitted_at=datetime(2026, 9, 21, 9, tzinfo=timezone.utc), submission_key="access-matrix")
        session.add(request)
        session.flush()
        session.add(PnRequestPupil(request_id=request.id, pupil_id=world.pupil_id))
        sha, path = storage.store(b"%PDF-1.4\n% access matrix evidence\n")
        session.add(PnRequestEvidence(request_id=request.id, kind="warning", filename="warning.pdf",
                                      media_type="application/pdf", size=34, sha256=sha, path=path))
        session.flush()
    evidence = session.exec(select(PnRequestEvidence.id).where(PnRequestEvidence.request_id == request.id)).first()
    return {"request_ref": REF, "evidence_id": evidence}
