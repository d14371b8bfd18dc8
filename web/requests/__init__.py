"""Penalty notice requests from schools: the school's request (form or CSV) and outcomes, the officers' queue with
bulk accept, one request's review and decision, and the managers' figures with the PRM return as CSV.

The views only read forms and call casework.pn_requests; the code of conduct and the law are judged there."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import Session

import workflows
from casework import clock
from casework.letters import storage
from casework.models import School, User
from casework.pn_requests import conduct as conduct_mod
from casework.pn_requests import csvfile, decide, figures as figures_mod, outcomes, submit
from casework.register import codes
from casework.register.marks import academic_year
from casework.services import portal
from casework.services.audit import audit
from casework.services.errors import BadInput, Blocked, PermissionDenied
from casework.services.users import get_user

from ..auth import db
from ..permissions import roles
from ..ui import error_summary
from .forms import BulkForm, CsvForm, DecisionForm, new_request_form

bp = Blueprint("requests", __name__)

OFFICERS = ("aeo", "manager")
CHECKED_FIRST = ("upns", "reason", "period")  # what "Check the marks" needs; the rest is asked for when sending
STATUS_WORDS = {"submitted": ("Waiting for a decision", "govuk-tag--blue"), "accepted": ("Accepted", "govuk-tag--green"),
                "returned": ("Returned to the school", "govuk-tag--orange"), "refused": ("Refused", "govuk-tag--red")}
NOTICE_WORDS = {"issued": "Issued: payment period running", "paid": "Paid", "unpaid": "Not paid within 28 days",
                "withdrawn": "Withdrawn", "prosecuted": "Referred for prosecution"}


@bp.context_processor
def _words() -> dict:
    """What the requests pages share: dates, register codes and statuses in words."""
    return {"long_date": conduct_mod.long_date, "describe_code": codes.description, "status_words": STATUS_WORDS,
            "notice_words": NOTICE_WORDS}


def _user() -> tuple[Session, User]:
    session = db()
    return session, get_user(session, current_user.email)


def _page() -> int:
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404)
    return page


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------- the school's side

@bp.route("/requests")
@roles("school")
def school_requests():
    """School users: their schools' penalty notice requests, newest first, with each one's outcome."""
    session, user = _user()
    result = outcomes.school_requests(session, user, _page())
    session.commit()
    return render_template("requests/school_requests.html", title="Penalty notice requests", result=result,
                           conduct=conduct_mod.code_of_conduct())


def _school(session: Session, user: User) -> School:
    try:
        school = portal.school_for(session, user, request.args.get("school"))
    except (BadInput, PermissionDenied):
        abort(404)
    if school is None:
        abort(404)
    return school


@bp.route("/requests/new", methods=["GET", "POST"])
@roles("school")
def new_request():
    """School users (their schools): ask for penalty notices for one absence (the form), or for many (a CSV file)."""
    session, user = _user()
    school = _school(session, user)
    conduct = conduct_mod.code_of_conduct()
    replaces = submit.returned_request(session, user, request.values.get("replaces"))
    csv_posted = request.method == "POST" and request.form.get("form") == "csv"
    form_posted = request.method == "POST" and not csv_posted
    form = new_request_form(conduct, **_posted(form_posted))
    csv_form = CsvForm(prefix="csv", **_posted(csv_posted))
    if request.method == "GET":
        _prefill(form, replaces)
    form.submission_key.data = form.submission_key.data or uuid.uuid4().hex
    csv_form.submission_key.data = csv_form.submission_key.data or uuid.uuid4().hex
    if csv_posted:
        done = _upload_csv(session, user, school, csv_form, conduct)
        if done:
            return done
        check = None
    else:
        check, done = _request_posted(session, user, school, form, replaces)
        if done:
            return done
    session.commit()
    return _render_new(school, user, session, form, csv_form, conduct, check, replaces)


def _posted(posted: bool) -> dict:
    """FlaskForm reads the post (fields and files) by default; the page's other form must read nothing."""
    return {} if posted else {"formdata": None}


def _prefill(form, replaces) -> None:
    """A corrected request starts from the returned one's pupils, reason and dates."""
    if replaces is None:
        return
    form.upns.data = "\n".join(submit.request_upns(db(), replaces))
    form.reason.data = replaces.reason
    for field, day in ((form.first_day, replaces.period_start), (form.last_day, replaces.period_end)):
        field.data, field.parts = day, {"day": str(day.day), "month": str(day.month), "year": str(day.year)}
    form.details.data = replaces.details
    form.replaces.data = replaces.ref


def _request_posted(session: Session, user: User, school: School, form, replaces):
    """(the check to show, or None; a redirect when the request was submitted)."""
    if request.method != "POST":
        return None, None
    valid = form.validate()
    if form.csrf_token.errors:
        return None, None
    already = submit.existing(session, form.submission_key.data or "")
    if already is not None and already.school_id == school.id:  # the same form posted again
        return None, redirect(url_for("requests.request", request_ref=already.ref))
    draft = form.draft()  # reads the uploaded files: once
    check = submit.check_drafts(session, user, school, [draft], replacing=replaces.id if replaces else None)[0]
    if check.pupils:  # the preview shows these pupils' marks
        audit(session, user.email, "read", "pupil_marks", school.urn, {"upns": [p.upn for p in check.pupils],
                                                                       "period": [draft.period_start, draft.period_end]})
    sending = request.form.get("action") == "submit"
    form.put_problems([(key, p) for key, p in check.keyed if sending or key in CHECKED_FIRST])
    if not sending or not valid or not check.passes:
        return check, None
    try:
        with session.begin_nested():
            made = submit.submit(session, user, school, draft, form.submission_key.data, replaces)
    except submit.Refused as refused:
        form.put_problems(refused.check.keyed)
        return refused.check, None
    session.commit()
    flash(f"Request {made.ref} sent to the attendance team")
    return check, redirect(url_for("requests.request", request_ref=made.ref))


def _upload_csv(session: Session, user: User, school: School, form: CsvForm, conduct):
    if not form.validate():
        return None
    text = form.file.data.stream.read(2_000_000 + 1)
    if len(text) > 2_000_000:
        form.file.errors.append("The CSV file must be 2 MB or smaller: split it into several files")
        return None
    try:
        drafts = csvfile.parse(text.decode("utf-8-sig"), conduct, form.headteacher.data, bool(form.confirm.data))
        with session.begin_nested():
            made = submit.submit_many(session, user, school, drafts, form.submission_key.data)
    except UnicodeDecodeError:
        form.file.errors.append("The CSV file must be saved as UTF-8 (in Excel: CSV UTF-8)")
        return None
    except Blocked as refused:
        form.file.errors.extend(refused.reasons)
        return None
    session.commit()
    flash(f"{len(made)} request{'s' if len(made) != 1 else ''} sent to the attendance team")
    return redirect(url_for("requests.school_requests"))


def _render_new(school, user, session, form, csv_form, conduct, check, replaces):
    errors = _error_list(form, check)
    switch = portal.schools_for(session, user)
    return render_template("requests/new_request.html", title="Ask for penalty notices", school=school,
                           schools=switch if len(switch) > 1 else [], form=form, csv_form=csv_form, conduct=conduct,
                           check=check, errors=errors, replaces=replaces, csv_columns=csvfile.columns(conduct))


def _error_list(form, check) -> list[dict]:
    """The error summary: each answer's problem linked to its field, each pupil's to their marks."""
    items = error_summary(form)
    if check is not None:
        for pupil in check.pupils:
            items += [{"text": p, "href": f"#pupil-{pupil.upn}"} for p in pupil.problems]
    return items


@bp.route("/requests/template.csv")
@roles("school")
def csv_template():
    """School users: an example CSV file of requests, with the columns the code of conduct asks for."""
    body = csvfile.template(conduct_mod.code_of_conduct())
    return body, {"Content-Type": "text/csv; charset=utf-8",
                  "Content-Disposition": 'attachment; filename="penalty-notice-requests.csv"'}


@bp.route("/requests/<request_ref>", endpoint="request")
@roles("school")
def show_request(request_ref: str):
    """School users, in scope: one request's status, the notices issued and whether they were paid, and what next."""
    ref = request_ref
    session, user = _user()
    try:
        view = outcomes.school_view(session, user, ref)
    except (BadInput, PermissionDenied):
        abort(404)
    session.commit()
    return render_template("requests/request.html", title=f"Request {ref}", view=view,
                           conduct=conduct_mod.code_of_conduct(), pn=_amounts())


def _amounts() -> dict:
    """The pathway's penalty amounts and periods, for the words that explain them."""
    s = workflows.load().settings
    return {"reduced": s["pn_first_reduced_amount"].removesuffix(".00"), "full": s["pn_full_amount"].removesuffix(".00"),
            "reduced_days": s["pn_reduced_period_days"], "full_days": s["pn_payment_period_days"]}


@bp.route("/requests/<request_ref>/evidence/<int:evidence_id>")
@roles("school", "aeo", "manager")
def evidence(request_ref: str, evidence_id: int):
    """School users (their schools' requests), AEOs and managers: an uploaded evidence file, hash-checked."""
    ref = request_ref
    session, user = _user()
    try:
        item = outcomes.evidence_file(session, user, ref, evidence_id)
    except (BadInput, PermissionDenied):
        abort(404)
    try:
        data = storage.load_verified(item.path, item.sha256)
    except storage.StorageError:
        session.rollback()
        return render_template("error.html", title="This file cannot be opened",
                               message="The stored file no longer matches the one the school sent. "
                                       "Tell your system administrator, quoting the request reference."), 500
    session.commit()
    return data, {"Content-Type": item.media_type, "Content-Disposition": f'attachment; filename="{item.filename}"'}


# ---------------------------------------------------------------- the officers' side

@bp.route("/requests/queue", methods=["GET", "POST"])
@roles(*OFFICERS)
def queue():
    """AEOs and managers: requests waiting for a decision, oldest first, each checked again; accept several at once."""
    session, user = _user()
    form = BulkForm()
    if form.validate_on_submit():
        result = decide.accept_many(session, form.refs.data, user.email, after_each=session.commit)
        session.commit()
        flash(_bulk_message(result))
        return redirect(url_for("requests.queue", page=request.args.get("page", 1, type=int)))
    page = decide.queue(session, user, _page())
    audit(session, user.email, "read", "pn_queue", user.email, {"page": page.page})
    session.commit()
    return render_template("requests/queue.html", title="Penalty notice requests", page=page, form=form,
                           errors=_form_errors(form))


def _bulk_message(result: decide.BulkResult) -> str:
    parts = [f"{len(result.accepted)} request{'s' if len(result.accepted) != 1 else ''} accepted: "
             f"{result.notices} penalty notice{'s' if result.notices != 1 else ''} issued."]
    routed = sum(len(a.consider_prosecution) for a in result.accepted)
    if routed:
        parts.append(f"{routed} parent{'s' if routed != 1 else ''} at the limit of 2 notices in 3 years: "
                     "consider prosecution on their cases.")
    for ref, reasons in result.skipped:
        parts.append(f"{ref} was not accepted: {reasons[0]}" + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1
                                                               else ""))
    return " ".join(parts)


def _form_errors(form) -> list[dict]:
    return error_summary(form) if form.errors else []


@bp.route("/requests/<request_ref>/review", methods=["GET", "POST"])
@roles(*OFFICERS)
def review(request_ref: str):
    """AEOs and managers: one request with its evidence, each child's marks, checks and parents; accept, return or
    refuse it."""
    ref = request_ref
    session, user = _user()
    try:
        seen = decide.review(session, ref, user.email)
    except BadInput:
        abort(404)
    form = DecisionForm()
    if not seen.acceptable:
        form.decision.choices = [c for c in form.decision.choices if c[0] != "accept"]
    if seen.request.status == "submitted" and form.validate_on_submit():
        done = _decide(session, user, ref, form)
        if done:
            return done
    session.commit()
    return render_template("requests/review.html", title=f"Request {ref}", seen=seen, form=form,
                           conduct=conduct_mod.code_of_conduct(), errors=_form_errors(form))


def _decide(session: Session, user: User, ref: str, form: DecisionForm):
    try:
        with session.begin_nested():
            if form.decision.data == "accept":
                result = decide.accept(session, ref, user.email)
            else:
                decide.send_back(session, ref, user.email, form.decision.data, form.reason.data or "")
    except (Blocked, BadInput) as refused:
        form.form_errors.extend(_sentence(r) for r in getattr(refused, "reasons", [str(refused)]))
        return None
    session.commit()
    if form.decision.data == "accept":
        flash(f"Request {ref} accepted: {len(result.notices)} penalty notice"
              f"{'s' if len(result.notices) != 1 else ''} issued and the school told")
        return redirect(url_for("requests.review", request_ref=ref))
    flash(f"Request {ref} {form.decision.data} and the school told")
    return redirect(url_for("requests.queue"))


@bp.route("/requests/figures")
@roles("manager")
def figures():
    """Managers: requests received and decided per school and month, and the Parental Responsibility Measures return."""
    session, user = _user()
    year = _year()
    report = figures_mod.request_figures(session, year)
    prm = figures_mod.prm_return(session, year)
    audit(session, user.email, "read", "pn_figures", str(year))
    session.commit()
    first, last = figures_mod.year_bounds(year)
    year_items = [{"value": y, "text": f"{y} to {y + 1}", "selected": y == year} for y in _years()]
    return render_template("requests/figures.html", title="Penalty notice figures", report=report, prm=prm,
                           year=year, year_items=year_items, first=first, last=last)


def _year() -> int:
    year = request.args.get("year", academic_year(clock.today()), type=int)
    if year not in _years():
        abort(404)
    return year


def _years() -> list[int]:
    current = academic_year(clock.today())
    return list(range(current, current - 6, -1))


@bp.route("/requests/figures/prm.csv")
@roles("manager")
def prm_csv():
    """Managers: the Parental Responsibility Measures return for one academic year, as CSV."""
    session, user = _user()
    year = _year()
    body = figures_mod.prm_csv(year, figures_mod.prm_return(session, year))
    audit(session, user.email, "export", "pn_figures", str(year), {"what": "prm_return"})
    session.commit()
    return body, {"Content-Type": "text/csv; charset=utf-8",
                  "Content-Disposition": f'attachment; filename="prm-return-{year}.csv"'}
