"""Engine, sessions and migrations. A service flushes; the caller's boundary commits once."""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from . import config

MIGRATIONS = Path(__file__).parent / "migrations"


def get_engine(url: str | None = None) -> Engine:
    """The engine for this URL (by default the configured one, read now), created once per URL."""
    return _engine(url or config.database_url())


@lru_cache(maxsize=8)
def _engine(url: str, relaxed: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below control transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            if relaxed:  # see read_audit_writer
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")  # a reader: under WAL it neither waits for nor blocks the writer
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time: the row lock of SQLite

        return engine
    return create_engine(url, pool_pre_ping=True)


READ_ONLY = "casework_read_only"


def read_only(engine: Engine) -> Engine:
    """The engine for work that only reads (pages, the dashboard's figures worked out in the background). On SQLite
    its transactions do not take the write lock, which every other transaction takes at BEGIN, so a read of
    seconds does not hold up every page meanwhile; a write inside one may fail. Made once per engine."""
    if engine.get_execution_options().get(READ_ONLY):
        return engine
    return _read_only(engine)


@lru_cache(maxsize=8)
def _read_only(engine: Engine) -> Engine:
    return engine.execution_options(**{READ_ONLY: True})


class ReadOnlyViolation(RuntimeError):
    """Something other than an audit row was written in a ReadSession."""


class ReadSession(Session):
    """A unit of work that reads and records that it read (a page being shown).

    Its queries run in a read transaction: on SQLite a deferred one, which under WAL neither waits for nor blocks
    the writer, so pages do not queue behind one another for the write lock while they read. The audit rows it is
    given are held (never flushed) and written on commit, before the caller goes on to show what was read: on SQLite
    in a short write transaction of their own, on PostgreSQL at the end of the read transaction (see
    read_audit_writer). Adding, changing or deleting anything else raises ReadOnlyViolation."""

    def __init__(self, engine: Engine | None = None):
        engine = engine or get_engine()
        super().__init__(read_only(engine), expire_on_commit=False)
        self.writer = engine
        self.held: list = []

    def commit(self) -> None:
        self.flush()  # refuses any change (see _refuse_writes)
        held, self.held = self.held, []
        if held and is_postgres(self.writer):
            # PostgreSQL's readers never wait for its writers: the rows go in at the end of the read transaction
            self.connection().exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            _insert_audit_rows(self.connection(), held)
            super().commit()
            return
        super().commit()
        if held:
            with read_audit_writer(self.writer).begin() as connection:
                _insert_audit_rows(connection, held)

    def add(self, instance: object, *, _warn: bool = True) -> None:
        """An audit row is held for commit straight away (it never needs the unit of work); anything else is added
        as usual, and refused at flush unless it is unchanged."""
        from .models import AuditLog

        if isinstance(instance, AuditLog):
            self.held.append(instance)
            return
        super().add(instance, _warn=_warn)

    def rollback(self) -> None:
        self.held = []
        super().rollback()


@lru_cache(maxsize=1)
def _audit_insert():
    """AuditLog's INSERT and the columns it fills, made once."""
    from .models import AuditLog

    return AuditLog.__table__.insert(), [c.key for c in AuditLog.__table__.columns if c.key != "id"]


def _insert_audit_rows(connection, rows: list) -> None:
    """A plain insert: the rows need nothing of the ORM."""
    insert, columns = _audit_insert()
    connection.execute(insert, [{key: getattr(row, key) for key in columns} for row in rows])


def read_audit_writer(engine: Engine) -> Engine:
    """Where a page's audit rows of what was read are written: a commit that does not wait for the disk. On SQLite a
    connection with synchronous=NORMAL (under WAL the database stays consistent after any crash; a power cut may
    lose the rows committed since the last change written with the usual wait, or the last checkpoint). On
    PostgreSQL (the same engine) the page's own transaction writes them with synchronous_commit off, the same
    promise. Changes to cases are committed as before, waiting for the disk. Waiting costs a page about 0.3 ms here,
    on SQLite most of it holding the write lock."""
    if engine.dialect.name == "sqlite":
        return _engine(engine.url.render_as_string(hide_password=False), relaxed=True)
    return engine


@event.listens_for(ReadSession, "before_flush")
def _refuse_writes(session: ReadSession, _context, _instances) -> None:
    """Audit rows never reach the unit of work (ReadSession.add holds them); anything else written is refused."""
    changed = [obj for obj in session.dirty if session.is_modified(obj)]
    if session.new or changed or session.deleted:
        what = sorted({type(obj).__name__ for obj in (*session.new, *changed, *session.deleted)})
        raise ReadOnlyViolation(f"a read-only unit of work tried to write {', '.join(what)}")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or config.database_url()).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None) -> None:
    """Create or upgrade the database to the newest migration."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
