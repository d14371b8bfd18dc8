"""Evidence and the court bundle of a case: upload documents, build a version (in the background, with a progress
page), download it, serve (freeze) it, and see what changed between versions."""
from __future__ import annotations

import logging
import os
import threading

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.bundles import uploads, versions
from casework.bundles.assemble import BundleError
from casework.db import get_engine
from casework.models import Case, Pupil, School
from casework.services.errors import BadInput, Blocked, PermissionDenied

from ..auth import db
from ..permissions import roles
from . import bp
from .forms import BuildForm, ButtonForm, UploadForm

VIEWERS = ("aeo", "legal", "manager")
BUILDERS = versions.BUILD_ROLES
REFRESH_SECONDS = 5
TITLE_REFUSALS = ("Enter a title", "The title")  # refusals of the upload service that are about the title
JOBS: dict[int, threading.Thread] = {}  # builds running in this process, by version id (tests wait on them)
log = logging.getLogger(__name__)


def _case(ref: str, who=VIEWERS) -> Case:
    """The case (read audited); 404 when it does not exist."""
    try:
        return versions.case_for(db(), ref, current_user.email, who)[0]
    except (BadInput, PermissionDenied):
        abort(404)


def _version(case: Case, number: int):
    try:
        return versions.get_version(db(), case, number)
    except BadInput:
        abort(404)


def _page(case: Case, upload: UploadForm, build: BuildForm, status: int = 200):
    session = db()
    rows = versions.versions(session, case)
    page = render_template(
        "legal/evidence.html", title=f"Evidence and court bundle: case {case.ref}", case=case,
        pupil=session.get(Pupil, case.pupil_id), school=session.get(School, case.school_id),
        documents=uploads.listed(session, case.id), versions=rows, upload=upload, build=build,
        can_build=current_user.role in BUILDERS, in_legal_action=case.state == versions.LEGAL_STATE,
        building=next((r for r in rows if r.status == "building"), None), servable=_servable(rows),
        served=next((r for r in rows if r.status == "served"), None), button=ButtonForm(formdata=None),
        max_mb=uploads.MAX_BYTES // (1024 * 1024), kinds=uploads.KIND_WORDS, sections=versions.SECTION)
    session.commit()
    return page, status


def _servable(rows) -> int | None:
    """The version that can be served now: the newest one still standing, when it is ready."""
    standing = [r for r in rows if r.status in ("building", "ready", "served")]
    return standing[0].version if standing and standing[0].status == "ready" else None


@bp.route("/cases/<ref>/evidence", methods=["GET", "POST"])
@roles(*VIEWERS)
def evidence(ref: str):
    """AEOs, legal officers and managers: the documents attached to a case (and a form to add one), and its court
    bundle's versions with the action to build a new one."""
    case = _case(ref)
    upload = UploadForm()
    if upload.validate_on_submit():
        file = upload.document.data
        try:
            with db().begin_nested():
                row = uploads.add(db(), ref, current_user.email, upload.title.data, file.filename or "",
                                  _read(file))
            db().commit()
            flash(f"“{row.title}” was added ({row.pages} page{'s' if row.pages != 1 else ''})")
            return redirect(url_for("legal.evidence", ref=ref))
        except BadInput as refused:
            field = upload.title if str(refused).startswith(TITLE_REFUSALS) else upload.document
            field.errors = [*field.errors, str(refused)]
    return _page(case, upload, _build_form(case), 200)


def _read(file) -> bytes:
    """The uploaded file's bytes; one too big is refused before it is read into memory (it waits on disk)."""
    file.stream.seek(0, os.SEEK_END)
    size = file.stream.tell()
    file.stream.seek(0)
    uploads.check_size(size)
    return file.read()


def _build_form(case: Case) -> BuildForm:
    rows = versions.versions(db(), case)
    return BuildForm(formdata=None, seen=str(rows[0].version if rows else 0))


@bp.route("/cases/<ref>/evidence/<int:document_id>")
@roles(*VIEWERS)
def evidence_file(ref: str, document_id: int):
    """AEOs, legal officers and managers: an attached document as it was uploaded."""
    _case(ref)
    try:
        row, data = uploads.get(db(), ref, document_id, current_user.email)
    except BadInput:
        abort(404)
    db().commit()
    name = row.filename or f"{ref}-document-{row.id}{uploads.SUFFIX[row.media_type]}"
    return data, {"Content-Type": row.media_type, "Content-Disposition": f'attachment; filename="{_safe(name)}"'}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._- " else "_" for c in name)[:100]


@bp.route("/cases/<ref>/evidence/<int:document_id>/withdraw", methods=["POST"])
@roles(*VIEWERS)
def withdraw_evidence(ref: str, document_id: int):
    """AEOs, legal officers and managers: leave a document out of the bundles built from now on."""
    _case(ref)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        row, changed = uploads.withdraw(db(), ref, document_id, current_user.email)
    except BadInput:
        abort(404)
    db().commit()
    if changed:
        flash(f"“{row.title}” will not be in bundles built from now on")
    return redirect(url_for("legal.evidence", ref=ref))


@bp.route("/cases/<ref>/bundles", methods=["POST"])
@roles(*BUILDERS)
def build_bundle(ref: str):
    """Legal officers and managers: build a new version of the case's court bundle, in the background."""
    case = _case(ref, BUILDERS)
    form = BuildForm()
    if not form.validate_on_submit():
        abort(400)
    session = db()
    try:
        with session.begin_nested():
            row = versions.request_build(session, ref, current_user.email, _int(form.seen.data))
    except Blocked as refused:
        form.form_errors.extend(refused.reasons)
        return _page(case, UploadForm(formdata=None), form)
    session.commit()
    _start(row.id)
    return redirect(url_for("legal.bundle_progress", ref=ref, version=row.version))


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _start(version_id: int) -> None:
    """Run the build on a thread of its own; it records its progress and outcome on the version."""
    for done in [key for key, thread in JOBS.items() if not thread.is_alive()]:
        JOBS.pop(done, None)
    url = get_engine().url.render_as_string(hide_password=False)
    thread = threading.Thread(target=_job, args=(version_id, url), name=f"bundle-{version_id}", daemon=True)
    JOBS[version_id] = thread
    thread.start()


def _job(version_id: int, url: str) -> None:
    try:
        versions.run_build(version_id, url)
    except Exception:  # noqa: BLE001  (run_build has recorded the failure on the version; keep the traceback)
        log.exception("building bundle version id %s failed", version_id)


@bp.route("/cases/<ref>/bundles/<int:version>/progress")
@roles(*VIEWERS)
def bundle_progress(ref: str, version: int):
    """AEOs, legal officers and managers: how a version's build is going (the page refreshes itself until it ends,
    unless asked not to with ?refresh=off), then its outcome."""
    case = _case(ref)
    row = _version(case, version)
    db().commit()
    automatic = request.args.get("refresh") != "off"  # WCAG 2.2.1: the user can turn the refreshing off
    return render_template("legal/progress.html", title=f"Court bundle version {version}: case {ref}", case=case,
                           row=row, refresh=REFRESH_SECONDS if row.status == "building" and automatic else None,
                           servable=_servable(versions.versions(db(), case)) == version,
                           can_serve=current_user.role in BUILDERS, serve_form=ButtonForm(formdata=None))


@bp.route("/cases/<ref>/bundles/<int:version>")
@roles(*VIEWERS)
def bundle(ref: str, version: int):
    """AEOs (to preview), legal officers and managers: a built version's PDF, hash-checked."""
    _case(ref)
    try:
        row, data = versions.pdf_of(db(), ref, version, current_user.email)
    except BadInput:
        abort(404)
    except BundleError:
        db().commit()
        return render_template("error.html", title="This bundle cannot be opened",
                               message="The stored file no longer matches the bundle that was built. "
                                       "Tell your system administrator, quoting the case reference."), 500
    db().commit()
    return data, {"Content-Type": "application/pdf",
                  "Content-Disposition": f'inline; filename="{ref}-bundle-v{version}.pdf"'}


@bp.route("/cases/<ref>/bundles/<int:version>/serve", methods=["POST"])
@roles(*BUILDERS)
def serve_bundle(ref: str, version: int):
    """Legal officers and managers: freeze a ready version as served; later versions keep its pages."""
    case = _case(ref, BUILDERS)
    _version(case, version)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        with db().begin_nested():
            row, changed = versions.serve(db(), ref, version, current_user.email)
    except Blocked as refused:
        db().commit()
        flash("; ".join(refused.reasons))
        return redirect(url_for("legal.bundle_progress", ref=ref, version=version))
    db().commit()
    if changed:
        flash(f"Version {version} is served and frozen: SHA-256 {row.sha256}")
    return redirect(url_for("legal.evidence", ref=ref) + "#versions")


@bp.route("/cases/<ref>/bundles/<int:version>/changes")
@roles(*VIEWERS)
def bundle_changes(ref: str, version: int):
    """AEOs, legal officers and managers: a version's manifest (every document, its SHA-256 and pages) and what
    changed since an earlier version (the one before, unless another is chosen)."""
    case = _case(ref)
    newer = _version(case, version)
    others = [r for r in versions.versions(db(), case) if r.version < version and r.manifest not in ("", "{}")]
    chosen = request.args.get("from", type=int)
    older = next((r for r in others if r.version == chosen), others[0] if others else None)
    db().commit()
    return render_template("legal/changes.html", title=f"Court bundle version {version}: case {ref}", case=case,
                           row=newer, manifest=versions.manifest_of(newer), older=older, others=others,
                           changes=versions.compare(older, newer) if older else None)
