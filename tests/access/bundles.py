"""Evidence and court bundles of a case: LA case officers see them; only legal officers and managers build and serve;
schools never (403, before any case is looked up, so nothing about a case leaks)."""
from __future__ import annotations

import io
import json

from sqlmodel import select

from .core import answers

ROUTES = {
    "/cases/{ref}/evidence": answers(302, 403, 200, 200, 200, 403, 403),
    "/cases/{ref}/evidence/{document_id}": answers(302, 403, 200, 200, 200, 403, 403),
    "/cases/{ref}/bundles/{version}": answers(302, 403, 200, 200, 200, 403, 403),
    "/cases/{ref}/bundles/{version}/progress": answers(302, 403, 200, 200, 200, 403, 403),
    "/cases/{ref}/bundles/{version}/changes": answers(302, 403, 200, 200, 200, 403, 403),
}
POST_ONLY = {"/cases/{ref}/bundles", "/cases/{ref}/bundles/{version}/serve",
             "/cases/{ref}/evidence/{document_id}/withdraw"}


def params(session, world) -> dict:
    """A document attached to the world's case and a built version of its bundle (made once)."""
    from pypdf import PdfWriter

    from casework import clock
    from casework.letters import storage
    from casework.models import BundleVersion, Case, EvidenceDocument

    case = session.exec(select(Case).where(Case.ref == world.ref)).one()
    document = session.exec(select(EvidenceDocument).where(EvidenceDocument.case_id == case.id)).first()
    version = session.exec(select(BundleVersion).where(BundleVersion.case_id == case.id)).first()
    if document is None or version is None:
        writer, buffer = PdfWriter(), io.BytesIO()
        writer.add_blank_page(595, 842)
        writer.write(buffer)
        sha, path = storage.store(buffer.getvalue())
        document = EvidenceDocument(case_id=case.id, title="Access check", filename="check.pdf",
                                    media_type="application/pdf", size=len(buffer.getvalue()), sha256=sha, path=path,
                                    pdf_sha256=sha, pdf_path=path, pages=1, uploaded_at=clock.now(),
                                    uploaded_by=world.aeo)
        version = BundleVersion(case_id=case.id, version=1, status="ready", requested_at=clock.now(),
                                requested_by=world.aeo, pages=1, sha256=sha, path=path, body_sha256=sha,
                                body_path=path, finished_at=clock.now(),
                                manifest=json.dumps({"version": 1, "layout_version": 1, "pages": 1, "documents": []}))
        session.add(document)
        session.add(version)
        session.flush()
    return {"document_id": document.id, "version": version.version}
