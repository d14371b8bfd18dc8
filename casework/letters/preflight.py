"""Preflight: is a letter fit to post? Checked before a trigger issues it; a failure refuses the trigger.

Recipients: a postal address of 3 to 7 lines counting the name (the most a window envelope shows), the last a valid
UK postcode, and not "no fixed abode". Layout, from WeasyPrint's boxes of the rendered document (not by eye): A4
portrait, at most the page limit, nothing printed outside the printable area, and nothing but the address printed
across the envelope window (whose geometry is stated in letter_templates/print.css).
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

MM = 96 / 25.4  # CSS pixels (WeasyPrint's layout unit) per millimetre
A4_MM = (210.0, 297.0)
PRINTABLE_MARGIN_MM = 10.0  # printers and inserters may not mark within this distance of any edge
WINDOW_MM = (20.0, 45.0, 110.0, 90.0)  # left, top, right, bottom of the envelope window on page 1
ADDRESS_BLOCK_ID = "recipient-address"
MIN_ADDRESS_LINES, MAX_ADDRESS_LINES = 3, 7  # counting the recipient's name
DEFAULT_MAX_PAGES = 3

# The UK postcode formats (outward code: area and district; inward code: sector and unit), and GIR 0AA.
_POSTCODE = re.compile(r"GIR ?0AA|[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRVWXY]?)"
                       r" ?[0-9][ABD-HJLNP-UW-Z]{2}")
_NO_FIXED_ABODE = re.compile(r"\b(no fixed (abode|address)|n\.?f\.?a\.?)\b", re.I)


def valid_postcode(text: str) -> bool:
    return bool(_POSTCODE.fullmatch(" ".join(text.upper().split())))


def address_problems(name: str, address_lines: list[str]) -> list[str]:
    """Why a letter to this name and address cannot be posted in a window envelope (empty when it can)."""
    lines = [line for line in address_lines if line and line.strip()]
    problems = []
    if any(_NO_FIXED_ABODE.search(line) for line in lines):
        return [f"{name} has no fixed abode: a letter cannot be posted to them"]
    count = len(lines) + 1
    if count < MIN_ADDRESS_LINES:
        problems.append(f"the address of {name} has {count} line(s) with the name; a postal address needs at least "
                        f"{MIN_ADDRESS_LINES}")
    if count > MAX_ADDRESS_LINES:
        problems.append(f"the address of {name} has {count} lines with the name; at most {MAX_ADDRESS_LINES} fit "
                        "the envelope window")
    if not lines or not valid_postcode(lines[-1]):
        problems.append(f"the address of {name} does not end with a valid UK postcode"
                        + (f" ({lines[-1]!r})" if lines else ""))
    return problems


# Layout ----------------------------------------------------------------------------------------------

def _painted(box) -> Iterator:
    """Every box of a page that puts ink on paper: text, images, and boxes with a visible border."""
    from weasyprint.formatting_structure import boxes

    for b in box.descendants(placeholders=True):  # absolutely positioned boxes (address, letterhead) too
        if isinstance(b, boxes.TextBox):
            if b.text.strip():
                yield b
        elif isinstance(b, boxes.ReplacedBox):
            yield b
        elif any(getattr(b, f"border_{side}_width", 0) for side in ("top", "right", "bottom", "left")):
            yield b


def _rect_mm(box) -> tuple[float, float, float, float]:
    x, y = box.border_box_x(), box.border_box_y()
    return x / MM, y / MM, (x + box.border_width()) / MM, (y + box.border_height()) / MM


def _address_boxes(page_box) -> set[int]:
    for b in page_box.descendants(placeholders=True):
        element = getattr(b, "element", None)
        if element is not None and element.get("id") == ADDRESS_BLOCK_ID and getattr(b, "element_tag", "") == "div":
            return {id(d) for d in b.descendants(placeholders=True)}
    return set()


def _what(box) -> str:
    text = getattr(box, "text", "") or ""
    return repr(text.strip()[:40]) if text.strip() else f"a {getattr(box, 'element_tag', 'box')} element"


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(a, b, slack: float = 0.2) -> bool:
    return a[0] >= b[0] - slack and a[1] >= b[1] - slack and a[2] <= b[2] + slack and a[3] <= b[3] + slack


def page_problems(number: int, page) -> list[str]:
    """Layout problems of one page of a letter (page 1 carries the address window)."""
    width, height = page.width / MM, page.height / MM
    if abs(width - A4_MM[0]) > 0.5 or abs(height - A4_MM[1]) > 0.5:
        return [f"page {number} is {width:.0f} × {height:.0f} mm; letters must be A4 portrait (210 × 297 mm)"]
    m = PRINTABLE_MARGIN_MM
    printable = (m, m, A4_MM[0] - m, A4_MM[1] - m)
    address = _address_boxes(page._page_box) if number == 1 else set()
    if number == 1 and not address:
        return ["page 1 has no recipient address block"]
    problems = []
    for box in _painted(page._page_box):
        rect = _rect_mm(box)
        if not _inside(rect, printable):
            problems.append(f"page {number}: {_what(box)} is printed outside the printable area "
                            f"({m:.0f} mm from each edge)")
        if number == 1 and id(box) in address and not _inside(rect, WINDOW_MM):
            problems.append(f"page 1: the address ({_what(box)}) does not fit inside the envelope window")
        elif number == 1 and id(box) not in address and _overlaps(rect, WINDOW_MM):
            problems.append(f"page 1: {_what(box)} is printed across the envelope window")
    return problems


def layout_problems(document, max_pages: int = DEFAULT_MAX_PAGES) -> list[str]:
    """Why a rendered WeasyPrint document is not fit to post (empty when it is); at most 5 reasons."""
    problems = []
    if len(document.pages) > max_pages:
        problems.append(f"it runs to {len(document.pages)} pages; a letter may have at most {max_pages}")
    for number, page in enumerate(document.pages, start=1):
        problems.extend(page_problems(number, page))
    return _first(problems, 5)


def _first(problems: Iterable[str], limit: int) -> list[str]:
    unique = list(dict.fromkeys(problems))
    return unique[:limit] + ([f"and {len(unique) - limit} more problem(s)"] if len(unique) > limit else [])
