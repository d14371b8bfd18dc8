"""The redaction check: a confidential address must appear nowhere in a bundle.

The text of the finished PDF is extracted (poppler's pdftotext when installed: about 5 ms a page; pypdf otherwise:
50-300 ms a page) and searched for every confidential address's first lines and postcode, ignoring case, spaces and
punctuation, so that an address broken over lines or spaced differently is still found.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass

MIN_NEEDLE = 5  # shorter address lines ("Flat", "1") would match almost any text


@dataclass(frozen=True)
class Needle:
    contact_ref: str
    name: str
    text: str  # normalised: lower case letters and digits only


def normalise(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def needles(contacts) -> list[Needle]:
    """What must not appear for each confidential contact: each address line and the postcode (not the town)."""
    found = []
    for contact in contacts:
        if not contact.address_confidential:
            continue
        name = " ".join(p for p in (contact.forename, contact.surname) if p)
        for line in (contact.address_line1, contact.address_line2, contact.postcode):
            text = normalise(line or "")
            if len(text) >= MIN_NEEDLE and normalise(contact.town or "") != text:
                found.append(Needle(contact.contact_ref, name, text))
    return found


def found_in(text: str, wanted: list[Needle]) -> list[Needle]:
    flat = normalise(text)
    return [n for n in wanted if n.text in flat]


def page_texts(pdf: bytes) -> list[str]:
    """The text of every page of a PDF."""
    tool = shutil.which("pdftotext")
    if tool:
        result = subprocess.run([tool, "-q", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True,
                                timeout=300)
        pages = result.stdout.decode("utf-8", "replace").split("\f")
        return pages[:-1] if pages and not pages[-1].strip() else pages
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def check(pdf: bytes, wanted: list[Needle], describe=lambda page: "") -> list[str]:
    """Problems found: one line per confidential address and the pages it appears on (nothing when clean)."""
    if not wanted:
        return []
    hits: dict[str, list[int]] = {}
    names = {n.contact_ref: n.name for n in wanted}
    for number, text in enumerate(page_texts(pdf), start=1):
        for needle in found_in(text, wanted):
            pages = hits.setdefault(needle.contact_ref, [])
            if number not in pages:
                pages.append(number)
    return [f"The confidential address of {names[ref]} ({ref}) appears on page{'s' if len(pages) > 1 else ''} "
            + ", ".join(f"{page}{describe(page)}" for page in pages) for ref, pages in hits.items()]
