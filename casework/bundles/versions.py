"""The bundle service: request a build, run it (inline or as a background job), serve (freeze) a version, compare
versions. A version built after a served one keeps every served page and its number, and appends what is new."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import func
from sqlmodel import Session, select

from .. import clock
from ..db import get_engine, session_scope
from ..letters import storage
from ..models import BundleVersion, Case, User
from ..services.audit import audit
from ..services.errors import BadInput, Blocked, PermissionDenied
from ..services.show import load_case
from ..services.users import get_user
from . import data as data_mod
from . import redaction, sections
from .assemble import Builder, BundleError, Placed, finish, to_bytes
from .sections import SECTION, SECTIONS, Document

BUILD_ROLES = ("legal", "manager")
PREVIEW_ROLES = ("aeo",)
VIEW_ROLES = ("aeo", "legal", "manager")
LEGAL_STATE = "prosecution"
BUILD_TIMEOUT = timedelta(minutes=15)  # a build still "building" after this was interrupted (the process stopped)
STEPS = ("Loading the case", "Laying out the documents and the index", "Merging the pages",
         "Stamping page numbers, linking the index and adding bookmarks", "Checking for confidential addresses",
         "Storing the bundle")
EMPTY_SECTION = "none on this case"


@dataclass
class Made:
    """A finished bundle before it is stored: the PDF, its unstamped pages, the manifest, and any redaction problems."""

    pdf: bytes
    body: bytes
    manifest: dict
    problems: list[str]


# ---------------------------------------------------------------- permissions and lookups

def _user(session: Session, email: str, roles: tuple[str, ...], what: str) -> User:
    user = get_user(session, email)
    if user.role not in roles:
        raise PermissionDenied(f"{user.email} ({user.role}) may not {what}")
    return user


def case_for(session: Session, ref: str, email: str, roles: tuple[str, ...] = VIEW_ROLES,
             what: str = "see court bundles") -> tuple[Case, User]:
    user = _user(session, email, roles, what)
    return load_case(session, ref, user), user


def versions(session: Session, case: Case) -> list[BundleVersion]:
    """Every version of the case's bundle, newest first (a build interrupted long ago shown as failed)."""
    _expire_interrupted(session, case)
    return list(session.exec(select(BundleVersion).where(BundleVersion.case_id == case.id)
                             .order_by(BundleVersion.version.desc())).all())


def get_version(session: Session, case: Case, number: int) -> BundleVersion:
    row = session.exec(select(BundleVersion).where(BundleVersion.case_id == case.id,
                                                   BundleVersion.version == number)).first()
    if row is None:
        raise BadInput(f"case {case.ref} has no bundle version {number}")
    return row


def _served(session: Session, case: Case) -> BundleVersion | None:
    return session.exec(select(BundleVersion).where(BundleVersion.case_id == case.id, BundleVersion.status == "served")
                        .order_by(BundleVersion.version.desc())).first()


def _expire_interrupted(session: Session, case: Case) -> None:
    cutoff = clock.now() - BUILD_TIMEOUT
    for row in session.exec(select(BundleVersion).where(BundleVersion.case_id == case.id,
                                                        BundleVersion.status == "building")).all():
        if _aware(row.requested_at) < cutoff:
            row.status, row.error, row.finished_at = "failed", "The build was interrupted.", clock.now()
            session.add(row)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------- requesting and running a build

def request_build(session: Session, ref: str, actor_email: str, seen_latest: int | None = None) -> BundleVersion:
    """A new version, waiting to be built (legal officers and managers; cases in legal action; one build at a time).
    `seen_latest`: the newest version the requester saw; when another has been started since, nothing is done (so
    a form posted twice builds once)."""
    case, user = case_for(session, ref, actor_email, BUILD_ROLES, "build court bundles")
    case = session.exec(select(Case).where(Case.id == case.id).with_for_update()).one()
    if case.state != LEGAL_STATE:
        raise Blocked([f"A bundle can only be built for a case in legal action; case {ref} is not"])
    if not (case.offence_start and case.offence_end):
        raise Blocked([f"Case {ref} has no offence period recorded"])
    _expire_interrupted(session, case)
    building = session.exec(select(BundleVersion.version).where(BundleVersion.case_id == case.id,
                                                                BundleVersion.status == "building")).first()
    if building is not None:
        raise Blocked([f"Version {building} of this bundle is being built: wait for it to finish"])
    latest = session.exec(select(func.max(BundleVersion.version)).where(BundleVersion.case_id == case.id)).one()
    if seen_latest is not None and (latest or 0) != seen_latest:
        raise Blocked([f"Version {latest} was started after you opened this page: see it in the list of versions"])
    served = _served(session, case)
    row = BundleVersion(case_id=case.id, version=(latest or 0) + 1, base_version=served.version if served else None,
                        requested_at=clock.now(), requested_by=user.email, step="Waiting to start", total=len(STEPS))
    session.add(row)
    session.flush()
    audit(session, user.email, "create", "bundle", f"{ref}/v{row.version}", {"base_version": row.base_version})
    return row


def _base(session: Session, row: BundleVersion) -> BundleVersion | None:
    if not row.base_version:
        return None
    return session.exec(select(BundleVersion).where(BundleVersion.case_id == row.case_id,
                                                    BundleVersion.version == row.base_version)).one()


def run_build(version_id: int, url: str | None = None) -> BundleVersion:
    """Build a requested version: the job a queue or a background thread runs. Reads the case in one short
    transaction, lays out outside any, commits its progress as it goes; ends ready, refused (a confidential address
    was found: nothing is kept) or failed."""
    engine = get_engine(url)

    def progress(step: int) -> None:
        with session_scope(engine) as s:
            row = s.get(BundleVersion, version_id)
            row.step, row.done = STEPS[step], step
            s.add(row)

    try:
        progress(0)
        with session_scope(engine) as session:
            row = session.get(BundleVersion, version_id)
            base = _base(session, row)
            d = data_mod.load(session, session.get(Case, row.case_id), clock.today())
        made = make(d, row.version, base, progress)
        progress(STEPS.index("Storing the bundle"))
        with session_scope(engine) as session:
            row = session.get(BundleVersion, version_id)
            _record(session, row, made)
            return row
    except (BundleError, Blocked, BadInput) as exc:
        return _fail(engine, version_id, str(exc))
    except Exception as exc:  # noqa: BLE001  (a build must never stay "building" because of an unexpected error)
        _fail(engine, version_id, f"{type(exc).__name__}: {exc}")
        raise


def build(session: Session, ref: str, actor_email: str) -> BundleVersion:
    """Request and build a version in the caller's transaction (the command line; tests)."""
    row = request_build(session, ref, actor_email)
    try:
        made = make(data_mod.load(session, session.get(Case, row.case_id), clock.today()), row.version,
                    _base(session, row))
    except BundleError as exc:
        raise Blocked([str(exc)]) from None
    _record(session, row, made)
    session.flush()
    return row


def _record(session: Session, row: BundleVersion, made: Made) -> None:
    case = session.get(Case, row.case_id)
    row.finished_at, row.done, row.manifest = clock.now(), len(STEPS), json.dumps(made.manifest, sort_keys=True)
    if made.problems:
        row.status, row.error, row.step = "refused", "\n".join(made.problems), "Refused: confidential address found"
    else:
        row.sha256, row.path = storage.store(made.pdf)
        row.body_sha256, row.body_path = storage.store(made.body)
        row.status, row.pages, row.step = "ready", made.manifest["pages"], "Ready"
    session.add(row)
    audit(session, row.requested_by, "update", "bundle", f"{case.ref}/v{row.version}",
          {"status": row.status, "sha256": row.sha256, "pages": row.pages})


def _fail(engine, version_id: int, message: str) -> BundleVersion:
    with session_scope(engine) as session:
        row = session.get(BundleVersion, version_id)
        row.status, row.error, row.finished_at, row.step = "failed", message, clock.now(), "Failed"
        session.add(row)
        return row


def preview(session: Session, ref: str, actor_email: str) -> Made:
    """What a build would make now, marked as a preview and recorded nowhere but the audit (AEOs may preview)."""
    case, user = case_for(session, ref, actor_email, VIEW_ROLES, "preview court bundles")
    if case.state != LEGAL_STATE:
        raise Blocked([f"A bundle can only be built for a case in legal action; case {ref} is not"])
    try:
        made = make(data_mod.load(session, case, clock.today()), 0, _served(session, case))
    except BundleError as exc:
        raise Blocked([str(exc)]) from None
    if made.problems:
        raise Blocked(made.problems)
    audit(session, user.email, "export", "bundle", f"{ref}/preview", {"pages": made.manifest["pages"]})
    return made


# ---------------------------------------------------------------- making the PDF

def make(d: data_mod.BundleData, version: int, base: BundleVersion | None,
         progress: Callable[[int], None] = lambda step: None) -> Made:
    """The bundle of the case loaded in `d`: laid out afresh, or `base`'s pages followed by what is new since it was
    served. Version 0 is a preview."""
    case = d.case
    wanted = redaction.needles(d.contacts.values())
    builder = Builder(_redacted_copy(d))
    base_manifest = json.loads(base.manifest) if base else None
    progress(1)
    docs = documents(d, wanted, _exhibits(base_manifest), sections.initials(_witness(d)))
    if base_manifest is None:
        placed, base_reader, entries, layout_version = _fresh(d, builder, docs, version), None, [], version
    else:
        base_reader = _base_pages(base)
        placed, entries = _appended(d, builder, docs, base_manifest, base.version, version)
        layout_version = base_manifest["layout_version"]
    progress(2)
    writer = builder.body(base_reader, placed)
    body = to_bytes(writer)
    manifest = {"version": version, "layout_version": layout_version, "pages": len(writer.pages),
                "documents": entries + [p.entry() for p in placed]}
    progress(3)
    label = f"version {version}" if version else "PREVIEW - not for service"
    pdf = finish(writer, manifest, footer=f"{case.ref} prosecution bundle, {label}",
                 header="" if version else "PREVIEW - not for service",
                 title=f"Prosecution bundle {case.ref}, {label}", author=d.authority["authority_name"])
    progress(4)
    problems = redaction.check(pdf, wanted, lambda page: _where(manifest, page))
    return Made(pdf, body, manifest, problems)


def _witness(d: data_mod.BundleData) -> str:
    return (d.officer.name or d.officer.email) if d.officer else ""


def _exhibits(manifest: dict | None) -> dict[str, str]:
    return {e["key"]: e["exhibit"] for e in (manifest or {}).get("documents", []) if e["exhibit"]}


def documents(d: data_mod.BundleData, wanted: list[redaction.Needle], exhibits: dict[str, str],
              prefix: str) -> list[Document]:
    """Every document of the bundle now, in court order, the index as a placeholder. Exhibits are labelled in
    bundle order, keeping the labels `exhibits` gives (those of the version this one builds on)."""
    start, end = d.case.offence_start, d.case.offence_end
    register, extracts = sections.register_documents(d, start, end)
    letters = sections.letter_documents(d, _to_redact(d, wanted))
    sections.assign_exhibits(register + letters, prefix, exhibits)
    notices = sections.penalty_notice_documents(d, letters)  # each names the exhibit of its notice
    interview, uploaded = sections.interview_documents(d), sections.upload_documents(d)
    sections.assign_exhibits(notices + interview + uploaded, prefix,
                             {**exhibits, **{x.key: x.exhibit for x in register + letters}})
    exhibited = [x for x in register + letters + notices + interview + uploaded if x.exhibit]
    return [sections.cover(d), Document("index", "index", SECTION["index"].title), sections.chronology(d, letters),
            sections.statement(d, exhibited, extracts), *sections.certificates(d, extracts, clock.now()), *register,
            *letters, *notices, *sections.decisions(d), *interview, *uploaded]


def _to_redact(d: data_mod.BundleData, wanted: list[redaction.Needle]) -> set[int]:
    """Letters that show a confidential address: those sent to a confidential contact, or whose inputs hold one."""
    if not wanted:
        return set()
    confidential = {c.id for c in d.confidential_contacts}
    found = set()
    for letter in d.letters:
        if letter.contact_id in confidential:
            found.add(letter.id)
        elif letter.snapshot:
            if redaction.found_in(letter.snapshot, wanted):
                found.add(letter.id)
        elif redaction.found_in("\n".join(redaction.page_texts(storage.load(letter.path))), wanted):
            found.add(letter.id)
    return found


def _redacted_copy(d: data_mod.BundleData) -> Callable[[Document], bytes]:
    """Re-render a letter from its snapshot with every confidential address withheld (the letters' own renderer
    marks each page as a redacted copy with the SHA-256 of the letter as issued)."""
    confidential = frozenset(c.id for c in d.confidential_contacts)

    def copy(doc: Document) -> bytes:
        from ..letters.issue import rerender
        from ..letters.render import LetterError

        letter = next(x for x in d.letters if x.id == doc.letter_id)
        try:
            return rerender(letter, redact_addresses=confidential)
        except LetterError as exc:
            raise BundleError(f"{doc.title} shows a confidential address and cannot be re-rendered without it: "
                              f"{exc}") from None
    return copy


def _index_entries(placed: list[Placed], supplement: bool) -> list[dict]:
    """The index's rows: each section with its pages, and each document of a section that holds several (of every
    section, in the index of a later version's additions); empty sections of evidence say so."""
    entries = []
    for section in SECTIONS:
        mine = [p for p in placed if p.doc.section == section.key]
        if not mine:
            if not supplement and section.exhibits:
                entries.append({"title": section.title, "first": None, "last": None, "documents": [],
                                "none": EMPTY_SECTION})
            continue
        listed = section.multi or supplement
        entries.append({"title": section.title, "first": mine[0].first, "last": mine[-1].last, "none": "",
                        "documents": [{"title": p.doc.title, "exhibit": p.doc.exhibit, "dated": p.doc.dated,
                                       "first": p.first, "last": p.last} for p in mine] if listed else []})
    return entries


def _fresh(d: data_mod.BundleData, builder: Builder, docs: list[Document], version: int) -> list[Placed]:
    def index(placed: list[Placed]) -> Document:
        context = sections.index_context(d, _index_entries(placed, supplement=False), "Index")
        return sections.rendered("index", "index", SECTION["index"].title, "index", context)

    return builder.place(docs, 1, version, index)


def _base_pages(base: BundleVersion):
    from pypdf import PdfReader

    try:
        data = storage.load_verified(base.body_path, base.body_sha256)
    except storage.StorageError as exc:
        raise BundleError(f"the stored pages of version {base.version} cannot be used: {exc}") from None
    return PdfReader(io.BytesIO(data))


def _appended(d: data_mod.BundleData, builder: Builder, docs: list[Document], base_manifest: dict, base_version: int,
              version: int) -> tuple[list[Placed], list[dict]]:
    """The documents new or changed since the base version, placed after its pages behind an index of their own;
    and the base's manifest entries, marked no longer current where replaced or gone."""
    current = {e["key"]: e for e in base_manifest["documents"] if e["current"]}
    keys = {doc.key for doc in docs}
    changed = [doc for doc in docs if doc.key != "index" and current.get(doc.key, {}).get("sha256") != doc.sha256]
    if not changed:
        raise Blocked([f"Nothing has been added or changed since version {base_version} was served"])
    for doc in changed:
        if doc.key in current:
            doc.title += f" (revised in version {version})" if version else " (revised)"
    entries = [dict(e, current=e["current"] and e["key"] in keys and e["key"] not in {x.key for x in changed})
               for e in base_manifest["documents"]]
    kept = base_manifest["pages"]
    note = (f"Pages 1 to {kept} are as served in version {base_version}, with the same page numbers. "
            "The documents below were added or revised since.")
    key = f"index:v{version}"

    def index(placed: list[Placed]) -> Document:
        context = sections.index_context(d, _index_entries(placed[1:], supplement=True),
                                         f"Index of documents added in version {version}" if version
                                         else "Index of documents added since the served version", note)
        return sections.rendered(key, "index", "Index of added documents", "index", context)

    return builder.place([Document(key, "index", "Index of added documents"), *changed], kept + 1, version,
                         index), entries


def _where(manifest: dict, page: int) -> str:
    for e in manifest["documents"]:
        if e["first"] <= page <= e["last"]:
            return f" ({e['title']})"
    return ""


# ---------------------------------------------------------------- serving, reading, comparing

def serve(session: Session, ref: str, number: int, actor_email: str) -> tuple[BundleVersion, bool]:
    """Freeze a ready version as served; (the version, whether this call served it). Only the newest version can be
    served, and only while its stored file still matches its SHA-256."""
    case, user = case_for(session, ref, actor_email, BUILD_ROLES, "serve court bundles")
    row = session.exec(select(BundleVersion).where(BundleVersion.case_id == case.id, BundleVersion.version == number)
                       .with_for_update()).first()
    if row is None:
        raise BadInput(f"case {ref} has no bundle version {number}")
    if row.status == "served":
        return row, False
    if row.status != "ready":
        raise Blocked([f"Version {number} cannot be served: it is {row.status}"])
    newer = session.exec(select(BundleVersion.version).where(
        BundleVersion.case_id == case.id, BundleVersion.version > number,
        BundleVersion.status.in_(("building", "ready", "served")))).first()
    if newer is not None:
        raise Blocked([f"Version {number} cannot be served: version {newer} is newer"])
    if not storage.verify(row.path, row.sha256):
        raise Blocked([f"Version {number} cannot be served: its stored file no longer matches its SHA-256"])
    row.status, row.served_at, row.served_by = "served", clock.now(), user.email
    session.add(row)
    audit(session, user.email, "update", "bundle", f"{ref}/v{number}", {"served": True, "sha256": row.sha256})
    session.flush()
    return row, True


def pdf_of(session: Session, ref: str, number: int, actor_email: str) -> tuple[BundleVersion, bytes]:
    """A built version's PDF, hash-checked, with the download audited."""
    case, user = case_for(session, ref, actor_email)
    row = get_version(session, case, number)
    if row.status not in ("ready", "served"):
        raise BadInput(f"version {number} has no PDF: it is {row.status}")
    try:
        data = storage.load_verified(row.path, row.sha256)
    except storage.StorageError as exc:
        raise BundleError(f"the stored file of version {number} cannot be used: {exc}") from None
    audit(session, user.email, "export", "bundle", f"{ref}/v{number}", {"sha256": row.sha256})
    return row, data


def manifest_of(row: BundleVersion) -> dict:
    """A version's manifest: its pages, and every document with its section, pages and SHA-256."""
    manifest = json.loads(row.manifest or "{}")
    return {"pages": manifest.get("pages", 0), "documents": manifest.get("documents", []),
            "layout_version": manifest.get("layout_version")}


@dataclass
class Changes:
    """What changed from one version to another."""

    older: int
    newer: int
    pages_before: int
    pages_after: int
    added: list[dict]
    revised: list[dict]
    moved: list[tuple[dict, dict]]
    gone: list[dict]
    unchanged: list[dict]


def _current(manifest: dict) -> dict[str, dict]:
    """The documents now current, by key; indexes are left out (each version's index describes itself)."""
    return {e["key"]: e for e in manifest.get("documents", []) if e["current"] and not e["key"].startswith("index")}


def compare(older: BundleVersion, newer: BundleVersion) -> Changes:
    """Documents added, revised, moved to other pages, gone from the case, and unchanged, between two versions."""
    a, b = json.loads(older.manifest or "{}"), json.loads(newer.manifest or "{}")
    before, after = _current(a), _current(b)
    added = [e for key, e in after.items() if key not in before]
    revised = [e for key, e in after.items() if key in before and before[key]["sha256"] != e["sha256"]]
    same = [(before[key], e) for key, e in after.items() if key in before and before[key]["sha256"] == e["sha256"]]
    moved = [(x, y) for x, y in same if (x["first"], x["last"]) != (y["first"], y["last"])]
    unchanged = [y for x, y in same if (x["first"], x["last"]) == (y["first"], y["last"])]
    gone = [e for key, e in before.items() if key not in after]
    by_page = lambda e: e["first"]  # noqa: E731
    return Changes(older.version, newer.version, a.get("pages", 0), b.get("pages", 0), sorted(added, key=by_page),
                   sorted(revised, key=by_page), moved, sorted(gone, key=by_page), sorted(unchanged, key=by_page))
