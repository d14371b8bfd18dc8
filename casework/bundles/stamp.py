"""Text stamped on finished bundle pages ("Page N of M", the exhibit label, the redaction note), drawn with pypdf.

Each page gets its own small content stream, in an embedded TrueType font subset to the characters the stamps use
(DejaVu Sans, the letters' font). Drawing directly costs well under a millisecond a page, where rendering overlay
pages with WeasyPrint and merging them cost about 15 ms a page. The page's own content is wrapped in q/Q first, so
a graphics state it leaves behind cannot move or hide the stamp.
"""
from __future__ import annotations

import glob
import hashlib
import io
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pypdf import PageObject, PdfWriter
from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject,
                           StreamObject)

FONT_FILES = {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/usr/share/fonts/truetype")
RESOURCE = {"regular": "/CWStampR", "bold": "/CWStampB"}
MARGIN = 34.0  # points from the page's left and right edges (12 mm)
FOOT = 17.0    # baseline of the footer, points from the bottom edge (6 mm)
HEAD = 16.0    # baseline of the header, points from the top edge (5.6 mm)


@dataclass(frozen=True)
class Stamp:
    """What one page shows: footer left and right (bold), header left and right (bold)."""

    foot_left: str
    foot_right: str
    head_left: str = ""
    head_right: str = ""


def ascii_text(text: str) -> str:
    """Stamps are drawn with a one-byte encoding: accents are dropped and other characters become '?'."""
    folded = unicodedata.normalize("NFKD", text.replace("–", "-").replace("—", "-").replace("·", "-"))
    return "".join(c if 32 <= ord(c) < 127 else ("" if unicodedata.combining(c) else "?") for c in folded)


@lru_cache(maxsize=None)
def _font_path(name: str) -> str:
    known = f"/usr/share/fonts/truetype/dejavu/{name}"
    if glob.glob(known):
        return known
    for folder in FONT_DIRS:
        found = sorted(glob.glob(f"{folder}/**/{name}", recursive=True))
        if found:
            return found[0]
    raise FileNotFoundError(f"font {name} not found (install fonts-dejavu-core)")


@dataclass
class _Font:
    data: bytes
    widths: list[int]  # for codes 32..126, in 1/1000 em
    bbox: list[int]
    ascent: int
    descent: int
    cap_height: int
    name: str

    def width(self, text: str, size: float) -> float:
        return sum(self.widths[ord(c) - 32] for c in text) * size / 1000


PRINTABLE = "".join(chr(code) for code in range(32, 127))


@lru_cache(maxsize=None)
def _subset(weight: str, chars: str = PRINTABLE) -> _Font:
    """The font cut down to `chars`, with its metrics scaled to 1000 units per em (made once per process)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(_font_path(FONT_FILES[weight]), lazy=True)
    scale = 1000 / font["head"].unitsPerEm
    cmap, hmtx = font.getBestCmap(), font["hmtx"]
    widths = [round(hmtx[cmap[code]][0] * scale) if code in cmap else 0 for code in range(32, 127)]
    head, hhea, os2 = font["head"], font["hhea"], font["OS/2"]
    bbox = [round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)]
    metrics = (round(hhea.ascent * scale), round(hhea.descent * scale),
               round(getattr(os2, "sCapHeight", 0) * scale) or round(hhea.ascent * scale))
    options = subset.Options()
    options.layout_features = []
    options.notdef_outline = True
    options.name_IDs = []
    options.hinting = False
    options.drop_tables += ["FFTM", "GSUB", "GPOS", "GDEF", "kern"]  # stamps need no shaping or kerning
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    tag = "".join(chr(65 + b % 26) for b in hashlib.sha256((weight + chars).encode()).digest()[:6])
    name = f"{tag}+DejaVuSans{'-Bold' if weight == 'bold' else ''}"
    return _Font(buffer.getvalue(), widths, bbox, *metrics, name=name)


def _font_object(writer: PdfWriter, font: _Font):
    program = StreamObject()
    program.set_data(font.data)
    program[NameObject("/Length1")] = NumberObject(len(font.data))
    descriptor = DictionaryObject({
        NameObject("/Type"): NameObject("/FontDescriptor"), NameObject("/FontName"): NameObject("/" + font.name),
        NameObject("/Flags"): NumberObject(32),  # nonsymbolic: the viewer maps WinAnsi codes through the font's cmap
        NameObject("/FontBBox"): ArrayObject(NumberObject(v) for v in font.bbox),
        NameObject("/ItalicAngle"): NumberObject(0), NameObject("/Ascent"): NumberObject(font.ascent),
        NameObject("/Descent"): NumberObject(font.descent), NameObject("/CapHeight"): NumberObject(font.cap_height),
        NameObject("/StemV"): NumberObject(80), NameObject("/FontFile2"): writer._add_object(program),
    })
    return writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/TrueType"),
        NameObject("/BaseFont"): NameObject("/" + font.name), NameObject("/FirstChar"): NumberObject(32),
        NameObject("/LastChar"): NumberObject(126),
        NameObject("/Widths"): ArrayObject(NumberObject(w) for w in font.widths),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        NameObject("/FontDescriptor"): writer._add_object(descriptor),
    }))


def _literal(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _stream(writer: PdfWriter, text: str):
    stream = DecodedStreamObject()
    stream.set_data(text.encode("latin-1"))
    return writer._add_object(stream)


class Stamper:
    """Draws stamps on the pages of one writer; the fonts are embedded once and shared by every page."""

    def __init__(self, writer: PdfWriter):
        self.writer = writer
        self.fonts = {"regular": _subset("regular"), "bold": _subset("bold")}
        self.refs = {weight: _font_object(writer, font) for weight, font in self.fonts.items()}
        self.save, self.restore = _stream(writer, "q\n"), _stream(writer, "\nQ\n")

    def _text(self, weight: str, size: float, text: str, x: float, y: float, right: bool) -> str:
        text = ascii_text(text)
        if not text:
            return ""
        if right:
            x -= self.fonts[weight].width(text, size)
        return f"BT {RESOURCE[weight]} {size} Tf 1 0 0 1 {x:.2f} {y:.2f} Tm {_literal(text)} Tj ET\n"

    def stamp(self, page: PageObject, stamp: Stamp) -> None:
        box = page.mediabox
        left, bottom, right, top = float(box.left), float(box.bottom), float(box.right), float(box.top)
        ops = ("q 0 g\n"
               + self._text("regular", 7.5, stamp.foot_left, left + MARGIN, bottom + FOOT, False)
               + self._text("bold", 9, stamp.foot_right, right - MARGIN, bottom + FOOT, True)
               + self._text("regular", 7.5, stamp.head_left, left + MARGIN, top - HEAD, False)
               + self._text("bold", 9, stamp.head_right, right - MARGIN, top - HEAD, True)
               + "Q\n")
        fonts = _dictionary(_dictionary(page, "/Resources"), "/Font")
        for weight, name in RESOURCE.items():
            fonts[NameObject(name)] = self.refs[weight]
        contents = page.get("/Contents")
        existing = contents.get_object() if contents is not None else []
        if not isinstance(existing, ArrayObject):
            existing = [contents] if contents is not None else []
        page[NameObject("/Contents")] = ArrayObject([self.save, *existing, self.restore, _stream(self.writer, ops)])


def _dictionary(parent, key: str) -> DictionaryObject:
    """parent[key] as a dictionary to add to, made when missing."""
    found = parent.get(key)
    if found is None:
        found = DictionaryObject()
        parent[NameObject(key)] = found
    return found.get_object()
