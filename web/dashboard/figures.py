"""The dashboard's charts, drawn from the service figures with the same wording the tables use."""
from __future__ import annotations

import threading
from functools import wraps

from flask import render_template
from markupsafe import Markup

import workflows
from casework.services.dashboard import AbsenceFigures, GroupRates, Overview, SchoolRates
from casework.services.users import LOCAL_TIME

from ..charts import Bar, Point, bar_chart, line_chart

TOP_SCHOOLS = 20  # schools drawn on the chart (the table lists them all)
SCHOOLS_PER_PAGE = 50  # rows of the absence page's table of schools
NATIONAL_MARKER = "National figure for England (period and source below)"


def percent_text(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f}%"


def days_text(value: float | None) -> str:
    return "no cases" if value is None else f"{value:g} days"


def national_text(group: GroupRates, measure: str) -> str:
    figure = group.national.get(measure)
    return "no national figure" if figure is None else f"{figure.value:.1f}% ({figure.period})"


def week_label(monday) -> str:
    return f"{monday.day} {monday:%b}"


def _national_line(figure) -> tuple[float, str] | None:
    return (figure.value, f"National figure for England: {figure.value:.1f}% ({figure.period})") if figure else None


def drawn_once(draw):
    """`draw(figures, *key)` kept for the figures object it was drawn from (and the rest of its arguments): the
    service caches its figures (immutable) and hands the same object to every request until they are worked out
    again, so each chart's SVG, and each page's body, is drawn once per computation rather than once per page view."""
    drawn: dict[tuple, tuple[object, object]] = {}
    lock = threading.Lock()

    @wraps(draw)
    def once(figures, *key):
        slot = (id(figures), *key)
        with lock:
            hit = drawn.get(slot)
        if hit is not None and hit[0] is figures:  # the object is held below, so its id is not reused meanwhile
            return hit[1]
        result = draw(figures, *key)
        with lock:
            if len(drawn) >= 32:
                drawn.clear()
            drawn[slot] = (figures, result)
        return result
    return once


@drawn_once
def overview_charts(o: Overview) -> dict[str, Markup]:
    return {
        "states": bar_chart(
            "chart-states", "Open cases by state", [Bar(s.label, s.cases, str(s.cases)) for s in o.states],
            description=f"{o.open_cases} open cases. The table below gives the same counts."),
        "officers": bar_chart(
            "chart-officers", "Open cases by officer", [Bar(load.name, load.total, str(load.total))
                                                        for load in o.officers],
            description="Each officer's open cases; the table below splits them by state."),
        "time": bar_chart(
            "chart-time", "Median days in the current state",
            [Bar(s.label, s.median_days or 0, f"median {days_text(s.median_days)}"
                 + (f", longest {days_text(s.longest_days)}" if s.cases else "")) for s in o.states],
            description="Days since each open case entered its current state: the median and the longest, by state."),
    }


def _group_bars(groups: list[GroupRates], measure: str, rate) -> list[Bar]:
    bars = []
    for group in groups:
        national = group.national.get(measure)
        compared = f"national {national.value:.1f}%" if national else "no national figure"
        bars.append(Bar(group.label, rate(group) or 0, f"{percent_text(rate(group))}, {compared}",
                        national.value if national else None))
    return bars


def _school_bar(school: SchoolRates, national: float | None) -> Bar:
    return Bar(school.name, school.rates.persistent_rate or 0,
               f"{percent_text(school.rates.persistent_rate)} of {school.rates.pupils} pupils", national)


@drawn_once
def absence_charts(f: AbsenceFigures) -> dict[str, Markup]:
    groups = [f.overall, *f.groups]
    overall_national = f.overall.national.get("overall_absence")
    pa_national = f.overall.national.get("persistent_absence")
    top = f.schools[:TOP_SCHOOLS]
    return {
        "persistent": bar_chart(
            "chart-persistent", "Persistent absence (10% or more of sessions missed) by pupil group",
            _group_bars(groups, "persistent_absence", lambda g: g.rates.persistent_rate),
            description="Percentage of pupils in each group who are persistently absent this year, with the national "
                        "figure where one is published. The table below gives the same numbers.",
            marker_label=NATIONAL_MARKER),
        "severe": bar_chart(
            "chart-severe", "Severe absence (50% or more of sessions missed) by pupil group",
            _group_bars(groups, "severe_absence", lambda g: g.rates.severe_rate),
            description="Percentage of pupils in each group who are severely absent this year, with the national "
                        "figure where one is published. The table below gives the same numbers.",
            marker_label=NATIONAL_MARKER),
        "weeks": line_chart(
            "chart-weeks", "Overall absence by school week",
            [Point(week_label(w.monday), w.rate or 0, f"Week beginning {w.monday:%d %B %Y}: {percent_text(w.rate)}")
             for w in f.weeks],
            description="Sessions missed as a percentage of possible sessions, week by week this academic year."
                        + (f" The dashed line is the national figure, {overall_national.value:.1f}%." if
                           overall_national else ""),
            reference=_national_line(overall_national)),
        "schools": bar_chart(
            "chart-schools", f"Persistent absence: the {len(top)} schools with the highest rate",
            [_school_bar(s, pa_national.value if pa_national else None) for s in top],
            description="Percentage of each school's pupils who are persistently absent this year, and how many pupils "
                        "that is of; the table below lists every school.",
            marker_label=NATIONAL_MARKER if pa_national else ""),
    }


# The pages' bodies depend on nothing but their figures (and the page of the schools' table, and where the app is
# mounted, which its links start with): drawn once, they are most of what a dashboard page costs to show.

@drawn_once
def overview_body(o: Overview, _mounted_at: str) -> Markup:
    return Markup(render_template("dashboard/_overview_body.html", o=o, charts=overview_charts(o),
                                  pathway=workflows.load()))


def absence_page_exists(f: AbsenceFigures, page: int) -> bool:
    return page == 1 or len(f.schools) > (page - 1) * SCHOOLS_PER_PAGE


@drawn_once
def absence_body(f: AbsenceFigures, page: int, _mounted_at: str) -> Markup:
    return Markup(render_template(
        "dashboard/_absence_body.html", f=f, charts=absence_charts(f),
        schools=f.schools[(page - 1) * SCHOOLS_PER_PAGE:page * SCHOOLS_PER_PAGE], page=page,
        more=len(f.schools) > page * SCHOOLS_PER_PAGE, first_rank=(page - 1) * SCHOOLS_PER_PAGE + 1,
        computed_at=f.computed_at.astimezone(LOCAL_TIME)))
