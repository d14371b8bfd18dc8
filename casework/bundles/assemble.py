"""Put documents on numbered pages, merge them into one PDF, and finish it as a court e-bundle.

`Builder.place` gives each document its pages (laying out rendered parts to count them, and settling the index,
whose length moves everything after it); `Builder.body` merges the pages (earlier versions' pages first, unchanged);
`finish` stamps "Page N of M" on every page, turns the index's entries into links to their pages, adds a bookmark for
every section and document and makes the PDF open at 100 %.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, FloatObject, NameObject, NullObject
from pypdf.generic import Fit

from ..letters import storage
from .render import PAGE_LINK, Renderer, render_html
from .sections import SECTION, Document
from .stamp import Stamp, Stamper

A4 = (595.0, 842.0)
STORED_PAGE_KEYS = ("/Annots", "/AA", "/StructParents")  # links and actions of stored files do not survive merging
INDEX_ROUNDS = 6
INDEX_ROWS_PER_PAGE, INDEX_HEAD_ROWS = 40, 5  # a first guess at the index's length, so it is usually laid out once


class BundleError(RuntimeError):
    """A bundle cannot be made: a stored file is missing or altered, or a page is not A4."""


@dataclass
class Placed:
    """A document on its pages of the bundle."""

    doc: Document
    first: int
    last: int
    added_in: int

    def entry(self) -> dict:
        d = self.doc
        return {"key": d.key, "section": d.section, "title": d.title, "exhibit": d.exhibit, "first": self.first,
                "last": self.last, "sha256": d.sha256, "source": d.source, "original_sha256": d.original_sha256,
                "dated": d.dated.isoformat() if d.dated else None, "added_in": self.added_in, "current": True}


class Builder:
    """Lays out and loads the documents of one build, then merges them."""

    def __init__(self, redacted_copy: Callable[[Document], bytes]):
        self.renderer = Renderer()
        self.redacted_copy = redacted_copy
        self.layouts: dict[str, object] = {}
        self.files: dict[str, PdfReader] = {}

    # ------------------------------------------------------------ counting pages

    def measure(self, doc: Document) -> None:
        """Lay out or load the document and record its page count."""
        if doc.template:
            layout = self.renderer.layout(render_html(doc.template, doc.context))
            if "own_pages" in doc.context and doc.context["own_pages"] != len(layout.pages):
                doc.context["own_pages"] = len(layout.pages)  # a statement states its own length: lay out again
                layout = self.renderer.layout(render_html(doc.template, doc.context))
            self.layouts[doc.key] = layout
            doc.pages = len(layout.pages)
            return
        data = self.redacted_copy(doc) if doc.source == "redacted" else _stored(doc)
        reader = PdfReader(io.BytesIO(data))
        self.files[doc.key] = reader
        doc.pages = len(reader.pages)
        if doc.pages == 0:
            raise BundleError(f"{doc.title}: the stored file has no pages")

    def place(self, docs: list[Document], first_page: int, added_in: int,
              make_index: Callable[[list[Placed]], Document]) -> list[Placed]:
        """Number the pages of `docs` from `first_page`; the document keyed like the index is made by `make_index`
        from the placing itself, until its own length stops changing (its length is guessed first from its rows)."""
        for doc in docs:
            if not doc.pages and not doc.key.startswith("index"):
                self.measure(doc)
        index = next(i for i, doc in enumerate(docs) if doc.key.startswith("index"))
        docs[index].pages = 1
        docs[index].pages = _index_pages_guess(make_index(_sequence(docs, first_page, added_in)))
        for _ in range(INDEX_ROUNDS):
            made = make_index(_sequence(docs, first_page, added_in))
            self.measure(made)
            settled = made.pages == docs[index].pages
            docs[index] = made
            if settled:
                return _sequence(docs, first_page, added_in)
        raise BundleError("the index did not settle on a page count")

    # ------------------------------------------------------------ merging

    def body(self, base: PdfReader | None, placed: list[Placed]) -> PdfWriter:
        """The bundle's pages, unstamped: the base version's pages as they were, then the placed documents."""
        writer = PdfWriter()
        if base is not None:
            for page in base.pages:
                writer.add_page(page)
        rendered = [p.doc for p in placed if p.doc.template]
        combined = PdfReader(io.BytesIO(self.renderer.write([self.layouts[doc.key] for doc in rendered])))
        offsets, at = {}, 0
        for doc in rendered:
            offsets[doc.key], at = at, at + doc.pages
        for p in placed:
            if p.doc.template:
                start = offsets[p.doc.key]
                pages, excluded = combined.pages[start:start + p.doc.pages], ()
            else:
                pages, excluded = self.files[p.doc.key].pages, STORED_PAGE_KEYS
            for page in pages:
                writer.add_page(page, excluded_keys=excluded)
        return writer


def _index_pages_guess(index: Document) -> int:
    rows = sum(1 + len(entry["documents"]) for entry in index.context["entries"])
    return 1 + (rows + INDEX_HEAD_ROWS) // INDEX_ROWS_PER_PAGE


def _sequence(docs: list[Document], first_page: int, added_in: int) -> list[Placed]:
    placed, page = [], first_page
    for doc in docs:
        placed.append(Placed(doc, page, page + doc.pages - 1, added_in))
        page += doc.pages
    return placed


def _stored(doc: Document) -> bytes:
    try:
        return storage.load_verified(doc.path, doc.file_sha256)
    except storage.StorageError as exc:  # missing, or no longer the file recorded
        raise BundleError(f"{doc.title}: {exc}") from None


# ---------------------------------------------------------------- finishing

def to_bytes(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def stamps(entries: list[dict], pages: int, footer: str, header: str = "") -> list[Stamp]:
    """Each page's stamp: the footer and "Page N of M", a header (previews) and the exhibit label of its document.
    (A redacted letter copy says so on every page itself, with the SHA-256 of the letter as issued.)"""
    out = [Stamp(footer, f"Page {n} of {pages}", header) for n in range(1, pages + 1)]
    for entry in entries:
        if entry["exhibit"]:
            for n in range(entry["first"], entry["last"] + 1):
                out[n - 1] = Stamp(footer, f"Page {n} of {pages}", header, f"Exhibit {entry['exhibit']}")
    return out


def groups(manifest: dict) -> list[tuple[str, bool, list[dict]]]:
    """The bookmark tree: (title, holds one bookmark per document, documents) per section, in page order; documents
    appended by a later version are grouped under that version."""
    found: dict[str, tuple[str, bool, list[dict]]] = {}
    for entry in sorted(manifest["documents"], key=lambda e: e["first"]):
        if entry["added_in"] == manifest["layout_version"]:
            section = SECTION[entry["section"]]
            key, title, multi = section.key, section.title, section.multi
        else:
            key, title, multi = f"added:{entry['added_in']}", f"Added in version {entry['added_in']}", True
        found.setdefault(key, (title, multi, []))[2].append(entry)
    return list(found.values())


def _pages_text(first: int, last: int) -> str:
    return f"p. {first}" if first == last else f"pp. {first}-{last}"


def _link_targets(writer: PdfWriter) -> None:
    """Index entries were written as links to casework-bundle:page/N: point each at page N itself."""
    for page in writer.pages:
        for ref in page.get("/Annots") or []:
            annotation = ref.get_object()
            action = annotation.get("/A")
            uri = str(action.get_object().get("/URI", "")) if action is not None else ""
            if not uri.startswith(PAGE_LINK):
                continue
            target = writer.pages[int(uri[len(PAGE_LINK):]) - 1]
            del annotation[NameObject("/A")]
            annotation[NameObject("/Dest")] = ArrayObject([target.indirect_reference, NameObject("/XYZ"), NullObject(),
                                                           FloatObject(float(target.mediabox.top)), NullObject()])


def _outline(writer: PdfWriter, manifest: dict) -> None:
    for title, multi, entries in groups(manifest):
        first, last = entries[0]["first"], max(e["last"] for e in entries)
        top = writer.add_outline_item(title=f"{title} ({_pages_text(first, last)})", page_number=first - 1,
                                      fit=Fit.xyz(top=None), is_open=False)
        if multi:
            for e in entries:
                label = f"{e['exhibit']}: " if e["exhibit"] else ""
                writer.add_outline_item(title=f"{label}{e['title']} ({_pages_text(e['first'], e['last'])})",
                                        page_number=e["first"] - 1, parent=top, fit=Fit.xyz(top=None))


def _check_a4(writer: PdfWriter) -> None:
    for number, page in enumerate(writer.pages, start=1):
        size = sorted((float(page.mediabox.width), float(page.mediabox.height)))
        if abs(size[0] - A4[0]) > 1 or abs(size[1] - A4[1]) > 1:
            raise BundleError(f"page {number} is {size[0]:.0f}×{size[1]:.0f} pt, not A4")


def finish(writer: PdfWriter, manifest: dict, footer: str, header: str, title: str, author: str) -> bytes:
    """Stamp, link, bookmark and set the opening view of the merged pages; the finished PDF."""
    _check_a4(writer)
    stamper = Stamper(writer)
    for page, stamp in zip(writer.pages, stamps(manifest["documents"], len(writer.pages), footer, header)):
        stamper.stamp(page, stamp)
    _link_targets(writer)
    _outline(writer, manifest)
    first = writer.pages[0]
    writer._root_object[NameObject("/OpenAction")] = ArrayObject(
        [first.indirect_reference, NameObject("/XYZ"), NullObject(), FloatObject(float(first.mediabox.top)),
         FloatObject(1)])
    writer.page_mode = "/UseOutlines"
    writer.add_metadata({"/Title": title, "/Author": author, "/Producer": "casework (WeasyPrint, pypdf)"})
    return to_bytes(writer)
