"""Print runs: letters waiting to be posted gathered into one print-ready PDF, and marked as posted."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from casework import clock
from casework.letters import runs as print_runs
from casework.letters import storage
from casework.letters.postal import service_days, service_status
from casework.models import Case, Contact, Letter, PrintRun
from casework.services.audit import audit
from casework.services.errors import BadInput, Blocked

from ..auth import db
from ..permissions import roles
from .forms import KIND_LABELS, BuildRunForm, PostedForm

bp = Blueprint("letters", __name__)
OFFICERS = ("aeo", "manager")
LETTERS_SHOWN = 100  # of a run's letters on its page; the PDF has them all
REFRESH_SECONDS = 2
log = logging.getLogger(__name__)


@bp.route("/letters")
@roles(*OFFICERS)
def runs():
    """AEOs and managers: the letters waiting to be posted, a button to build a print run, and past runs."""
    return _runs_page(BuildRunForm())


def _runs_page(form: BuildRunForm, status: int = 200):
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404)
    session = db()
    waiting = print_runs.waiting_summary(session)
    recent, more = print_runs.recent_runs(session, page)
    return render_template("letters/runs.html", title="Print runs", form=form, waiting=waiting, recent=recent,
                           more=more, page=page, labels=KIND_LABELS, kind_items=_kind_items), status


def _kind_items(waiting, chosen: str | None) -> list[dict]:
    """govukSelect items: one per kind of letter waiting."""
    return [{"value": w.kind, "text": KIND_LABELS.get(w.kind, w.kind), "selected": chosen == w.kind}
            for w in waiting]


@bp.route("/letters/runs", methods=["POST"])
@roles(*OFFICERS)
def build():
    """AEOs and managers: gather the letters waiting to be posted into a print run, built in the background."""
    form = BuildRunForm()
    if not form.validate_on_submit():
        return _runs_page(form, 400)
    session = db()
    repeat = _just_built(session)
    if repeat is not None:  # the same form posted twice: show the run it made
        return redirect(url_for("letters.run", run_id=repeat))
    try:
        run_id = print_runs.create_run(session, current_user.email, form.kind.data or None).id
    except BadInput as refused:
        session.rollback()
        form.form_errors.append(str(refused).capitalize())
        return _runs_page(form, 400)
    session.commit()
    _build_in_background(run_id)
    return redirect(url_for("letters.run", run_id=run_id))


def _just_built(session) -> int | None:
    """A run this user started in the last minute that is still building or ready to post."""
    since = clock.now() - timedelta(minutes=1)
    return session.exec(select(PrintRun.id).where(PrintRun.created_by == current_user.email,
                                                  PrintRun.created_at >= since,
                                                  PrintRun.status.in_(("building", "ready")))
                        .order_by(PrintRun.id.desc())).first()


def _build_in_background(run_id: int) -> None:
    """Assemble the run's PDF on a thread of its own: the page refreshes until it is ready."""
    def build_quietly():
        try:
            print_runs.build_run(run_id)
        except Exception:  # noqa: BLE001  (recorded on the run as failed; the page shows it)
            log.exception("print run %s failed", run_id)

    threading.Thread(target=build_quietly, name=f"print-run-{run_id}", daemon=True).start()


def _run_or_404(session, run_id: int) -> PrintRun:
    run = session.get(PrintRun, run_id)
    if run is None:
        abort(404)
    return run


def _run_page(run: PrintRun, form: PostedForm, status: int = 200):
    session = db()
    rows = session.exec(select(Letter, Contact.forename, Contact.surname, Case.ref)
                        .join(Contact, Contact.id == Letter.contact_id).join(Case, Case.id == Letter.case_id)
                        .where(Letter.print_run_id == run.id).order_by(Letter.postcode, Letter.id)
                        .limit(LETTERS_SHOWN)).all()
    return render_template("letters/run.html", title=f"Print run {run.id}", run=run, rows=rows, form=form,
                           labels=KIND_LABELS, status_of=service_status, refresh=run.status == "building" and
                           REFRESH_SECONDS, days={c: service_days(session, c) for c in ("first", "second")}), status


@bp.route("/letters/runs/<int:run_id>")
@roles(*OFFICERS)
def run(run_id: int):
    """AEOs and managers: one print run: its progress while building, its PDF, its letters, marking it posted."""
    run = _run_or_404(db(), run_id)
    return _run_page(run, PostedForm(formdata=None, postal_class="first"))


@bp.route("/letters/runs/<int:run_id>/pdf")
@roles(*OFFICERS)
def run_pdf(run_id: int):
    """AEOs and managers: a built print run's combined PDF, hash-checked, the download audited."""
    session = db()
    run = _run_or_404(session, run_id)
    if run.status not in ("ready", "posted"):
        abort(404)
    data = storage.load_verified(run.path, run.sha256)
    audit(session, current_user.email, "export", "print_run", str(run.id), {"sha256": run.sha256})
    session.commit()
    return data, {"Content-Type": "application/pdf",
                  "Content-Disposition": f'attachment; filename="print-run-{run.id}.pdf"'}


@bp.route("/letters/runs/<int:run_id>/posted", methods=["POST"])
@roles(*OFFICERS)
def posted(run_id: int):
    """AEOs and managers: record that every letter of a run was posted, on a date, by first or second class."""
    session = db()
    run = _run_or_404(session, run_id)
    form = PostedForm()
    if not form.validate_on_submit():
        return _run_page(run, form, 400)
    try:
        notes = print_runs.mark_run_posted(session, run.id, form.posted_on, form.postal_class.data,
                                           current_user.email)
    except (Blocked, BadInput) as refused:
        session.rollback()
        form.form_errors.extend(getattr(refused, "reasons", None) or [str(refused)])
        return _run_page(_run_or_404(session, run_id), form, 400)
    session.commit()
    flash(f"{run.letter_count} letter(s) marked as posted on {form.posted_on:%d %B %Y}."
          + "".join(f" {note}." for note in notes), "success")
    return redirect(url_for("letters.run", run_id=run.id))
