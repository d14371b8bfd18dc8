"""Render letters from the HTML templates in letter_templates/ to HTML and tagged PDF (WeasyPrint).

The context each template needs is documented in `casework.letters.samples`. A letter is rendered from a
`Templates` set: the files of its kind (its template, base.html, print.css and the partials they use) with a version
that is the SHA-256 of their text. The set is stored with the letter's inputs, so any issued letter can be rendered
again exactly as it was, even after the templates change. An authority may point casework at its own copy of the
templates folder with CASEWORK_LETTER_TEMPLATES.

Rendering is strict: a missing value (StrictUndefined), an image that cannot be loaded, or a reference to anything
but the file store stops the letter with a LetterError.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Sequence

import jinja2
from jinja2 import meta
from markupsafe import Markup, escape

from ..perf import collector_paused

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "letter_templates"
TEMPLATES_ENV = "CASEWORK_LETTER_TEMPLATES"
STORE_SCHEME = "casework-store:"  # images (the authority's logo) are referred to by their path in the file store

KINDS: tuple[str, ...] = (
    "attendance_concern",
    "meeting_invitation",
    "meeting_not_attended",
    "action_plan",
    "parenting_contract",
    "notice_to_improve",
    "penalty_notice",
    "penalty_notice_withdrawal",
    "prosecution_warning",
    "interview_invitation",
)

A4_POINTS = (595.0, 842.0)
MAX_PAGES = 10  # the most any PDF handled as a letter may have (preflight's limit for posting is lower)
MAX_ADDRESS_LINES = 6  # plus the name: 7 lines, the most a window envelope shows
POOL_FROM = 12  # letters; smaller batches are rendered in this process (starting workers costs more than it saves)
CHUNK = 8  # letters handed to a worker at a time


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


def shortdate(value: date | datetime | str) -> str:
    """Mon 2 Nov 2026 (for long lists of sessions)."""
    value = _as_date(value)
    return f"{value:%a} {value.day} {value:%b %Y}"


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


FILTERS = dict(longdate=longdate, weekdaydate=weekdaydate, shortdate=shortdate, timeofday=timeofday, money=money,
               email_wrap=email_wrap, session_name=session_name, year_group=year_group)


# Template sets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Templates:
    """The files one kind of letter is rendered from, and their version (SHA-256 of `source`)."""

    kind: str
    files: tuple[tuple[str, str], ...]  # (name, text), sorted by name

    @cached_property
    def source(self) -> bytes:
        """The set as canonical JSON: what is stored, and what the version is the hash of."""
        return json.dumps({"kind": self.kind, "files": dict(self.files)}, sort_keys=True, ensure_ascii=False,
                          separators=(",", ":")).encode()

    @cached_property
    def version(self) -> str:
        return hashlib.sha256(self.source).hexdigest()

    @classmethod
    def from_source(cls, data: bytes) -> "Templates":
        loaded = json.loads(data)
        return cls(loaded["kind"], tuple(sorted(loaded["files"].items())))


def template_dir() -> Path:
    """The templates folder in use: CASEWORK_LETTER_TEMPLATES when set, else the one shipped with casework."""
    override = os.environ.get(TEMPLATES_ENV)
    return Path(override).resolve() if override else TEMPLATE_DIR


_PARSER = jinja2.Environment()
_read_cache: dict[tuple[Path, str], tuple[tuple, Templates]] = {}
_read_lock = threading.Lock()


def _stamp(directory: Path, names: Iterable[str]) -> tuple:
    out = []
    for name in sorted(names):
        try:
            stat = (directory / name).stat()
        except FileNotFoundError:
            return ()
        out.append((name, stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def _read(directory: Path, kind: str) -> Templates:
    """Every file `kind` pulls in (extends, include, import, recursively), with base.html and print.css."""
    files: dict[str, str] = {}
    pending = [f"{kind}.html", "base.html", "print.css"]
    while pending:
        name = pending.pop()
        if name in files:
            continue
        path = directory / name
        if not path.is_file():
            raise LetterError(f"letter template {name} is missing from {directory}")
        files[name] = path.read_text(encoding="utf-8")
        if name.endswith(".css"):
            continue
        for ref in meta.find_referenced_templates(_PARSER.parse(files[name])):
            if ref is None:
                raise LetterError(f"{name}: templates must be named literally so their version can be computed")
            pending.append(ref)
    return Templates(kind, tuple(sorted(files.items())))


def templates_for(kind: str, directory: Path | None = None) -> Templates:
    """The current template set of `kind`, read again only when one of its files has changed."""
    _check_kind(kind)
    directory = directory or template_dir()
    with _read_lock:
        cached = _read_cache.get((directory, kind))
        if cached and cached[0] and _stamp(directory, dict(cached[1].files)) == cached[0]:
            return cached[1]
    templates = _read(directory, kind)
    with _read_lock:
        _read_cache[(directory, kind)] = (_stamp(directory, dict(templates.files)), templates)
    return templates


def template_version(kind: str) -> str:
    """SHA-256 (hex) of the kind's template set as it is now."""
    return templates_for(kind).version


_environments: dict[str, jinja2.Environment] = {}


def environment(templates: Templates) -> jinja2.Environment:
    """A Jinja environment over one template set: strict about missing values, HTML-escaping every value."""
    env = _environments.get(templates.version)
    if env is None:
        env = jinja2.Environment(loader=jinja2.DictLoader(dict(templates.files)), undefined=jinja2.StrictUndefined,
                                 autoescape=True, keep_trailing_newline=True)
        env.filters.update(FILTERS)
        if len(_environments) > 64:
            _environments.clear()
        _environments[templates.version] = env
    return env


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


def render_html(kind: str, context: dict, templates: Templates | None = None) -> str:
    """The letter as a complete HTML document; a missing context value raises (StrictUndefined or LetterError)."""
    _check_kind(kind)
    templates = templates or templates_for(kind)
    if templates.kind != kind:
        raise LetterError(f"template set is for {templates.kind!r} letters, not {kind!r}")
    _check_context(kind, context)
    return environment(templates).get_template(f"{kind}.html").render(context)


# PDF -------------------------------------------------------------------------------------------------

@dataclass
class Rendered:
    """One rendered letter: its PDF (empty when preflight found problems), page count and layout problems."""

    pdf: bytes
    pages: int
    problems: list[str] = field(default_factory=list)


@dataclass
class Job:
    """What a worker needs to render one letter: its template set, its context and the images it refers to."""

    templates: Templates
    context: dict
    resources: dict[str, tuple[bytes, str]]


def image_url(path: str) -> str:
    """How a template refers to an image in the file store (see `resources`)."""
    return STORE_SCHEME + path


def resources(context: dict) -> dict[str, tuple[bytes, str]]:
    """The stored images a context refers to (the authority's logo), loaded now: a missing one is fatal."""
    from . import storage

    logo = (context.get("authority") or {}).get("logo")
    if not logo:
        return {}
    if logo.get("media_type") not in ("image/png", "image/svg+xml"):
        raise LetterError(f"the letterhead logo has media type {logo.get('media_type')!r}; "
                          "it must be image/png or image/svg+xml")
    try:
        return {image_url(logo["path"]): (storage.load(logo["path"]), logo["media_type"])}
    except storage.StorageError as exc:
        raise LetterError(f"the letterhead logo cannot be loaded: {exc}") from None


def job(kind: str, context: dict, templates: Templates | None = None) -> Job:
    return Job(templates or templates_for(kind), context, resources(context))


class _ErrorLog(logging.Handler):
    """WeasyPrint's errors (an image or stylesheet it could not load) in this thread, which it would only log."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextmanager
def _fatal_weasyprint_errors():
    from weasyprint import LOGGER
    from weasyprint.urls import FatalURLFetchingError

    handler = _ErrorLog()
    LOGGER.addHandler(handler)
    try:
        yield
    except FatalURLFetchingError as exc:
        raise LetterError(f"letter refers to something it cannot load: {exc.__cause__ or exc}") from None
    finally:
        LOGGER.removeHandler(handler)
    if handler.messages:
        raise LetterError("; ".join(handler.messages))


def _fetcher(store: dict[str, tuple[bytes, str]]):
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StoreFetcher(URLFetcher):
        """Only the file store's images (and data: URLs): a letter never reads the disk or the network."""

        def fetch(self, url, headers=None):
            if url in store:
                data, media_type = store[url]
                return URLFetcherResponse(url, data, {"Content-Type": media_type})
            if url.startswith("data:"):
                return super().fetch(url, headers)
            raise LetterError(f"{url!r} is not an image in the file store")

    return StoreFetcher(fail_on_errors=True)


_font_config = None


def _fonts():
    """One FontConfiguration per process: fonts are looked up once, not once per letter."""
    global _font_config
    if _font_config is None:
        from weasyprint.text.fonts import FontConfiguration

        _font_config = FontConfiguration()
    return _font_config


def _document(item: Job):
    from weasyprint import HTML

    html = render_html(item.templates.kind, item.context, item.templates)
    with _fatal_weasyprint_errors():
        return HTML(string=html, url_fetcher=_fetcher(item.resources)).render(
            font_config=_fonts())


def _render_one(item: Job, max_pages: int | None, tagged: bool) -> Rendered:
    from .preflight import layout_problems

    document = _document(item)
    problems = layout_problems(document, max_pages) if max_pages is not None else []
    if problems:
        return Rendered(b"", len(document.pages), problems)
    pdf = document.write_pdf(pdf_variant="pdf/ua-1" if tagged else None)
    return Rendered(pdf, len(document.pages), [])


def _render_chunk(items: list[Job], max_pages: int | None, tagged: bool) -> list[Rendered]:
    with collector_paused(collect_after=True):
        return [_render_one(item, max_pages, tagged) for item in items]


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    """Processes a large batch is rendered on: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _worker_pool() -> ProcessPoolExecutor:
    """Worker processes started once from a clean forkserver (never forked from a threaded web process)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            import multiprocessing

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__, "weasyprint"])
            _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=context)
        return _pool


def render_jobs(items: Sequence[Job], max_pages: int | None = None, tagged: bool = True) -> list[Rendered]:
    """Render letters in the order given; large batches are spread over every core.

    With `max_pages`, each letter's layout is checked before it is written (preflight): a letter with problems
    comes back with them and no PDF. PDFs are tagged (PDF/UA-1) unless `tagged` is False.
    """
    items = list(items)
    if len(items) < POOL_FROM or workers() < 2:
        return _render_chunk(items, max_pages, tagged)
    chunks = [items[start:start + CHUNK] for start in range(0, len(items), CHUNK)]
    pool = _worker_pool()
    futures = [pool.submit(_render_chunk, chunk, max_pages, tagged) for chunk in chunks]
    return [rendered for future in futures for rendered in future.result()]


def render_pdfs(items: list[tuple[str, dict]], tagged: bool = True) -> list[bytes]:
    """Many letters, one PDF each, in the order given (no preflight)."""
    return [r.pdf for r in render_jobs([job(kind, context) for kind, context in items], tagged=tagged)]


def render_pdf(kind: str, context: dict, templates: Templates | None = None, tagged: bool = True) -> bytes:
    """One letter as PDF bytes."""
    return render_jobs([job(kind, context, templates)], tagged=tagged)[0].pdf


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
