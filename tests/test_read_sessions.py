"""ReadSession: a page's unit of work reads without the write lock and writes only its audit rows, on commit."""
from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, select

from casework.db import ReadOnlyViolation, ReadSession, get_engine, read_audit_writer, upgrade
from casework.models import AuditLog, School
from casework.services.audit import audit

from .conftest import fresh_database


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with fresh_database(tmp_path_factory.mktemp("reads")) as url:
        upgrade(url)
        with Session(get_engine(url)) as session:
            session.add(School(urn="100001", name="Read Primary", la_code="926", estab="2001", phase="primary"))
            session.commit()
        yield get_engine(url)
        get_engine(url).dispose()


def rows(engine, ref: str) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditLog.action).where(AuditLog.object_ref == ref)))


def test_audit_rows_are_written_on_commit_and_other_reads_still_see_the_data(engine):
    with ReadSession(engine) as session:
        school = session.exec(select(School).where(School.urn == "100001")).one()
        audit(session, "aeo@example.org", "read", "school", "reads-1")
        # a later query in the same unit of work flushes: the row is held back, not written in the read transaction
        assert session.exec(select(School.name).where(School.id == school.id)).one() == "Read Primary"
        assert rows(engine, "reads-1") == []
        session.commit()
    assert rows(engine, "reads-1") == ["read"]


def test_a_rollback_drops_the_held_audit_rows(engine):
    with ReadSession(engine) as session:
        session.exec(select(School)).all()
        audit(session, "aeo@example.org", "read", "school", "reads-2")
        session.flush()
        session.rollback()
        session.commit()
    assert rows(engine, "reads-2") == []


@pytest.mark.parametrize("change", ["add", "update", "delete"])
def test_writing_anything_but_audit_rows_is_refused_and_nothing_is_written(engine, change):
    with ReadSession(engine) as session:
        school = session.exec(select(School).where(School.urn == "100001")).one()
        audit(session, "aeo@example.org", "read", "school", f"reads-3-{change}")
        if change == "add":
            session.add(School(urn="100002", name="Sneaked In", la_code="926", estab="2002", phase="primary"))
        elif change == "update":
            school.name = "Renamed"
        else:
            session.delete(school)
        with pytest.raises(ReadOnlyViolation, match="School"):
            session.commit()
    with Session(engine) as session:
        assert [s.name for s in session.exec(select(School))] == ["Read Primary"]
    assert rows(engine, f"reads-3-{change}") == []


def test_a_read_does_not_wait_for_a_transaction_holding_the_write_lock(engine):
    """On SQLite every write transaction takes the lock at BEGIN; a page's reads go on meanwhile (on PostgreSQL
    readers never wait for writers either)."""
    writer = Session(engine)
    audit(writer, "aeo@example.org", "read", "school", "holding")
    writer.flush()  # the write transaction is open and holds the lock until it ends
    answered = threading.Event()

    def read():
        with ReadSession(engine) as session:
            session.exec(select(School)).all()
        answered.set()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        assert answered.wait(5), "the read waited for the writer"
    finally:
        writer.rollback()
        writer.close()
        thread.join()


def test_on_sqlite_only_the_audit_rows_of_reads_are_committed_without_waiting_for_the_disk(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL: the audit transaction sets synchronous_commit off for itself")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: changes wait for the disk
    with read_audit_writer(engine).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_audit_rows_added_just_before_the_commit_are_written_too(engine):
    with ReadSession(engine) as session:
        session.exec(select(School)).all()
        audit(session, "aeo@example.org", "read", "school", "reads-5")  # not yet flushed when commit begins
        session.commit()
    assert rows(engine, "reads-5") == ["read"]
