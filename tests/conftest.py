"""Fixtures: a real database (SQLite file, or PostgreSQL via CASEWORK_TEST_DATABASE_URL), each test rolled back."""
from __future__ import annotations

import os
from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import Session

from casework import clock
from casework.db import get_engine, upgrade


def _test_url(tmp_path_factory) -> str:
    url = os.environ.get("CASEWORK_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def _reset_postgres(url: str) -> None:
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def db_url(tmp_path_factory) -> str:
    url = _test_url(tmp_path_factory)
    if url.startswith("postgresql"):
        _reset_postgres(url)
    upgrade(url)
    return url


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
