"""Helpers every page's template uses: row_links (url_for for long tables) and select_options (long selects)."""
from __future__ import annotations

import pytest
from flask import url_for

from web import create_app
from web.ui import row_links, select_options


@pytest.fixture()
def app(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("CASEWORK_DATABASE_URL", db_url)
    monkeypatch.setenv("CASEWORK_INSTANCE", str(tmp_path))
    return create_app({"TESTING": True})


@pytest.mark.parametrize("endpoint, key, values", [
    ("cases.case_page", "ref", ["CW-2026-00001", "odd ref/with?chars&", "£ 80"]),
    ("pupils.show", "pupil_id", [1, 42, 150000]),
])
def test_row_links_give_what_url_for_gives(app, endpoint, key, values):
    with app.test_request_context("/"):
        link = row_links(endpoint, key)
        assert [link(value) for value in values] == [url_for(endpoint, **{key: value}) for value in values]


def test_row_links_keep_the_other_values_of_the_route(app):
    with app.test_request_context("/"):
        link = row_links("cases.trigger", "trigger", ref="CW-2026-00007")
        assert link("close") == url_for("cases.trigger", ref="CW-2026-00007", trigger="close")


def test_select_options_escape_and_mark_the_chosen_one():
    html = select_options([("", "All schools"), ("7", "Mill & Lane <Primary>"), (8, "Park")], "7")
    assert html == ('<option value="">All schools</option>\n'
                    '<option value="7" selected>Mill &amp; Lane &lt;Primary&gt;</option>\n'
                    '<option value="8">Park</option>')
    assert 'value="8" selected' in select_options([{"value": 8, "text": "Park", "selected": True}])
