"""The `casework` command line (spec/interfaces.md). Exit: 0 done, 2 bad input, 3 guard refused, 1 otherwise."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from . import clock
from .db import get_engine, session_scope, upgrade
from .services.errors import BadInput, Blocked, PermissionDenied

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_BLOCKED = 0, 1, 2, 3


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (use YYYY-MM-DD)") from None


def _key_values(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"--set {pair!r}: expected KEY=VALUE")
        if key in out:
            raise BadInput(f"--set {key} given twice")
        out[key] = value
    return out


IMPORT_ROLES = ("aeo", "manager", "admin")


def _require(session, email: str, roles: tuple[str, ...], what: str):
    """The acting user, if their role allows `what`."""
    from .services.users import get_user

    user = get_user(session, email)
    if user.role not in roles:
        raise PermissionDenied(f"{user.email} ({user.role}) may not {what}")
    return user


# ---------------------------------------------------------------- commands

def cmd_init(args) -> int:
    upgrade()
    print(f"database ready: {get_engine().url.render_as_string(hide_password=True)}")
    if args.demo:
        from .demo import load_demo

        with session_scope() as session:
            logins = load_demo(session, seed=args.seed, pupils=args.pupils)
        print("demo authority loaded. Sign in with any of these (password for all: {}):".format(logins["password"]))
        for role, email in logins["users"]:
            print(f"  {role:<8} {email}")
    return EXIT_OK


def cmd_serve(args) -> int:
    from web import create_app  # the CLI may start the web app, lazily

    create_app().run(host=args.host, port=args.port)
    return EXIT_OK


def cmd_users_add(args) -> int:
    from .services.users import add_user

    password = sys.stdin.readline().rstrip("\n")
    with session_scope() as session:
        user = add_user(session, args.email, args.role, password, args.school or [], args.name or "")
    print(user.email)
    return EXIT_OK


def cmd_import(args) -> int:
    from .checks import after_import
    from .imports import ImportFailed, import_files

    bar_width, bar_from_bytes = 40, 2_000_000

    def draw_bar(done: int, total: int) -> None:
        filled = bar_width * done // total
        sys.stderr.write(f"\rimporting [{'#' * filled}{'.' * (bar_width - filled)}] {100 * done // total:3d} %")
        sys.stderr.flush()

    size = sum(Path(name).stat().st_size for name in args.files if Path(name).is_file())
    bar = draw_bar if size > bar_from_bytes and sys.stderr.isatty() else None
    try:
        with session_scope() as session:
            if args.actor:
                _require(session, args.actor, IMPORT_ROLES, "import data")
            summary = import_files(session, args.files, actor=args.actor or "import", progress=bar)
            after_import(session, summary)
    except ImportFailed as exc:
        if bar:
            print(file=sys.stderr)
        for line in exc.errors:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if bar:
        print(file=sys.stderr)
    for line in summary.lines():
        print(line)
    return EXIT_OK


def cmd_triggers(args) -> int:
    from .register.measures import measures_for_all
    from .services.scope import school_ids
    from .services.users import get_user
    from .models import School
    from sqlmodel import select

    as_of = args.as_of or clock.today()
    with session_scope() as session:
        school = args.school
        if school and not session.exec(select(School).where(School.urn == school)).first():
            raise BadInput(f"--school {school}: unknown school")
        rows = measures_for_all(session, as_of, school)
        if args.actor:
            user = get_user(session, args.actor)
            if user.role == "school":
                allowed = {s.urn for s in session.exec(select(School).where(School.id.in_(school_ids(session, user))))}
                rows = [r for r in rows if r["school_urn"] in allowed]
    if args.json:
        json.dump([{k: v for k, v in r.items() if k != "pupil_id"} for r in rows], sys.stdout, indent=None,
                  separators=(",", ":"))
        sys.stdout.write("\n")
        return EXIT_OK
    print(f"{'UPN':<14} {'school':<7} {'possible':>8} {'absence %':>9}  PA  SA  PN-threshold  CME")
    for r in rows:
        rate = "" if r["absence_rate"] is None else f"{r['absence_rate']:.1f}"
        pn = r["pn_threshold"]
        print(f"{r['upn']:<14} {r['school_urn']:<7} {r['possible_sessions']:>8} {rate:>9}  "
              f"{'Y' if r['persistent_absence'] else '-':>2}  {'Y' if r['severe_absence'] else '-':>2}  "
              f"{('met ' + str(pn['unauthorised_sessions'])) if pn['met'] else '-':<12}  "
              f"{'Y' if r['cme_alert'] else '-'}")
    return EXIT_OK


def cmd_explain(args) -> int:
    """Every figure of one pupil with the sessions behind it."""
    from sqlmodel import select

    from .models import Pupil, School
    from .register import measures
    from .services.audit import audit

    as_of = args.as_of or clock.today()
    with session_scope() as session:
        pupil = session.exec(select(Pupil).where(Pupil.upn == args.upn)).first()
        if pupil is None:
            raise BadInput(f"upn {args.upn}: no such pupil")
        if args.actor:
            from .services.scope import can_see_pupil
            from .services.users import get_user

            if not can_see_pupil(session, get_user(session, args.actor), pupil):
                raise PermissionDenied(f"{args.actor} may not see pupil {args.upn}")
        school = session.get(School, pupil.school_id) if pupil.school_id else None
        segments = measures.load_segments(session, [pupil.id]).get(pupil.id, [])
        audit(session, args.actor or "cli", "read", "pupil", pupil.upn, {"explain": as_of})
    m = measures.pupil_measures(segments, as_of, school.urn if school else "")
    window = m["pn_threshold"]
    rate = "none" if m["absence_rate"] is None else f"{m['absence_rate']:.1f}%"
    print(f"{pupil.upn} {pupil.forename} {pupil.surname}, {school.name if school else 'not on roll'}, as of {as_of}")
    print(f"possible {m['possible_sessions']}, present {m['present_sessions']}, authorised "
          f"{m['authorised_absence']}, unauthorised {m['unauthorised_absence']}: absence {rate}"
          f"{' (persistent)' if m['persistent_absence'] else ''}{' (severe)' if m['severe_absence'] else ''}")
    print(f"PN threshold {'met' if window['met'] else 'not met'}: {window['unauthorised_sessions']} unauthorised "
          f"session(s) in the school weeks {window['window_start']} to {window['window_end']}")
    for day, session_name, code in window["sessions"]:
        print(f"  {day} {session_name} {code}")
    days = measures.cme_days(segments, as_of)
    print(f"consecutive unauthorised school days: {len(days)}{' (CME alert)' if m['cme_alert'] else ''}")
    for day in days:
        print(f"  {day}")
    return EXIT_OK


def cmd_case_open(args) -> int:
    from .services.cases import open_case

    with session_scope() as session:
        outcome = open_case(session, args.upn, args.actor, args.on, _key_values(args.set))
        ref = outcome.case.ref
    print(ref)
    return EXIT_OK


def cmd_case_fire(args) -> int:
    from .services.cases import fire

    with session_scope() as session:
        outcome = fire(session, args.ref, args.trigger, args.actor, args.on, _key_values(args.set), args.version)
        state, notes = outcome.case.state, outcome.notes
    print(state)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


def cmd_case_show(args) -> int:
    from .services.show import case_json

    with session_scope() as session:
        data = case_json(session, args.ref, args.actor)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"{data['ref']}  {data['state']}  pupil {data['upn']}  school {data['school_urn']}  "
              f"officer {data['officer'] or '-'}  chronology {'intact' if data['chronology_intact'] else 'ALTERED'}")
        for e in data["events"]:
            print(f"  {e['on']}  {e['trigger']:<26} {e['from'] or '':<18} -> {e['to']:<18} {e['by']}")
        for t in data["triggers"]:
            print(f"  [{'allowed' if t['allowed'] else 'blocked'}] {t['trigger']}"
                  + ("" if t["allowed"] else ": " + "; ".join(t["reasons"])))
    return EXIT_OK


def cmd_case_verify(args) -> int:
    from .chronology import verify
    from .services.show import load_case

    with session_scope() as session:
        case = load_case(session, args.ref, None)
        problems = verify(session, case)
    if problems:
        for p in problems:
            print(f"error: {args.ref}: {p}", file=sys.stderr)
        return EXIT_ERROR
    print(f"{args.ref}: chronology intact")
    return EXIT_OK


def cmd_case_letters(args) -> int:
    from sqlmodel import select

    from .letters import storage
    from .models import Contact, Letter
    from .services.audit import audit
    from .services.show import load_case
    from .services.users import get_user

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with session_scope() as session:
        user = get_user(session, args.actor) if args.actor else None
        case = load_case(session, args.ref, user)
        letters = session.exec(select(Letter).where(Letter.case_id == case.id).order_by(Letter.id)).all()
        written = []
        for letter in letters:
            data = storage.load(letter.path)
            if not storage.verify(letter.path, letter.sha256):
                raise RuntimeError(f"letter {letter.id}: stored file does not match its SHA-256")
            contact = session.get(Contact, letter.contact_id)
            name = f"{letter.id:05d}-{letter.kind}-{contact.contact_ref}.pdf"
            (out / name).write_bytes(data)
            written.append(name)
        audit(session, user.email if user else "cli", "export", "case", case.ref, {"letters": written})
    for name in written:
        print(out / name)
    return EXIT_OK


def cmd_letters_issue(args) -> int:
    from .services.cases import issue_letter

    with session_scope() as session:
        outcome = issue_letter(session, args.ref, args.kind, args.actor, args.on, _key_values(args.set))
        ids = [letter.id for letter in outcome.letters]
    for letter_id in ids:
        print(letter_id)
    return EXIT_OK


def cmd_letters_run(args) -> int:
    """Gather the letters waiting to be posted into one PDF, in postcode order."""
    from .letters import runs, storage
    from .services.audit import audit

    with session_scope() as session:
        run_id = runs.create_run(session, args.actor, args.kind, args.on).id
    runs.build_run(run_id)
    with session_scope() as session:
        run = runs.get_run(session, run_id)
        Path(args.out).write_bytes(storage.load_verified(run.path, run.sha256))
        audit(session, args.actor, "export", "print_run", str(run.id), {"file": str(args.out)})
        letters, pages = run.letter_count, run.pages
    print(run_id)
    print(f"print run {run_id}: {letters} letter(s), {pages} page(s) written to {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_letters_posted(args) -> int:
    from .letters import runs

    with session_scope() as session:
        notes = runs.mark_run_posted(session, args.run_id, args.on or clock.today(), args.postal_class, args.actor)
        run = runs.get_run(session, args.run_id)
        summary = (f"print run {run.id}: {run.letter_count} letter(s) posted on {run.posted_on} "
                   f"({run.postal_class} class)")
    print(summary)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


def cmd_letters_returned(args) -> int:
    from .letters import postal

    with session_scope() as session:
        letter = postal.mark_returned(session, args.letter_id, args.on or clock.today(), args.actor, args.note or "")
        summary = f"letter {letter.id} ({letter.kind}) returned undelivered on {letter.returned_on}"
    print(summary)
    return EXIT_OK


def cmd_worklist(args) -> int:
    from .checks import worklist
    from .services.audit import audit
    from .services.users import get_user

    with session_scope() as session:
        user = get_user(session, args.actor)
        items = worklist(session, user, args.on)
        audit(session, user.email, "read", "worklist", user.email,
              {"items": sum(len(v) for v in items.values())})
    if args.json:
        print(json.dumps(items, indent=2))
        return EXIT_OK
    print(f"Worklist for {user.email} ({user.role})")
    print(f"deadlines due or overdue: {len(items['deadlines'])}")
    for d in items["deadlines"]:
        print(f"  {d['due_on']}  {d['case']}  {d['kind']}{'  OVERDUE' if d['overdue'] else ''}")
    print(f"unpaid penalty notices awaiting a decision (prosecute or withdraw): {len(items['unpaid_penalty_notices'])}")
    for pn in items["unpaid_penalty_notices"]:
        print(f"  {pn['case']}  {pn['ref']}  payment period ended {pn['pay_by']}")
    print(f"alerts: {len(items['alerts'])}")
    for a in items["alerts"]:
        print(f"  {a['raised_on']}  [{a['kind']}] {a['message']}")
    return EXIT_OK


def cmd_tick(args) -> int:
    from .services.tick import tick

    with session_scope() as session:
        result = tick(session, args.on)
    for line in result.raised:
        print(f"raised {line}")
    print(f"{len(result.raised)} deadline(s) raised, {len(result.unpaid)} penalty notice(s) now unpaid")
    return EXIT_OK


TOKEN_ADMIN_ROLES = ("admin",)
TOKEN_LIST_ROLES = ("admin", "manager")


def cmd_tokens_issue(args) -> int:
    from .services.tokens import issue_token

    with session_scope() as session:
        user = _require(session, args.actor, TOKEN_ADMIN_ROLES, "issue API tokens")
        row, token = issue_token(session, args.school, user.email, args.label or "")
        prefix = row.prefix
    print(token)
    print(f"token {prefix} issued for school {args.school}; it is shown only this once", file=sys.stderr)
    return EXIT_OK


def cmd_tokens_revoke(args) -> int:
    from .services.tokens import revoke_token

    with session_scope() as session:
        user = _require(session, args.actor, TOKEN_ADMIN_ROLES, "revoke API tokens")
        row = revoke_token(session, args.prefix, user.email)
        prefix = row.prefix
    print(f"revoked {prefix}")
    return EXIT_OK


def cmd_tokens_list(args) -> int:
    from .services.tokens import list_tokens

    with session_scope() as session:
        _require(session, args.actor, TOKEN_LIST_ROLES, "list API tokens")
        rows = [(t.prefix, s.urn, t.label, t.created_at, t.created_by, t.revoked_at, t.last_used_at)
                for t, s in list_tokens(session, args.school)]
    print(f"{'prefix':<12}  {'school':<6}  {'issued':<10}  {'last used':<16}  {'status':<18}  label")
    for prefix, urn, label, created, by, revoked, used in rows:
        status = f"revoked {revoked:%Y-%m-%d}" if revoked else "live"
        used_text = f"{used:%Y-%m-%d %H:%M}" if used else "never"
        print(f"{prefix:<12}  {urn:<6}  {created:%Y-%m-%d}  {used_text:<16}  {status:<18}  {label}")
    return EXIT_OK


def cmd_pathway_diagram(args) -> int:
    import workflows
    from workflows.diagram import mermaid

    print(mermaid(workflows.load_key(args.pathway), args.current))
    return EXIT_OK


# ---------------------------------------------------------------- court bundles (casework/bundles)

def cmd_bundle(args) -> int:
    """Build a case's prosecution bundle as a new version (legal officers, managers), or preview it (AEOs)."""
    from .bundles import versions
    from .letters import storage
    from .services.users import get_user

    error = ""
    with session_scope() as session:
        if get_user(session, args.actor).role in versions.PREVIEW_ROLES:
            if args.serve:
                raise PermissionDenied(f"{args.actor} may preview a bundle but not serve one")
            made = versions.preview(session, args.ref, args.actor)
            pdf, manifest, what = made.pdf, made.manifest, f"{args.ref} bundle preview (not recorded)"
        else:
            row = versions.build(session, args.ref, args.actor)
            if row.status == "ready" and args.serve:
                versions.serve(session, args.ref, row.version, args.actor)
            error, manifest = row.error, json.loads(row.manifest)
            what = f"{args.ref} bundle version {row.version} ({row.status}), SHA-256 {row.sha256}"
            pdf = storage.load(row.path) if row.status in ("ready", "served") else None
    if pdf is None:
        for line in error.splitlines():
            print(f"blocked: {line}", file=sys.stderr)
        return EXIT_BLOCKED
    Path(args.out).write_bytes(pdf)
    print(f"{what}: {manifest['pages']} pages written to {args.out}")
    for entry in manifest["documents"]:
        pages = f"{entry['first']}-{entry['last']}"
        print(f"  {pages:>9}  {entry['exhibit'] or '-':<7} {entry['sha256'][:16]}  {entry['title']}"
              f"{'' if entry['current'] else '  (no longer current)'}")
    return EXIT_OK


def add_bundle_parser(sub) -> None:
    p = sub.add_parser("bundle", help="build a case's prosecution bundle (legal officers, managers; AEOs preview)")
    p.add_argument("ref")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--out", required=True, metavar="FILE.pdf")
    p.add_argument("--serve", action="store_true", help="freeze the new version as served")
    p.set_defaults(func=cmd_bundle)


# ---------------------------------------------------------------- penalty notice requests (casework/pn_requests)

def cmd_requests_import(args) -> int:
    """A school's CSV file of penalty notice requests, all or none (the code of conduct checked for every child)."""
    import hashlib

    from sqlmodel import select

    from .models import School
    from .pn_requests import conduct, csvfile, submit
    from .services.users import get_user

    text = Path(args.file).read_text(encoding="utf-8-sig")
    with session_scope() as session:
        school = session.exec(select(School).where(School.urn == args.school)).first()
        if school is None:
            raise BadInput(f"school {args.school}: no such school")
        drafts = csvfile.parse(text, conduct.code_of_conduct(), args.headteacher, args.confirm)
        key = args.key or "cli-" + hashlib.sha256(f"{args.school}\n{text}".encode()).hexdigest()[:40]
        made = submit.submit_many(session, get_user(session, args.actor), school, drafts, key[:70])
        refs = [request.ref for request in made]
    print("\n".join(refs))
    return EXIT_OK


def cmd_requests_accept(args) -> int:
    """Accept requests (named, or every waiting one that passes), each its own transaction."""
    from sqlmodel import Session

    from .pn_requests import decide

    with Session(get_engine(), expire_on_commit=False) as session:
        refs = args.refs or decide.passing_refs(session)
        result = decide.accept_many(session, refs, args.actor, args.on, after_each=session.commit)
        session.commit()
    for accepted in result.accepted:
        print(f"{accepted.request.ref} accepted: {', '.join(pn.ref for pn in accepted.notices) or 'no notice'}")
        for note in accepted.consider_prosecution:
            print(f"  consider prosecution: {note}")
    for ref, reasons in result.skipped:
        for reason in reasons:
            print(f"blocked: {ref}: {reason}", file=sys.stderr)
    return EXIT_BLOCKED if result.skipped else EXIT_OK


def cmd_requests_send_back(args) -> int:
    from .pn_requests import decide

    with session_scope() as session:
        request = decide.send_back(session, args.ref, args.actor, args.decision, args.reason)
        print(f"{request.ref} {request.status}")
    return EXIT_OK


def cmd_requests_prm(args) -> int:
    """The annual Parental Responsibility Measures return (managers) as CSV, on stdout or to a file."""
    from .pn_requests import figures

    with session_scope() as session:
        _require(session, args.actor, ("manager",), "export the PRM return")
        text = figures.prm_csv(args.year, figures.prm_return(session, args.year))
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def add_requests_parser(sub) -> None:
    requests = sub.add_parser("requests", help="penalty notice requests from schools").add_subparsers(
        dest="requests_command", required=True)
    p = requests.add_parser("import", help="submit a school's CSV file of requests (all or none)")
    p.add_argument("file")
    p.add_argument("--school", required=True, metavar="URN")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--headteacher", required=True, help="who confirms the requests")
    p.add_argument("--confirm", action="store_true", help="the headteacher confirms the code of conduct's statement")
    p.add_argument("--key", help="a key for this submission (the same key again submits nothing more)")
    p.set_defaults(func=cmd_requests_import)
    p = requests.add_parser("accept", help="accept requests (by reference, or every waiting one that passes)")
    p.add_argument("refs", nargs="*", metavar="REF")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--on", type=_date)
    p.set_defaults(func=cmd_requests_accept)
    for name, decision in (("return", "returned"), ("refuse", "refused")):
        p = requests.add_parser(name, help=f"{name} a request with the reason the school will read")
        p.add_argument("ref")
        p.add_argument("--as", dest="actor", required=True)
        p.add_argument("--reason", required=True)
        p.set_defaults(func=cmd_requests_send_back, decision=decision)
    p = requests.add_parser("prm", help="the Parental Responsibility Measures return as CSV")
    p.add_argument("--year", type=int, required=True, help="the academic year's first calendar year, e.g. 2026")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--out", metavar="FILE.csv")
    p.set_defaults(func=cmd_requests_prm)


# ---------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="casework", description="School attendance casework.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create or upgrade the database; --demo loads a demo authority")
    p.add_argument("--demo", action="store_true")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--pupils", type=int, default=5000)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="run the web application (development server)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=cmd_serve)

    users = sub.add_parser("users").add_subparsers(dest="users_command", required=True)
    p = users.add_parser("add", help="create a user; the password is read from stdin")
    p.add_argument("email")
    p.add_argument("--role", required=True)
    p.add_argument("--school", action="append")
    p.add_argument("--name")
    p.set_defaults(func=cmd_users_add)

    p = sub.add_parser("import", help="import CSV files (one transaction)")
    p.add_argument("files", nargs="+")
    p.add_argument("--as", dest="actor")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("triggers", help="attendance measures and triggers for every pupil on roll")
    p.add_argument("--as-of", type=_date)
    p.add_argument("--school")
    p.add_argument("--json", action="store_true")
    p.add_argument("--as", dest="actor")
    p.set_defaults(func=cmd_triggers)

    p = sub.add_parser("explain", help="one pupil's measures with the sessions behind each figure")
    p.add_argument("upn")
    p.add_argument("--as-of", type=_date)
    p.add_argument("--as", dest="actor")
    p.set_defaults(func=cmd_explain)

    case = sub.add_parser("case").add_subparsers(dest="case_command", required=True)
    p = case.add_parser("open", help="raise a concern: open a case for a pupil")
    p.add_argument("upn")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--on", type=_date)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_case_open)

    p = case.add_parser("fire", help="fire a pathway trigger")
    p.add_argument("ref")
    p.add_argument("trigger")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--on", type=_date)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--version", type=int, help="refuse if the case is no longer at this version")
    p.set_defaults(func=cmd_case_fire)

    p = case.add_parser("show", help="show a case")
    p.add_argument("ref")
    p.add_argument("--as", dest="actor")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_case_show)

    p = case.add_parser("verify", help="check the case chronology has not been altered")
    p.add_argument("ref")
    p.set_defaults(func=cmd_case_verify)

    p = case.add_parser("letters", help="write every letter issued on the case to a folder")
    p.add_argument("ref")
    p.add_argument("--out", required=True)
    p.add_argument("--as", dest="actor")
    p.set_defaults(func=cmd_case_letters)

    letters = sub.add_parser("letters", help="letters: send on request, print runs, posting and returns") \
        .add_subparsers(dest="letters_command", required=True)
    p = letters.add_parser("issue", help="send a letter the pathway has no trigger for (meeting_invitation, "
                                          "meeting_not_attended) to every parent; prints the letter ids")
    p.add_argument("ref")
    p.add_argument("kind")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--on", type=_date)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_letters_issue)
    p = letters.add_parser("run", help="gather the letters waiting to be posted into one PDF (postcode order); "
                                        "prints the run id")
    p.add_argument("--kind", help="only letters of this kind")
    p.add_argument("--on", type=_date, help="only letters issued on or before this day (default today)")
    p.add_argument("--out", required=True)
    p.add_argument("--as", dest="actor", required=True)
    p.set_defaults(func=cmd_letters_run)
    p = letters.add_parser("posted", help="mark every letter of a print run as posted")
    p.add_argument("run_id", type=int)
    p.add_argument("--on", type=_date, help="the day they were posted (default today)")
    p.add_argument("--class", dest="postal_class", choices=("first", "second"), default="first")
    p.add_argument("--as", dest="actor", required=True)
    p.set_defaults(func=cmd_letters_posted)
    p = letters.add_parser("returned", help="record a letter returned undelivered (an event on its case)")
    p.add_argument("letter_id", type=int)
    p.add_argument("--on", type=_date, help="the day it came back (default today)")
    p.add_argument("--note")
    p.add_argument("--as", dest="actor", required=True)
    p.set_defaults(func=cmd_letters_returned)

    p = sub.add_parser("worklist", help="deadlines, unpaid penalty notices and alerts for a user")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--on", type=_date)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_worklist)

    p = sub.add_parser("tick", help="raise every deadline that has passed")
    p.add_argument("--on", type=_date)
    p.set_defaults(func=cmd_tick)

    tokens = sub.add_parser("tokens", help="API tokens for schools' MIS live data feeds").add_subparsers(
        dest="tokens_command", required=True)
    p = tokens.add_parser("issue", help="issue a token for a school's MIS; prints the token once")
    p.add_argument("--school", required=True, metavar="URN")
    p.add_argument("--as", dest="actor", required=True)
    p.add_argument("--label", help="e.g. the MIS product")
    p.set_defaults(func=cmd_tokens_issue)
    p = tokens.add_parser("revoke", help="revoke a token (named by the prefix `tokens list` shows)")
    p.add_argument("prefix")
    p.add_argument("--as", dest="actor", required=True)
    p.set_defaults(func=cmd_tokens_revoke)
    p = tokens.add_parser("list", help="list tokens (never the tokens themselves)")
    p.add_argument("--school", metavar="URN")
    p.add_argument("--as", dest="actor", required=True)
    p.set_defaults(func=cmd_tokens_list)

    pathway = sub.add_parser("pathway").add_subparsers(dest="pathway_command", required=True)
    p = pathway.add_parser("diagram", help="print the pathway as a Mermaid diagram")
    p.add_argument("--pathway", default="england-2024")
    p.add_argument("--current", help="highlight this state")
    p.set_defaults(func=cmd_pathway_diagram)
    add_bundle_parser(sub)  # court bundles: see the block above
    add_requests_parser(sub)  # penalty notice requests: see the block above
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Blocked as exc:
        for reason in exc.reasons:
            print(f"blocked: {reason}", file=sys.stderr)
        return EXIT_BLOCKED
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PermissionDenied as exc:
        print(f"error: permission denied: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001  (the last line of defence: one line on stderr, exit 1)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
