"""The evidence and court bundle pages: attach documents, build in the background with a progress page, download,
serve, compare versions; and the `casework bundle` command on the same database."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader
from sqlmodel import Session, select

from casework import cli
from casework.bundles import uploads, versions
from casework.db import get_engine
from casework.models import BundleVersion, Case, EvidenceDocument
from casework.services.cases import fire
from web.legal.bundles import JOBS

from .factories import make_user
from .web_support import audited, error_summary, page, signed_in

REFERRAL = {"section": "444(1)", "offence_start": "2026-09-14", "offence_end": "2026-11-20",
            "eso_considered": "Considered and not pursued.", "decision": "Support exhausted; prosecution."}


def a_pdf(text: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=f"<p>{text}</p>").write_pdf()


@pytest.fixture(scope="module")
def people(web_world, pages_url):
    """The world's case referred for prosecution, a legal officer and a manager (committed)."""
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        fire(session, web_world.ref, "refer_for_prosecution", web_world.aeo, date(2026, 11, 20), REFERRAL)
        legal, manager = make_user(session, "legal").email, make_user(session, "manager").email
        session.commit()
    return {"legal": legal, "manager": manager, "aeo": web_world.aeo}


def token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def seen(html: str) -> str:
    return re.search(r'name="seen"[^>]*value="(\d+)"', html).group(1)


def rows(url: str, ref: str) -> list[BundleVersion]:
    with Session(get_engine(url)) as session:
        case = session.exec(select(Case).where(Case.ref == ref)).one()
        return list(session.exec(select(BundleVersion).where(BundleVersion.case_id == case.id)
                                 .order_by(BundleVersion.version)))


def build(client, ref: str):
    """Post the build form as the page shows it, wait for the background build, return the progress page URL."""
    html = client.get(f"/cases/{ref}/evidence").get_data(as_text=True)
    response = client.post(f"/cases/{ref}/bundles", data={"csrf_token": token(html), "seen": seen(html)})
    assert response.status_code == 302, response.get_data(as_text=True)
    progress = response.headers["Location"]
    version_id = max(JOBS)
    JOBS[version_id].join(timeout=120)
    return progress


def test_officers_see_the_page_and_only_legal_and_managers_may_build(app, web_world, people):
    legal = page(signed_in(app, people["legal"]), f"/cases/{web_world.ref}/evidence").words
    assert "Evidence and court bundle" in legal and "Build a new version" in legal
    assert "No bundle has been built for this case" in legal
    aeo = page(signed_in(app, people["aeo"]), f"/cases/{web_world.ref}/evidence").words
    assert "Build a new version" not in aeo and "Legal officers and managers build and serve bundles" in aeo
    aeo_client = signed_in(app, people["aeo"])
    html = aeo_client.get(f"/cases/{web_world.ref}/evidence").get_data(as_text=True)
    assert aeo_client.post(f"/cases/{web_world.ref}/bundles",
                           data={"csrf_token": token(html), "seen": "0"}).status_code == 403
    assert signed_in(app, web_world.school_user).get(f"/cases/{web_world.ref}/evidence").status_code == 403
    assert signed_in(app, people["legal"]).get("/cases/CW-2026-99999/evidence").status_code == 404


def test_a_document_is_attached_and_a_bad_file_is_refused_with_nothing_saved(app, web_world, people, pages_url,
                                                                              monkeypatch):
    client = signed_in(app, people["aeo"])
    url = f"/cases/{web_world.ref}/evidence"
    html = client.get(url).get_data(as_text=True)
    monkeypatch.setattr(uploads, "MAX_BYTES", 2 * 1024 * 1024)
    too_big = client.post(url, data={"csrf_token": token(html), "title": "Notes",
                                     "document": (io.BytesIO(b"%PDF-" + b"0" * (3 * 1024 * 1024)), "big.pdf")},
                          content_type="multipart/form-data")
    assert error_summary(too_big.get_data(as_text=True)) == [("#document", "The file must be smaller than 2 MB")]
    monkeypatch.undo()
    refused = client.post(url, data={"csrf_token": token(html), "title": "Notes",
                                     "document": (io.BytesIO(b"just some text"), "notes.pdf")},
                          content_type="multipart/form-data")
    assert refused.status_code == 200
    assert error_summary(refused.get_data(as_text=True)) == [
        ("#document", "The file must be a PDF, a PNG image or a JPEG image")]
    untitled = client.post(url, data={"csrf_token": token(html), "title": "",
                                      "document": (io.BytesIO(a_pdf("x")), "x.pdf")},
                           content_type="multipart/form-data")
    assert ("#title", "Enter a title for the document") in error_summary(untitled.get_data(as_text=True))
    with Session(get_engine(pages_url)) as session:
        assert session.exec(select(EvidenceDocument).where(EvidenceDocument.title == "Notes")).first() is None
    added = client.post(url, data={"csrf_token": token(html), "title": "Home visit record, 3 November 2026",
                                   "document": (io.BytesIO(a_pdf("Nobody answered the door.")), "visit.pdf")},
                        content_type="multipart/form-data")
    assert added.status_code == 302
    words = page(client, url).words
    assert "“Home visit record, 3 November 2026” was added (1 page)" in words
    assert "Home visit record, 3 November 2026 PDF" in words
    assert any(ref.startswith(f"{web_world.ref}/") for ref in audited(pages_url, people["aeo"], "create", "evidence"))
    link = re.search(rf'href="(/cases/{web_world.ref}/evidence/\d+)"', client.get(url).get_data(as_text=True)).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.data.startswith(b"%PDF")


def test_building_runs_in_the_background_then_the_bundle_opens(app, web_world, people, pages_url):
    client = signed_in(app, people["legal"])
    progress = build(client, web_world.ref)
    (row,) = rows(pages_url, web_world.ref)
    assert row.status == "ready", row.error
    done = page(client, progress)
    assert "Bundle built" in done.words and f"{row.pages} pages" in done.words
    assert "data-cw-progress" not in client.get(progress).get_data(as_text=True)
    pdf = signed_in(app, people["aeo"]).get(f"/cases/{web_world.ref}/bundles/{row.version}")  # an AEO previews
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(pdf.data)).pages) == row.pages
    assert f"{web_world.ref}/v1" in audited(pages_url, people["aeo"], "export", "bundle")
    words = page(client, f"/cases/{web_world.ref}/evidence").words
    assert "1 Ready to serve" in words and "Serve version 1" in words


def test_the_build_form_posted_twice_builds_once(app, web_world, people, pages_url):
    client = signed_in(app, people["legal"])
    html = client.get(f"/cases/{web_world.ref}/evidence").get_data(as_text=True)
    before = len(rows(pages_url, web_world.ref))
    stale = {"csrf_token": token(html), "seen": str(before - 1)}
    again = client.post(f"/cases/{web_world.ref}/bundles", data=stale)
    assert again.status_code == 200
    assert error_summary(again.get_data(as_text=True))[0][1].startswith(f"Version {before} was started after")
    assert len(rows(pages_url, web_world.ref)) == before


def test_while_building_the_progress_page_refreshes_itself(app, web_world, people, pages_url):
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        row = versions.request_build(session, web_world.ref, people["manager"])
        session.commit()
    client = signed_in(app, people["manager"])
    html = client.get(f"/cases/{web_world.ref}/bundles/{row.version}/progress").get_data(as_text=True)
    assert 'data-cw-progress="5"' in html and "progress.js" in html and "Step 1 of 6" in html
    still = client.get(f"/cases/{web_world.ref}/bundles/{row.version}/progress?refresh=off").get_data(as_text=True)
    assert "data-cw-progress" not in still and "progress.js" not in still and "Check again" in still  # the user can turn refreshing off
    assert "is being built" in page(client, f"/cases/{web_world.ref}/evidence").words
    versions.run_build(row.id, pages_url)
    assert "data-cw-progress" not in client.get(f"/cases/{web_world.ref}/bundles/{row.version}/progress") \
        .get_data(as_text=True)


def test_serving_freezes_the_newest_version_once(app, web_world, people, pages_url):
    newest = rows(pages_url, web_world.ref)[-1]
    aeo = signed_in(app, people["aeo"])
    html = aeo.get(f"/cases/{web_world.ref}/evidence").get_data(as_text=True)
    assert aeo.post(f"/cases/{web_world.ref}/bundles/{newest.version}/serve",
                    data={"csrf_token": token(html)}).status_code == 403
    client = signed_in(app, people["legal"])
    html = client.get(f"/cases/{web_world.ref}/evidence").get_data(as_text=True)
    for _ in range(2):
        response = client.post(f"/cases/{web_world.ref}/bundles/{newest.version}/serve",
                               data={"csrf_token": token(html)})
        assert response.status_code == 302
    served = rows(pages_url, web_world.ref)[-1]
    assert served.status == "served" and served.served_by == people["legal"]
    assert newest.requested_by == people["manager"]  # so the legal officer's one update of it is the serving
    assert audited(pages_url, people["legal"], "update", "bundle").count(f"{web_world.ref}/v{newest.version}") == 1


def test_a_later_version_shows_what_was_added_since_the_served_one(app, web_world, people, pages_url):
    client = signed_in(app, people["legal"])
    url = f"/cases/{web_world.ref}/evidence"
    html = client.get(url).get_data(as_text=True)
    assert client.post(url, data={"csrf_token": token(html), "title": "Photograph of the school gate",
                                  "document": (io.BytesIO(_png()), "gate.png")},
                       content_type="multipart/form-data").status_code == 302
    build(client, web_world.ref)
    served, latest = [r for r in rows(pages_url, web_world.ref) if r.status == "served"][-1], rows(pages_url,
                                                                                                   web_world.ref)[-1]
    assert latest.status == "ready" and latest.base_version == served.version
    words = page(client, f"/cases/{web_world.ref}/bundles/{latest.version}/changes").words
    assert f"From version {served.version} ({served.pages} pages) to version {latest.version}" in words
    assert re.search(r"Added Pages Document Exhibit \d+ Photograph of the school gate [A-Z]{2}/\d+", words)
    assert "Manifest" in words and latest.sha256 in words


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 120, 60)).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_command_line_builds_and_aeos_preview(app, web_world, people, pages_url, tmp_path, capsys):
    count = len(rows(pages_url, web_world.ref))
    out = tmp_path / "preview.pdf"
    assert cli.main(["bundle", web_world.ref, "--as", people["aeo"], "--out", str(out)]) == cli.EXIT_OK
    assert "bundle preview (not recorded)" in capsys.readouterr().out
    assert all("PREVIEW - not for service" in p.extract_text() for p in PdfReader(str(out)).pages)
    assert len(rows(pages_url, web_world.ref)) == count
    final = tmp_path / "bundle.pdf"
    assert cli.main(["bundle", web_world.ref, "--as", people["manager"], "--out", str(final), "--serve"]) == 0
    printed = capsys.readouterr().out
    assert f"bundle version {count + 1} (served)" in printed and "Photograph of the school gate" in printed
    assert rows(pages_url, web_world.ref)[-1].status == "served"
    assert len(PdfReader(str(final)).pages) == rows(pages_url, web_world.ref)[-1].pages
    assert cli.main(["bundle", web_world.ref, "--as", people["legal"], "--out", str(final)]) == cli.EXIT_BLOCKED
    assert f"Nothing has been added or changed since version {count + 1} was served" in capsys.readouterr().err
    assert cli.main(["bundle", web_world.ref, "--as", web_world.school_user, "--out", str(final)]) == cli.EXIT_ERROR
