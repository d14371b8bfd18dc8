"""Print runs: the letters waiting to be posted gathered, in postcode order, into one print-ready PDF; marking a run
as posted records the posting of every letter in it.

A run is made in two steps so that the web can show progress: `create_run` claims the waiting letters (one
transaction, so two runs never take the same letter), then `build_run` merges their stored PDFs on sessions of its
own, committing progress (for a background thread, a job queue or the CLI); `assemble` is that step within the
caller's transaction.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy import func, update
from sqlmodel import Session, select

from .. import clock
from ..db import session_scope
from ..models import Letter, PrintRun
from ..services.audit import audit
from ..services.errors import BadInput, Blocked
from . import postal, render, storage

PROGRESS_EVERY = 20  # letters between progress reports


def _waiting(kind: str | None, on: date) -> list:
    """The conditions of a letter waiting to be posted (kept on the UPDATE itself, so PostgreSQL re-checks them
    on a row another run claimed meanwhile)."""
    conditions = [Letter.status == "generated", Letter.print_run_id.is_(None), Letter.issued_on <= on]
    return conditions + ([Letter.kind == kind] if kind else [])


@dataclass
class Waiting:
    kind: str
    letters: int
    oldest: date


def waiting_summary(session: Session) -> list[Waiting]:
    """Letters waiting to be posted, per kind, with the oldest issue date (one grouped query)."""
    rows = session.exec(select(Letter.kind, func.count(Letter.id), func.min(Letter.issued_on))
                        .where(Letter.status == "generated", Letter.print_run_id.is_(None))
                        .group_by(Letter.kind).order_by(Letter.kind)).all()
    return [Waiting(kind, count, oldest) for kind, count, oldest in rows]


def create_run(session: Session, actor_email: str, kind: str | None = None, on: date | None = None) -> PrintRun:
    """A new run claiming every letter waiting to be posted (of `kind`, issued on or before `on`)."""
    user = postal.officer(session, actor_email, "make a print run")
    on = on or clock.today()
    if kind and kind not in render.KINDS:
        raise BadInput(f"letter kind {kind!r}: expected one of {', '.join(render.KINDS)}")
    run = PrintRun(created_at=clock.now(), created_by=user.email, on=on, kind=kind or "", status="building")
    session.add(run)
    session.flush()
    claimed = session.execute(update(Letter).where(*_waiting(kind, on)).values(print_run_id=run.id)).rowcount
    if not claimed:
        raise BadInput("no letters are waiting to be posted" + (f" ({kind.replace('_', ' ')})" if kind else ""))
    run.letter_count = claimed
    session.add(run)
    audit(session, user.email, "create", "print_run", str(run.id), {"letters": claimed, "kind": kind or "all",
                                                                     "on": on})
    session.flush()
    return run


def run_letters(session: Session, run_id: int):
    """The run's letters in print order: postcode, then letter."""
    return select(Letter).where(Letter.print_run_id == run_id).order_by(Letter.postcode, Letter.id)


def _files(session: Session, run_id: int) -> list[tuple[str, str]]:
    """(path, SHA-256) of the run's letters in print order."""
    return [(l.path, l.sha256) for l in session.exec(run_letters(session, run_id)).all()]


def _merge(run_id: int, files: list[tuple[str, str]], progress: Callable[[int], None] | None) -> tuple[bytes, int]:
    """One PDF of the stored letters (each checked against its SHA-256 first) and its page count."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for done, (path, sha256) in enumerate(files, start=1):
        writer.append(PdfReader(io.BytesIO(storage.load_verified(path, sha256))))
        if progress and (done % PROGRESS_EVERY == 0 or done == len(files)):
            progress(done)
    writer.add_metadata({"/Title": f"Print run {run_id}: {len(files)} letters", "/Producer": "casework"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue(), len(writer.pages)


def _finish(session: Session, run: PrintRun, data: bytes, pages: int, letters: int) -> PrintRun:
    run.sha256, run.path = storage.store(data)
    run.pages, run.done, run.status, run.finished_at = pages, letters, "ready", clock.now()
    session.add(run)
    session.flush()
    return run


def assemble(session: Session, run: PrintRun) -> PrintRun:
    """The run's PDF, built and stored within the caller's transaction (small runs, tests)."""
    files = _files(session, run.id)
    data, pages = _merge(run.id, files, None)
    return _finish(session, run, data, pages, len(files))


def build_run(run_id: int, engine=None) -> None:
    """Build a claimed run's PDF, committing progress as it goes; a failure releases its letters.

    No transaction is held while the PDF is merged (SQLite has one writer: progress must be able to commit)."""
    def progress(done: int) -> None:
        with session_scope(engine) as s:
            s.execute(update(PrintRun).where(PrintRun.id == run_id).values(done=done))

    try:
        with session_scope(engine) as session:
            files = _files(session, run_id)
        data, pages = _merge(run_id, files, progress)
        with session_scope(engine) as session:
            _finish(session, session.get(PrintRun, run_id), data, pages, len(files))
    except Exception as exc:  # noqa: BLE001  (the run must not stay "building" forever)
        with session_scope(engine) as session:
            session.execute(update(Letter).where(Letter.print_run_id == run_id).values(print_run_id=None))
            session.execute(update(PrintRun).where(PrintRun.id == run_id).values(
                status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=clock.now()))
        raise


def get_run(session: Session, run_id: int) -> PrintRun:
    run = session.get(PrintRun, run_id)
    if run is None:
        raise BadInput(f"print run {run_id}: no such run")
    return run


def mark_run_posted(session: Session, run_id: int, posted_on: date, postal_class: str, actor_email: str) -> list[str]:
    """Every letter of a ready run posted on `posted_on` by `postal_class` post; returns notes (PN periods moved)."""
    user = postal.officer(session, actor_email, "mark letters as posted")
    run = session.exec(select(PrintRun).where(PrintRun.id == run_id).with_for_update()).first()
    if run is None:
        raise BadInput(f"print run {run_id}: no such run")
    if run.status == "posted":
        raise Blocked([f"print run {run_id} was already marked as posted on {run.posted_on.isoformat()} "
                       f"({run.postal_class} class)"])
    if run.status != "ready":
        raise Blocked([f"print run {run_id} is {run.status}: only a ready run can be posted"])
    letters = session.exec(run_letters(session, run.id)).all()
    notes = postal.mark_posted(session, list(letters), posted_on, postal_class, user)
    run.status, run.posted_on, run.postal_class, run.posted_by = "posted", posted_on, postal_class, user.email
    session.add(run)
    audit(session, user.email, "update", "print_run", str(run.id),
          {"posted_on": posted_on, "class": postal_class, "letters": len(letters)})
    session.flush()
    return notes


def recent_runs(session: Session, page: int, size: int = 25) -> tuple[list[PrintRun], bool]:
    """One page of runs, newest first, and whether another page follows."""
    rows = session.exec(select(PrintRun).order_by(PrintRun.id.desc()).offset((page - 1) * size).limit(size + 1)).all()
    return list(rows[:size]), len(rows) > size
