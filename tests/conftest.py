"""Fixtures: a real database (SQLite file, or PostgreSQL via CASEWORK_TEST_DATABASE_URL), each test rolled back."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import date
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from casework import clock
from casework.db import get_engine, upgrade

pytest_plugins = ["tests.scenarios", "tests.web_support"]


def _test_url(tmp_path_factory) -> str:
    url = os.environ.get("CASEWORK_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@contextmanager
def own_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of `server_url`, dropped afterwards (so concurrent runs never meet)."""
    name = f"cw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        get_engine(server_url.rsplit("/", 1)[0] + "/" + name).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_database(folder) -> Iterator[str]:
    """A database of its own for tests whose code commits: a new PostgreSQL database, or an SQLite file in `folder`."""
    url = os.environ.get("CASEWORK_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        with own_postgres_database(url) as own:
            yield own
    else:
        yield f"sqlite:///{folder / 'fresh.db'}"


@contextmanager
def web_app_on(url: str, folders):
    """The Flask app on the database at `url`, with an instance folder and file storage of its own."""
    from web import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CASEWORK_DATABASE_URL", url)
        patch.setenv("CASEWORK_INSTANCE", str(folders.mktemp("instance")))
        patch.setenv("CASEWORK_STORAGE", str(folders.mktemp("files")))
        yield create_app({"TESTING": True})
        get_engine(url).dispose()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory) -> Iterator[str]:
    url = _test_url(tmp_path_factory)
    if url.startswith("postgresql"):
        with own_postgres_database(url) as own:
            upgrade(own)
            yield own
        return
    upgrade(url)
    yield url


@pytest.fixture(scope="session")
def engine(db_url):
    return get_engine(db_url)


@pytest.fixture()
def session(engine):
    """A session joined to an outer transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    sess = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield sess
    finally:
        sess.close()
        outer.rollback()
        connection.close()


@pytest.fixture()
def storage(tmp_path, monkeypatch):
    path = tmp_path / "files"
    path.mkdir()
    monkeypatch.setenv("CASEWORK_STORAGE", str(path))
    return path


@pytest.fixture(autouse=True)
def frozen_clock():
    """Tests run on a fixed date unless they move the clock themselves."""
    clock.freeze(date(2026, 11, 23))
    yield
    clock.freeze(None)

