"""Charts drawn on the server as inline SVG: horizontal bars (each with an optional comparison marker) and a line over
time.

No script and no style attributes (the Content-Security-Policy allows neither): the look comes from the classes
styled in casework.css. Every chart has role="img", a <title> and a <desc>, and writes each value as text, so nothing
depends on colour; pages show the same numbers in a table as well. Pure Python: it imports nothing from Flask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
ROW = 30  # height of one bar's row
BAR = 18
CHAR_WIDTH = 7.5  # a generous average width of a 14px character, to make room for labels and values
LABEL_CHARS = 34  # longer labels are shortened on the chart (the full label is in the row's tooltip and the table)
LEGEND = 28
LINE_HEIGHT = 320
LINE_MARGIN = {"left": 56, "right": 24, "top": 16, "bottom": 64}  # the x labels and the reference line's legend
X_LABELS = 8  # at most this many labels along a line chart's x axis


@dataclass(frozen=True)
class Bar:
    """One bar: its label, length and the text written after it; `marker` is a comparison value (e.g. national)."""

    label: str
    value: float
    text: str
    marker: float | None = None


@dataclass(frozen=True)
class Point:
    """One point of a line: its axis label (short), value and the full text of its tooltip."""

    label: str
    value: float
    text: str


def _e(text) -> str:
    return str(escape(text))


def _n(number: float) -> str:
    return f"{number:.1f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 (times a power of ten) not below `value`; 1 for nothing to show."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value * (1 - 1e-9))


def _svg(chart_id: str, title: str, description: str, height: float, body: list[str]) -> Markup:
    """The chart in a <figure> captioned with its title (assistive technology reads the SVG's own <title>)."""
    return Markup(
        f'<figure class="casework-chart-figure"><figcaption class="govuk-heading-s" aria-hidden="true">{_e(title)}'
        f'</figcaption><svg xmlns="http://www.w3.org/2000/svg" class="casework-chart" id="{_e(chart_id)}" role="img" '
        f'viewBox="0 0 {WIDTH} {_n(height)}" aria-labelledby="{_e(chart_id)}-title {_e(chart_id)}-desc">'
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title><desc id="{_e(chart_id)}-desc">{_e(description)}</desc>'
        + "".join(body) + "</svg></figure>")


def svg_of(chart: Markup) -> str:
    """The <svg> element of a chart, without its figure."""
    return chart[chart.index("<svg"):chart.rindex("</svg>") + len("</svg>")]


def _diamond(x: float, y: float, size: float = 7) -> str:
    return (f'<path class="casework-chart__marker" d="M{_n(x)} {_n(y - size)}L{_n(x + size)} {_n(y)}'
            f'L{_n(x)} {_n(y + size)}L{_n(x - size)} {_n(y)}Z"/>')


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1].rstrip() + "…"


def bar_chart(chart_id: str, title: str, bars: list[Bar], *, description: str, marker_label: str = "") -> Markup:
    """Horizontal bars on one scale from 0; markers are drawn as diamonds and named by `marker_label` in a legend."""
    markers = [bar.marker for bar in bars if bar.marker is not None]
    top = 8
    height = top + ROW * max(len(bars), 1) + (LEGEND if markers else 0) + 8
    axis = round(16 + CHAR_WIDTH * max([len(_short(bar.label)) for bar in bars] + [8]))  # labels to its left
    plot = max(WIDTH / 4, WIDTH - axis - 16 - CHAR_WIDTH * max([len(bar.text) for bar in bars] + [8]))  # then values
    scale = nice_ceiling(max([bar.value for bar in bars] + markers + [0]))

    def x(value: float) -> float:
        return axis + plot * max(value, 0) / scale

    body = [f'<line class="casework-chart__axis" x1="{axis}" y1="{top}" x2="{axis}" '
            f'y2="{top + ROW * max(len(bars), 1)}"/>']
    if not bars:
        body.append(f'<text x="{axis + 8}" y="{top + ROW / 2}" dominant-baseline="central">Nothing to show</text>')
    for i, bar in enumerate(bars):
        middle = top + ROW * i + ROW / 2
        body.append(f'<g><title>{_e(bar.label)}: {_e(bar.text)}</title>'
                    f'<text class="casework-chart__label" x="{axis - 8}" y="{_n(middle)}" text-anchor="end" '
                    f'dominant-baseline="central">{_e(_short(bar.label))}</text>'
                    f'<rect class="casework-chart__bar" x="{axis}" y="{_n(middle - BAR / 2)}" '
                    f'width="{_n(x(bar.value) - axis)}" height="{BAR}"/>')
        if bar.marker is not None:
            body.append(_diamond(x(bar.marker), middle))
        end = x(max(bar.value, bar.marker if bar.marker is not None else 0)) + 10
        body.append(f'<text class="casework-chart__value" x="{_n(end)}" y="{_n(middle)}" '
                    f'dominant-baseline="central">{_e(bar.text)}</text></g>')
    if markers:
        legend = top + ROW * len(bars) + LEGEND / 2 + 4
        body.append(_diamond(axis + 8, legend)
                    + f'<text x="{axis + 22}" y="{_n(legend)}" dominant-baseline="central">'
                      f'{_e(marker_label)}</text>')
    return _svg(chart_id, title, description, height, body)


def line_chart(chart_id: str, title: str, points: list[Point], *, description: str, unit: str = "%",
               reference: tuple[float, str] | None = None) -> Markup:
    """A line through the points in order, on a y scale from 0, with an optional dashed, labelled reference line."""
    m = LINE_MARGIN
    plot_w, plot_h = WIDTH - m["left"] - m["right"], LINE_HEIGHT - m["top"] - m["bottom"]
    scale = nice_ceiling(max([p.value for p in points] + ([reference[0]] if reference else []) + [0]))

    def x(i: int) -> float:
        return m["left"] + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return m["top"] + plot_h * (1 - max(value, 0) / scale)

    body = []
    for k in range(6):
        tick = scale * k / 5
        body.append(f'<line class="casework-chart__grid" x1="{m["left"]}" x2="{WIDTH - m["right"]}" '
                    f'y1="{_n(y(tick))}" y2="{_n(y(tick))}"/>'
                    f'<text class="casework-chart__tick" x="{m["left"] - 8}" y="{_n(y(tick))}" text-anchor="end" '
                    f'dominant-baseline="central">{_n(tick)}{_e(unit)}</text>')
    every = max(1, math.ceil(len(points) / X_LABELS))
    for i in range(0, len(points), every):
        body.append(f'<text class="casework-chart__tick" x="{_n(x(i))}" y="{LINE_HEIGHT - m["bottom"] + 20}" '
                    f'text-anchor="middle">{_e(points[i].label)}</text>')
    if reference:
        value, label = reference
        legend = LINE_HEIGHT - 12
        body.append(f'<line class="casework-chart__reference" x1="{m["left"]}" x2="{WIDTH - m["right"]}" '
                    f'y1="{_n(y(value))}" y2="{_n(y(value))}"/>'
                    f'<line class="casework-chart__reference" x1="{m["left"]}" x2="{m["left"] + 40}" '
                    f'y1="{legend}" y2="{legend}"/>'
                    f'<text x="{m["left"] + 50}" y="{legend}" dominant-baseline="central">{_e(label)}</text>')
    if points:
        path = " ".join(f"{_n(x(i))},{_n(y(p.value))}" for i, p in enumerate(points))
        body.append(f'<polyline class="casework-chart__line" points="{path}"/>')
        body.extend(f'<circle class="casework-chart__point" cx="{_n(x(i))}" cy="{_n(y(p.value))}" r="4">'
                    f'<title>{_e(p.text)}</title></circle>' for i, p in enumerate(points))
    else:
        body.append(f'<text x="{m["left"] + 8}" y="{m["top"] + 20}">Nothing to show</text>')
    return _svg(chart_id, title, description, LINE_HEIGHT, body)
