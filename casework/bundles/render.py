"""Lay out the parts rendered from case data (bundle_templates/) with WeasyPrint, and write them as one PDF.

Each part is laid out as its own document (so its own page counters work), with one shared font configuration; all
parts are then written together, so each font is embedded and subset once for the whole bundle.
"""
from __future__ import annotations

import io
from pathlib import Path

import jinja2

from ..letters.render import longdate, money, session_name
from ..perf import collector_paused

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "bundle_templates"
PAGE_LINK = "casework-bundle:page/"  # index links point here; the assembler turns them into links to pages

_env: jinja2.Environment | None = None


def shortdate(value) -> str:
    """2 Nov 2026."""
    return f"{value.day} {value:%b %Y}"


def pages(first: int | None, last: int | None) -> str:
    if not first:
        return ""
    return f"{first}" if first == last else f"{first}–{last}"


def environment() -> jinja2.Environment:
    """The bundles' own Jinja environment: strict about missing values, escaping every value."""
    global _env
    if _env is None:
        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
                                  autoescape=True, auto_reload=True)
        _env.filters.update(longdate=longdate, money=money, session_name=session_name, shortdate=shortdate,
                            pages=pages)
        _env.globals.update(page_link=PAGE_LINK)
    return _env


def render_html(template: str, context: dict) -> str:
    return environment().get_template(f"{template}.html").render(context)


class Renderer:
    """Lays out HTML parts one by one, then writes any of them together as one PDF."""

    def __init__(self):
        from weasyprint.text.fonts import FontConfiguration

        self.fonts = FontConfiguration()

    def layout(self, html: str):
        from weasyprint import HTML

        with collector_paused():
            return HTML(string=html, base_url=str(TEMPLATE_DIR)).render(font_config=self.fonts)

    def write(self, documents: list) -> bytes:
        """The pages of these laid-out documents, in order, as one PDF."""
        if not documents:
            return b""
        with collector_paused(collect_after=True):
            combined = documents[0].copy([page for document in documents for page in document.pages])
            buffer = io.BytesIO()
            combined.write_pdf(buffer)
        return buffer.getvalue()
