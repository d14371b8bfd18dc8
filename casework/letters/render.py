"""Render letters from the HTML templates in letter_templates/ to HTML and PDF (WeasyPrint).

The context each template needs is documented in `casework.letters.samples`. Issued PDFs are stored by
`casework.letters.storage` and never re-rendered, so `template_version` records what produced them.
"""
from __future__ import annotations

import hashlib
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import jinja2
from jinja2 import meta
from markupsafe import Markup, escape

from ..perf import collector_paused

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "letter_templates"

KINDS: tuple[str, ...] = (
    "attendance_concern",
    "action_plan",
    "parenting_contract",
    "notice_to_improve",
    "penalty_notice",
    "penalty_notice_withdrawal",
    "prosecution_warning",
    "interview_invitation",
)

A4_POINTS = (595.0, 842.0)
MAX_PAGES = 10
MAX_ADDRESS_LINES = 6  # plus the name: 7 lines, the most a window envelope shows
# Letters per combined WeasyPrint document. Fonts are subset once per chunk; bigger chunks cost memory
# (about 2 MB per letter while a chunk is held) and make the cyclic garbage collector slower.
BATCH_SIZE = 40


class LetterError(ValueError):
    """A letter cannot be rendered from its context, or a rendered PDF is not fit to send."""


# Filters ---------------------------------------------------------------------------------------------

def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return value


def longdate(value: date | datetime | str) -> str:
    """2 November 2026."""
    value = _as_date(value)
    return f"{value.day} {value:%B %Y}"


def weekdaydate(value: date | datetime | str) -> str:
    """Monday 2 November 2026."""
    value = _as_date(value)
    return f"{value:%A} {value.day} {value:%B %Y}"


def timeofday(value: datetime) -> str:
    """GOV.UK style times: 9am, 10:30am, midday, 2:15pm."""
    if value.hour == 12 and value.minute == 0:
        return "midday"
    hour = value.hour % 12 or 12
    suffix = "am" if value.hour < 12 else "pm"
    return f"{hour}{suffix}" if value.minute == 0 else f"{hour}:{value.minute:02d}{suffix}"


def money(value: Decimal | int | str) -> str:
    """Decimal('80') -> £80.00."""
    amount = Decimal(str(value))
    return f"£{amount:,.2f}"


def email_wrap(value: str) -> Markup:
    """An email address that may wrap after the @ in a narrow column."""
    local, at, domain = str(value).partition("@")
    return escape(local) + (Markup("@<wbr>") if at else Markup("")) + escape(domain)


def session_name(value: str) -> str:
    return {"AM": "Morning", "PM": "Afternoon"}.get(str(value).upper(), str(value))


def year_group(value: str | int) -> str:
    text = str(value).strip()
    if text.isdigit():
        return f"Year {text}"
    return {"R": "Reception", "N1": "Nursery", "N2": "Nursery"}.get(text.upper(), text)


_env: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The letters' own Jinja environment: strict about missing values, HTML-escaping every value."""
    global _env
    if _env is None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
            undefined=jinja2.StrictUndefined,
            autoescape=True,
            auto_reload=True,
            keep_trailing_newline=True,
        )
        env.filters.update(
            longdate=longdate,
            weekdaydate=weekdaydate,
            timeofday=timeofday,
            money=money,
            email_wrap=email_wrap,
            session_name=session_name,
            year_group=year_group,
        )
        _env = env
    return _env


# Template versions -----------------------------------------------------------------------------------

def _referenced(name: str, env: jinja2.Environment) -> set[str]:
    """Every template file `name` pulls in (extends, include, import), recursively, including itself."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        source = (TEMPLATE_DIR / current).read_text(encoding="utf-8")
        for ref in meta.find_referenced_templates(env.parse(source)):
            if ref is None:
                raise LetterError(f"{current}: templates must be named literally so their version can be computed")
            pending.append(ref)
    return seen


def template_version(kind: str) -> str:
    """First 12 hex digits of SHA-256 over the kind's template, base.html, print.css and the partials it uses."""
    _check_kind(kind)
    names = _referenced(f"{kind}.html", environment()) | {"base.html", "print.css"}
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0")
        digest.update((TEMPLATE_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


# HTML ------------------------------------------------------------------------------------------------

def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise LetterError(f"unknown letter kind {kind!r}; expected one of {', '.join(KINDS)}")


def _missing(context: dict, paths: Iterable[str]) -> list[str]:
    """Dotted paths whose value is absent or empty (None, '', [])."""
    missing = []
    for path in paths:
        value: Any = context
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                break
        if value is None or value == "" or value == []:
            missing.append(path)
    return missing


_ALWAYS = ("recipient.full_name", "recipient.address_lines", "letter.ref", "letter.issued_on", "authority.name")

# Reg 3 of the Education (Penalty Notices) (England) Regulations 2007: a notice lacking any of these is not issued.
_PN_REQUIRED = (
    "recipient.full_name", "recipient.address_lines", "pupil.full_name", "school.name",
    "officer.name", "officer.authorisation", "pn.ref", "pn.issued_on", "pn.offence_start", "pn.offence_end",
    "pn.receipt_on", "pn.pay_by", "pn.amount_full", "authority.payee_name", "authority.payee_address_lines",
    "authority.payment_methods",
)


def _check_context(kind: str, context: dict) -> None:
    letter = context.get("letter")
    if isinstance(letter, dict) and letter.get("kind", kind) != kind:
        raise LetterError(f"context is for a {letter.get('kind')!r} letter, not {kind!r}")
    problems = _missing(context, _ALWAYS)
    recipient = context.get("recipient")
    if isinstance(recipient, dict) and len(recipient.get("address_lines") or []) > MAX_ADDRESS_LINES:
        problems.append(f"recipient.address_lines (at most {MAX_ADDRESS_LINES} lines fit the envelope window)")
    if kind == "penalty_notice":
        problems += [p for p in _missing(context, _PN_REQUIRED) if p not in problems]
        pn = context.get("pn") or {}
        if pn.get("second_notice"):
            if pn.get("amount_reduced") is not None:
                problems.append("pn.amount_reduced (a second notice has no reduced amount)")
        else:
            problems += _missing(context, ("pn.amount_reduced", "pn.reduced_until"))
        order = [pn.get(k) for k in ("offence_start", "offence_end", "issued_on", "receipt_on", "reduced_until", "pay_by")]
        dates = [d for d in order if d is not None]
        if any(a > b for a, b in zip(dates, dates[1:])):
            problems.append("pn dates out of order (offence start ≤ end ≤ issue ≤ receipt ≤ reduced-rate end ≤ pay by)")
    if problems:
        raise LetterError(f"{kind} letter cannot be rendered; missing or invalid: {', '.join(problems)}")


def render_html(kind: str, context: dict) -> str:
    """The letter as a complete HTML document; a missing context value raises (StrictUndefined or LetterError)."""
    _check_kind(kind)
    _check_context(kind, context)
    return environment().get_template(f"{kind}.html").render(context)


# PDF -------------------------------------------------------------------------------------------------

def render_pdfs(items: list[tuple[str, dict]]) -> list[bytes]:
    """Render many letters, one PDF per item, in the order given.

    Each letter is laid out as its own WeasyPrint document (so "Page N of M" restarts per letter) with one
    shared FontConfiguration; the pages of a batch are written as one PDF, so fonts are embedded and
    subset once rather than once per letter, and the result is split back into one PDF per letter.
    """
    if not items:
        return []
    htmls = [render_html(kind, context) for kind, context in items]
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    out: list[bytes] = []
    for start in range(0, len(htmls), BATCH_SIZE):
        chunk = htmls[start:start + BATCH_SIZE]
        with collector_paused(collect_after=True):
            documents = [
                HTML(string=html, base_url=str(TEMPLATE_DIR)).render(font_config=font_config) for html in chunk
            ]
            if len(documents) == 1:
                out.append(documents[0].write_pdf())
                continue
            combined = documents[0].copy([page for document in documents for page in document.pages])
            out.extend(_split(combined.write_pdf(), documents))
    return out


def _split(data: bytes, documents: list) -> list[bytes]:
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(data))
    parts = []
    first = 0
    for document in documents:
        count = len(document.pages)
        writer = PdfWriter()
        for index in range(first, first + count):
            writer.add_page(reader.pages[index])
        first += count
        metadata = {"/Producer": "casework (WeasyPrint)"}
        if document.metadata.title:
            metadata["/Title"] = document.metadata.title
        if document.metadata.authors:
            metadata["/Author"] = ", ".join(document.metadata.authors)
        writer.add_metadata(metadata)
        buffer = io.BytesIO()
        writer.write(buffer)
        parts.append(buffer.getvalue())
    if first != len(reader.pages):
        raise LetterError(f"batch PDF has {len(reader.pages)} pages, expected {first}")
    return parts


def render_pdf(kind: str, context: dict) -> bytes:
    """One letter as PDF bytes."""
    return render_pdfs([(kind, context)])[0]


def validate_pdf(data: bytes) -> int:
    """Check a rendered letter before it is stored or sent; returns its page count."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = list(reader.pages)
    except (PdfReadError, ValueError, OSError) as exc:
        raise LetterError(f"not a readable PDF: {exc}") from exc
    if not pages:
        raise LetterError("PDF has no pages")
    if len(pages) > MAX_PAGES:
        raise LetterError(f"PDF has {len(pages)} pages; a letter may have at most {MAX_PAGES}")
    for number, page in enumerate(pages, start=1):
        box = page.mediabox
        width, height = float(box.width), float(box.height)
        if (page.get("/Rotate") or 0) % 180:
            width, height = height, width
        if abs(width - A4_POINTS[0]) > 1 or abs(height - A4_POINTS[1]) > 1:
            raise LetterError(
                f"page {number} is {width:.0f}×{height:.0f} pt; letters must be A4 portrait (595×842 pt)"
            )
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # pypdf raises many types on malformed content streams
            raise LetterError(f"page {number}: text cannot be extracted ({exc})") from exc
        if not text.strip():
            raise LetterError(f"page {number} has no extractable text")
    return len(pages)
