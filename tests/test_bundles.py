"""Prosecution evidence bundles: the PDF a court accepts, opened with pypdf and checked page by page."""
from __future__ import annotations

import io
import json
import re
from datetime import date

import pytest
from pypdf import PdfReader, PdfWriter
from sqlmodel import select

from casework import clock
from casework.bundles import registers, uploads, versions
from casework.bundles.redaction import normalise
from casework.letters import storage as file_store
from casework.models import BundleVersion, EvidenceDocument, Letter
from casework.register.measures import load_segments
from casework.services.cases import fire
from casework.services.errors import BadInput, Blocked, PermissionDenied

from .factories import make_user
from .scenarios import to_notice_to_improve

HIDDEN = {"address_line1": "12 Hidden Lane", "address_line2": "Eaton", "town": "Norwich", "postcode": "NR9 9ZZ"}
OFFENCE = (date(2026, 9, 15), date(2026, 11, 20))  # 14 Sep (2 unauthorised sessions) is just outside it
REFERRAL = {"section": "444(1)", "offence_start": "2026-09-15", "offence_end": "2026-11-20",
            "eso_considered": "Considered: the family engaged with none of the support offered.",
            "decision": "Evidence reviewed; support exhausted; prosecution is proportionate."}
STAMP = re.compile(r"prosecution bundle, (version \d+|PREVIEW - not for service)\s*Page (\d+) of (\d+)")


def pdf_with_text(*lines: str) -> bytes:
    from weasyprint import HTML

    return HTML(string="<html><body>" + "".join(f"<p>{line}</p>" for line in lines) + "</body></html>").write_pdf()


@pytest.fixture()
def prosecution(session, world):
    """The world's case in legal action: the mother's address is confidential (she and the child live there); unpaid
    penalty notices relied on; an interview invitation; offence period 15 Sep to 20 Nov 2026."""
    clock.freeze(date(2026, 12, 10))
    for key, value in HIDDEN.items():
        setattr(world.mother, key, value)
        setattr(world.pupil, key, value)
    world.mother.address_confidential = True
    session.add(world.mother)
    session.add(world.pupil)
    session.flush()
    ref = to_notice_to_improve(session, world)
    fire(session, ref, "issue_penalty_notice", world.aeo, date(2026, 10, 6), {"early_reason": "holiday booked"})
    fire(session, ref, "refer_for_prosecution", world.aeo, date(2026, 12, 1), REFERRAL)
    fire(session, ref, "record_interview", world.legal, date(2026, 12, 2),
         {"invite": "yes", "interview_notes": "Invited to attend on 9 December 2026."})
    return ref


@pytest.fixture()
def built(session, world, prosecution):
    """Version 1, built by the legal officer: (row, reader, manifest, page texts)."""
    row = versions.build(session, prosecution, world.legal)
    assert row.status == "ready", row.error
    reader = PdfReader(io.BytesIO(file_store.load(row.path)))
    return row, reader, json.loads(row.manifest), [page.extract_text() for page in reader.pages]


def entries(manifest, section=None, key_prefix=""):
    return [e for e in manifest["documents"] if (section is None or e["section"] == section)
            and e["key"].startswith(key_prefix)]


def text_of(texts, entry) -> str:
    return "\n".join(texts[entry["first"] - 1:entry["last"]])


# ---------------------------------------------------------------- e-bundle rules

def test_every_page_is_stamped_with_its_own_position_and_the_pdf_is_a4_at_100_percent(built):
    row, reader, manifest, texts = built
    assert len(reader.pages) == row.pages == manifest["pages"] > 30
    for number, text in enumerate(texts, start=1):
        stamps = STAMP.findall(text)
        assert stamps == [("version 1", str(number), str(row.pages))], (number, stamps)
    for page in reader.pages:
        assert sorted((round(float(page.mediabox.width)), round(float(page.mediabox.height)))) == [595, 842]
    action = reader.trailer["/Root"]["/OpenAction"]
    assert reader.get_page_number(action[0].get_object()) == 0 and action[1] == "/XYZ" and float(action[4]) == 1
    assert reader.trailer["/Root"]["/PageMode"] == "/UseOutlines"
    pages = [e for e in manifest["documents"]]
    assert [e["first"] for e in pages] == sorted(e["first"] for e in pages)
    assert all(b["first"] == a["last"] + 1 for a, b in zip(pages, pages[1:])) and pages[-1]["last"] == row.pages


def test_every_font_is_embedded_as_a_subset(built):
    _, reader, _, _ = built
    seen = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if font.indirect_reference and font.indirect_reference.idnum in seen:
                continue
            seen.add(font.indirect_reference.idnum if font.indirect_reference else id(font))
            described = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            descriptor = described["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font["/BaseFont"]
            assert re.match(r"/[A-Z]{6}\+", str(font["/BaseFont"])), font["/BaseFont"]


def test_one_bookmark_for_every_section_and_every_document_of_a_section_of_several(built):
    _, reader, manifest, _ = built
    present = list(dict.fromkeys(e["section"] for e in manifest["documents"]))
    outline = reader.outline
    tops = [item for item in outline if not isinstance(item, list)]
    assert [t.title.split(" (p")[0] for t in tops] == [versions.SECTION[s].title for s in present]
    children = {}
    for i, item in enumerate(outline):
        if isinstance(item, list):
            children[outline[i - 1].title.split(" (p")[0]] = item
    for section in present:
        mine = entries(manifest, section)
        top = tops[present.index(section)]
        assert reader.get_destination_page_number(top) + 1 == mine[0]["first"]
        kids = children.get(versions.SECTION[section].title, [])
        if versions.SECTION[section].multi:
            assert [reader.get_destination_page_number(k) + 1 for k in kids] == [e["first"] for e in mine]
            assert all(e["title"] in k.title for e, k in zip(mine, kids))
        else:
            assert kids == [] and len(mine) == 1
    assert {"cover", "index", "chronology", "statement", "certificate", "register", "letters", "penalty_notices",
            "decisions", "interview"} <= set(present)


def test_index_entries_link_to_the_pages_they_show(built):
    _, reader, manifest, texts = built
    (index,) = entries(manifest, "index")
    targets = []
    for number in range(index["first"], index["last"] + 1):
        for annotation in reader.pages[number - 1].get("/Annots") or []:
            annotation = annotation.get_object()
            assert annotation["/Subtype"] == "/Link" and "/A" not in annotation
            targets.append(reader.get_page_number(annotation["/Dest"][0].get_object()) + 1)
    index_text = re.sub(r"\s+", " ", text_of(texts, index))
    for entry in manifest["documents"]:
        if versions.SECTION[entry["section"]].multi:
            assert entry["first"] in targets, entry["title"]
            shown = str(entry["first"]) if entry["first"] == entry["last"] else f"{entry['first']}–{entry['last']}"
            assert shown in index_text, (shown, entry["title"])
    firsts = {e["first"] for e in manifest["documents"]}
    assert set(targets) <= firsts
    assert {e["first"] for e in manifest["documents"] if e["section"] == "letters"} <= set(targets)
    assert "Uploaded documents (none on this case)" in index_text


def test_the_certificate_covers_exactly_the_offence_period_and_its_totals_are_the_registers(built, session, world):
    _, _, manifest, texts = built
    (certificate,) = entries(manifest, "certificate")
    (extract,) = entries(manifest, "register", "register:offence:")
    cert, register = (re.sub(r"\s+", " ", text_of(texts, e)) for e in (certificate, extract))
    assert "Period certified 15 September 2026 to 20 November 2026" in cert
    listed = re.findall(r"(\d+ \w+ 2026) (Morning|Afternoon) ([GNOU]) ", cert)
    assert len(listed) == 10 and listed[0][0] == "15 September 2026" and listed[-1][0] == "21 September 2026"
    assert "14 September 2026" not in cert  # unauthorised, but the day before the offence period
    figures = ("Possible sessions", "Present or at an approved educational activity", "Authorised absences",
               "Unauthorised absences")
    found = {f: (re.search(rf"{f} (\d+)", cert).group(1), re.search(rf"{f} (\d+)", register).group(1)) for f in figures}
    assert all(a == b for a, b in found.values()), found
    totals = registers.extract(load_segments(session, [world.pupil.id])[world.pupil.id], world.school.urn,
                               *OFFENCE).totals
    assert found["Unauthorised absences"][0] == str(totals.unauthorised) == "10"
    assert found["Possible sessions"][0] == str(totals.possible)
    assert "Ms Sam Tester (mother) Address withheld (confidential)" in cert
    assert "Mr Chris Tester (father) 1 Mill Road, Thetford, IP24 1AA" in cert


def test_no_confidential_address_appears_and_her_letters_are_redacted_copies(built, session, world):
    row, reader, manifest, texts = built
    everything = normalise(" ".join(texts))
    for part in ("12 Hidden Lane", "NR9 9ZZ", "Eaton"):
        assert normalise(part) not in everything, part
    mothers = [e for e in entries(manifest, "letters") if "Ms Sam Tester" in e["title"]]
    assert mothers and all(e["source"] == "redacted" for e in mothers)
    originals = {letter.sha256 for letter in session.exec(select(Letter).where(Letter.contact_id == world.mother.id))}
    for entry in mothers:
        assert entry["original_sha256"] in originals
        first_page = re.sub(r"\s+", "", texts[entry["first"] - 1])
        assert "Redactedcopy" in first_page and entry["original_sha256"] in first_page
    fathers = [e for e in entries(manifest, "letters") if "Mr Chris Tester" in e["title"]]
    assert fathers and all(e["source"] == "stored" and e["original_sha256"] == "" for e in fathers)
    assert "1 Mill Road" in " ".join(texts)  # the father's address is not confidential and is kept


def test_a_document_showing_the_confidential_address_stops_the_bundle_and_nothing_is_kept(session, world,
                                                                                          prosecution):
    uploads.add(session, prosecution, world.aeo, "Home visit note", "visit.pdf",
                pdf_with_text("Home visit note", "Visited the mother at 12 Hidden Lane, Eaton.", "No answer."))
    row = versions.build(session, prosecution, world.legal)
    assert row.status == "refused" and row.path == "" and row.sha256 == ""
    assert "Sam Tester" in row.error and "Home visit note" in row.error
    with pytest.raises(Blocked):
        versions.serve(session, prosecution, row.version, world.legal)


def test_the_statement_lists_every_exhibit_and_each_exhibit_is_labelled(built):
    _, _, manifest, texts = built
    (statement,) = entries(manifest, "statement")
    words = re.sub(r"\s+", " ", text_of(texts, statement))
    exhibits = [e for e in manifest["documents"] if e["exhibit"]]
    assert [e["exhibit"] for e in exhibits] == [f"AU/{n}" for n in range(1, len(exhibits) + 1)]
    for e in exhibits:
        assert f"{e['exhibit']} {e['title']}" in words
        for number in range(e["first"], e["last"] + 1):
            assert f"Exhibit {e['exhibit']}" in texts[number - 1]
    own = statement["last"] - statement["first"] + 1
    assert f"This statement, consisting of {own} pages each signed by me, is true" in words
    assert f"Statement page {own} of {own}" in words
    assert "Statement of Aeo User Age Over 18" in words
    penalty = re.sub(r"\s+", " ", text_of(texts, entries(manifest, "penalty_notices")[0]))
    assert "Status Unpaid and relied on for this prosecution" in penalty and "No payment has been received" in penalty


# ---------------------------------------------------------------- versions

def test_a_later_version_keeps_every_served_page_and_its_number(built, session, world, prosecution):
    first, reader1, manifest1, texts1 = built
    served, changed = versions.serve(session, prosecution, first.version, world.legal)
    assert changed and served.status == "served" and served.served_by == world.legal
    assert versions.serve(session, prosecution, first.version, world.legal)[1] is False  # posted twice: once
    uploads.add(session, prosecution, world.aeo, "School's attendance meeting notes", "notes.pdf",
                pdf_with_text("Attendance meeting", "The parent did not attend."))
    second = versions.build(session, prosecution, world.legal)
    assert second.status == "ready" and second.base_version == 1, second.error
    reader2 = PdfReader(io.BytesIO(file_store.load(second.path)))
    manifest2 = json.loads(second.manifest)
    assert len(reader2.pages) == second.pages > first.pages
    for number in range(1, first.pages + 1):
        old = texts1[number - 1].replace(f"version 1 Page {number} of {first.pages}",
                                         f"version 2 Page {number} of {second.pages}")
        assert reader2.pages[number - 1].extract_text() == old, number
    for entry in manifest1["documents"]:
        again = [e for e in manifest2["documents"] if e["key"] == entry["key"] and e["first"] == entry["first"]]
        assert again and again[0]["last"] == entry["last"]
    added = [e for e in manifest2["documents"] if e["added_in"] == 2]
    assert added[0]["key"] == "index:v2" and added[0]["first"] == first.pages + 1
    upload = next(e for e in added if e["key"].startswith("upload:"))
    assert upload["exhibit"] == f"AU/{len([e for e in manifest1['documents'] if e['exhibit']]) + 1}"
    assert STAMP.findall(reader2.pages[upload["first"] - 1].extract_text()) == [
        ("version 2", str(upload["first"]), str(second.pages))]
    changes = versions.compare(first, second)
    assert [e["key"] for e in changes.added] == [upload["key"]]
    assert "statement" in [e["key"] for e in changes.revised] and not changes.moved and not changes.gone
    assert (changes.pages_before, changes.pages_after) == (first.pages, second.pages)
    tops = [item.title for item in reader2.outline if not isinstance(item, list)]
    assert tops[-1].startswith("Added in version 2")


def test_nothing_new_since_the_served_version_builds_nothing(built, session, world, prosecution):
    versions.serve(session, prosecution, built[0].version, world.legal)
    with pytest.raises(Blocked, match="Nothing has been added or changed since version 1"):
        versions.build(session, prosecution, world.legal)


def test_only_the_newest_version_can_be_served_and_one_build_runs_at_a_time(built, session, world, prosecution):
    second = versions.build(session, prosecution, world.legal)
    with pytest.raises(Blocked, match="version 2 is newer"):
        versions.serve(session, prosecution, 1, world.legal)
    waiting = versions.request_build(session, prosecution, world.legal)
    with pytest.raises(Blocked, match=f"Version {waiting.version} of this bundle is being built"):
        versions.request_build(session, prosecution, world.legal)
    with pytest.raises(Blocked, match="it is building"):
        versions.serve(session, prosecution, waiting.version, world.legal)
    assert second.status == "ready"


# ---------------------------------------------------------------- who may build, and when

def test_aeos_preview_without_a_version_and_others_may_not_build(session, world, prosecution):
    with pytest.raises(PermissionDenied):
        versions.request_build(session, prosecution, world.aeo)
    with pytest.raises(PermissionDenied):
        versions.preview(session, prosecution, world.school_user)
    made = versions.preview(session, prosecution, world.aeo)
    texts = [page.extract_text() for page in PdfReader(io.BytesIO(made.pdf)).pages]
    assert all("PREVIEW - not for service" in text for text in texts)
    assert session.exec(select(BundleVersion)).all() == []
    manager = make_user(session, "manager").email
    assert versions.build(session, prosecution, manager).status == "ready"


def test_a_case_not_in_legal_action_has_no_bundle(session, world):
    ref = to_notice_to_improve(session, world)
    with pytest.raises(Blocked, match="legal action"):
        versions.request_build(session, ref, world.legal)


def test_an_interrupted_build_does_not_block_the_next(session, world, prosecution):
    stuck = versions.request_build(session, prosecution, world.legal)
    clock.freeze(clock.now() + versions.BUILD_TIMEOUT * 2)
    assert versions.request_build(session, prosecution, world.legal).version == stuck.version + 1
    session.refresh(stuck)
    assert stuck.status == "failed" and "interrupted" in stuck.error


# ---------------------------------------------------------------- uploads

def test_uploads_are_judged_by_content_and_size(session, world, prosecution, monkeypatch):
    for data, message in ((b"MZ\x90\x00 not a pdf", "must be a PDF, a PNG image or a JPEG image"),
                          (b"%PDF-1.7 broken", "could not be read"),
                          (b"\x89PNG\r\n\x1a\nbroken", "could not be read"),
                          (b"", "empty")):
        with pytest.raises(BadInput, match=message):
            uploads.add(session, prosecution, world.aeo, "A title", "file.pdf", data)
    with pytest.raises(BadInput, match="Enter a title"):
        uploads.add(session, prosecution, world.aeo, "  ", "file.pdf", pdf_with_text("x"))
    monkeypatch.setattr(uploads, "MAX_BYTES", 1000)
    with pytest.raises(BadInput, match="smaller than"):
        uploads.add(session, prosecution, world.aeo, "Big", "big.pdf", b"%PDF-" + b"0" * 2000)
    with pytest.raises(PermissionDenied):
        uploads.add(session, prosecution, world.school_user, "A title", "file.pdf", pdf_with_text("x"))
    assert session.exec(select(EvidenceDocument)).all() == []


def test_an_uploaded_pdf_becomes_a4_pages_and_the_same_file_is_not_added_twice(session, world, prosecution):
    writer = PdfWriter()
    writer.add_blank_page(612, 792)  # US letter
    writer.add_blank_page(842, 595).rotate(90)  # landscape A4, turned to portrait by /Rotate
    buffer = io.BytesIO()
    writer.write(buffer)
    row = uploads.add(session, prosecution, world.legal, "Letter-size scan", "scan.pdf", buffer.getvalue())
    assert (row.media_type, row.pages, row.size) == ("application/pdf", 2, len(buffer.getvalue()))
    assert file_store.load(row.path) == buffer.getvalue()
    pages = PdfReader(io.BytesIO(file_store.load(row.pdf_path))).pages
    sizes = [(round(float(p.mediabox.width)), round(float(p.mediabox.height)), p.rotation) for p in pages]
    assert sizes == [(595, 842, 0), (595, 842, 0)]
    with pytest.raises(BadInput, match="already attached"):
        uploads.add(session, prosecution, world.legal, "Again", "scan.pdf", buffer.getvalue())


def test_a_large_image_becomes_one_a4_page_at_no_more_than_300_dpi(session, world, prosecution):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4000, 5600), (200, 180, 160)).save(buffer, "JPEG", quality=70)
    row = uploads.add(session, prosecution, world.aeo, "Photograph of the notice on the door", "door.jpg",
                      buffer.getvalue())
    assert (row.media_type, row.pages) == ("image/jpeg", 1)
    (page,) = PdfReader(io.BytesIO(file_store.load(row.pdf_path))).pages
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    (image,) = page.images
    width_inches = 170 / 25.4  # the image area of the page, which the image fills (bundle.css)
    assert image.image.width / width_inches <= 300.5 and image.image.width > 1500


def test_a_scanned_page_above_300_dpi_is_downsampled(session, world, prosecution):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4000, 5656), (90, 90, 90)).save(buffer, "PDF", resolution=480)  # A4 scanned at 480 dpi
    row = uploads.add(session, prosecution, world.aeo, "Scanned register print-out", "scan.pdf", buffer.getvalue())
    (page,) = PdfReader(io.BytesIO(file_store.load(row.pdf_path))).pages
    (image,) = page.images
    assert max(image.image.size) <= 842 / 72 * 300 + 1 and max(image.image.size) > 3000


def test_a_withdrawn_upload_is_left_out_of_the_next_bundle(session, world, prosecution):
    row = uploads.add(session, prosecution, world.aeo, "Wrong document", "wrong.pdf", pdf_with_text("wrong"))
    assert uploads.withdraw(session, prosecution, row.id, world.legal)[1] is True
    assert uploads.withdraw(session, prosecution, row.id, world.legal)[1] is False
    built = versions.build(session, prosecution, world.legal)
    assert not entries(json.loads(built.manifest), "uploads")
