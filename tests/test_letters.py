"""Letters: the rendered HTML carries what the law requires, PDFs are valid A4, storage is content-addressed."""
from __future__ import annotations

import hashlib
import io
import re
import shutil
from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser

import jinja2
import pytest
from pypdf import PdfReader, PdfWriter

from casework.letters import preflight, render
from casework.letters import storage as letter_storage
from casework.letters.render import (
    KINDS, LetterError, longdate, money, render_html, render_pdf, render_pdfs, template_version, timeofday,
    validate_pdf,
)
from casework.letters.samples import sample_context

CAUTION = (
    "You do not have to say anything. But it may harm your defence if you do not mention when questioned "
    "something which you later rely on in court. Anything you do say may be given in evidence."
)


def squash(text: str) -> str:
    return " ".join(text.split())


class Letter(HTMLParser):
    """The body text of a rendered letter, plus the text inside each element with an id or data-element."""

    VOID = {"br", "wbr", "meta", "link", "img", "hr", "input", "col"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, list[str]]] = []
        self.parts: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self.body: list[str] = []
        self.in_body = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.in_body = True
        if tag in self.VOID:
            return
        attrs = dict(attrs)
        keys = [f"#{attrs['id']}"] if "id" in attrs else []
        if "data-element" in attrs:
            keys.append(f"@{attrs['data-element']}")
        if "class" in attrs:
            for name in attrs["class"].split():
                self.counts[f".{name}"] = self.counts.get(f".{name}", 0) + 1
        for key in keys:
            self.parts.setdefault(key, [])
            self.counts[key] = self.counts.get(key, 0) + 1
        self.stack.append((tag, keys))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        if self.in_body:
            self.body.append(data)
        for _, keys in self.stack:
            for key in keys:
                self.parts[key].append(data)

    @property
    def text(self) -> str:
        return squash(" ".join(self.body))

    def has(self, key: str) -> bool:
        return key in self.parts

    def part(self, key: str) -> str:
        assert key in self.parts, f"{key} missing from the letter"
        return squash(" ".join(self.parts[key]))


def letter(kind: str, context: dict | None = None) -> Letter:
    return Letter(render_html(kind, context or sample_context(kind)))


def pdf_text(data: bytes) -> list[str]:
    return [squash(page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


# Every kind -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_a_letter_to_one_named_parent(kind):
    ctx = sample_context(kind)
    doc = letter(kind, ctx)
    address = doc.part("#recipient-address")
    assert "Ms Sarah Clarke" in address
    for line in ctx["recipient"]["address_lines"]:
        assert line in address
    assert "Dear Ms Clarke," in doc.text
    assert doc.part("#letter-ref") == ctx["letter"]["ref"]
    assert doc.part("#letter-date") == longdate(ctx["letter"]["issued_on"])
    assert doc.part("#case-ref") == ctx["letter"]["case_ref"]
    assert ctx["authority"]["name"] in doc.text
    assert doc.part("#letter-heading")
    lowered = doc.text.lower()
    assert "parents of" not in lowered
    for placeholder in ("lorem", "todo", "tbc", "xxx", "{{", "}}", "{%", "none"):
        assert placeholder not in lowered, placeholder
    if kind == "parenting_contract":
        assert doc.counts.get(".sign-lines") == 1
    else:
        assert ctx["officer"]["name"] in doc.part("#signature")


@pytest.mark.parametrize("kind", KINDS)
def test_letter_without_a_title_uses_the_full_name(kind):
    ctx = sample_context(kind)
    ctx["recipient"]["title"] = ""
    doc = letter(kind, ctx)
    assert "Dear Sarah Clarke," in doc.text
    assert doc.part("#recipient-address").startswith("Private and confidential Sarah Clarke")


REQUIRED_PER_KIND = {
    "attendance_concern": ("attendance", "possible_sessions"),
    "meeting_invitation": ("data", "meeting_place"),
    "meeting_not_attended": ("data", "missed_on"),
    "action_plan": ("data", "review_on"),
    "parenting_contract": ("data", "requirements"),
    "notice_to_improve": ("improvement", "target"),
    "penalty_notice": ("pn", "offence_end"),
    "penalty_notice_withdrawal": ("pn", "withdrawn_on"),
    "prosecution_warning": ("prosecution", "section"),
    "interview_invitation": ("prosecution", "offence_start"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_missing_context_key_raises(kind):
    ctx = sample_context(kind)
    del ctx["officer"]
    with pytest.raises((jinja2.UndefinedError, LetterError), match="officer"):
        render_html(kind, ctx)
    ctx = sample_context(kind)
    group, key = REQUIRED_PER_KIND[kind]
    del ctx[group][key]
    with pytest.raises((jinja2.UndefinedError, LetterError)):
        render_html(kind, ctx)


def test_unknown_kind_and_mismatched_context_are_refused():
    with pytest.raises(LetterError):
        render_html("final_demand", sample_context("action_plan"))
    with pytest.raises(LetterError, match="not 'action_plan'"):
        render_html("action_plan", sample_context("attendance_concern"))


def test_address_longer_than_the_envelope_window_is_refused():
    ctx = sample_context("attendance_concern")
    ctx["recipient"]["address_lines"] = ["Flat 2", "Rose House", "14 Willow Close", "Eastfield", "Harrowfield",
                                         "Westshire", "HF3 7QP"]
    with pytest.raises(LetterError, match="envelope window"):
        render_html("attendance_concern", ctx)
    ctx["recipient"]["address_lines"] = ctx["recipient"]["address_lines"][1:]
    render_html("attendance_concern", ctx)


def test_values_are_html_escaped():
    ctx = sample_context("attendance_concern")
    ctx["recipient"]["full_name"] = "Sarah <b>Clarke</b>"
    html = render_html("attendance_concern", ctx)
    assert "<b>Clarke</b>" not in html
    assert "Sarah &lt;b&gt;Clarke&lt;/b&gt;" in html


@pytest.mark.parametrize("kind", KINDS)
def test_withheld_pupil_address_renders(kind):
    ctx = sample_context(kind)
    ctx["pupil"]["address_lines"] = None
    render_html(kind, ctx)


def test_filters():
    assert longdate(date(2026, 11, 2)) == "2 November 2026"
    assert money(Decimal("80")) == "£80.00"
    assert money(Decimal("1000.5")) == "£1,000.50"
    assert timeofday(datetime(2027, 2, 4, 10, 30)) == "10:30am"
    assert timeofday(datetime(2027, 2, 4, 14, 0)) == "2pm"
    assert timeofday(datetime(2027, 2, 4, 12, 0)) == "midday"


def test_template_version_is_the_hash_of_the_set_and_follows_its_files(tmp_path, monkeypatch):
    versions = {kind: template_version(kind) for kind in KINDS}
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in versions.values())
    assert len(set(versions.values())) == len(KINDS)
    templates = render.templates_for("penalty_notice")
    assert hashlib.sha256(templates.source).hexdigest() == versions["penalty_notice"]
    assert {"penalty_notice.html", "base.html", "print.css", "_pupil_address.html"} <= dict(templates.files).keys()
    assert "action_plan.html" not in dict(templates.files)

    copy = tmp_path / "letter_templates"
    shutil.copytree(render.TEMPLATE_DIR, copy)
    monkeypatch.setenv(render.TEMPLATES_ENV, str(copy))  # an authority's own copy of the templates
    assert template_version("penalty_notice") == versions["penalty_notice"]
    partial = copy / "_pupil_address.html"  # used by the penalty notice only
    partial.write_text(partial.read_text() + "\n")
    assert template_version("penalty_notice") != versions["penalty_notice"]
    assert template_version("action_plan") == versions["action_plan"]
    css = copy / "print.css"
    css.write_text(css.read_text() + "\n")
    assert template_version("action_plan") != versions["action_plan"]
    heading = copy / "action_plan.html"
    heading.write_text(heading.read_text().replace("Your support plan for", "The support plan agreed for"))
    assert "The support plan agreed for Amelia" in letter("action_plan").part("#letter-heading")


# Notice to improve: the 8 elements of the guidance ---------------------------------------------------

def test_notice_to_improve_has_all_eight_elements():
    ctx = sample_context("notice_to_improve")
    doc = letter("notice_to_improve", ctx)
    for number in range(1, 9):
        assert doc.has(f"@{number}"), f"element {number} missing"

    record = doc.part("@1")
    assert "14 sessions of unauthorised absence" in record
    assert "section 444 of the Education Act 1996" in record
    assert doc.counts[".session"] == len(ctx["attendance"]["unauthorised"]) == 14
    assert "Mon 14 Sep 2026, morning: O" in record
    assert "What the codes mean: O : absent without a reason accepted by the school" in record

    duty = doc.part("@2")
    assert "section 7 of the Education Act 1996" in duty and "regularly" in duty

    so_far = doc.part("@3")
    for item in ctx["case"]["support_history"]:
        assert longdate(item["on"]) in so_far and squash(item["what"]) in so_far

    further = doc.part("@4")
    assert squash(ctx["improvement"]["further_support"][0]) in further
    assert "still open" in further and "family support service" in further

    warning = doc.part("@5")
    assert "penalty notice" in warning and "prosecuting" in warning
    assert "11 December 2026" in warning

    period = doc.part("@6")
    assert "2 November 2026" in period and "11 December 2026" in period and "6 school weeks" in period

    assert squash(ctx["improvement"]["target"]) in doc.part("@7")

    early = doc.part("@8")
    assert "before 11 December 2026" in early and "tell you before" in early


def test_notice_to_improve_without_optional_support_lists_still_offers_and_reoffers_support():
    ctx = sample_context("notice_to_improve")
    for key in ("further_support", "reoffered"):
        del ctx["improvement"][key]
    further = letter("notice_to_improve", ctx).part("@4")
    assert "early help" in further and "still open" in further


# Penalty notice: reg 3 of the 2007 regulations -------------------------------------------------------

def test_penalty_notice_contains_every_prescribed_particular():
    ctx = sample_context("penalty_notice")
    doc = letter("penalty_notice", ctx)

    recipient = doc.part("@recipient")  # (a) recipient's name and address
    assert "Sarah Clarke, 14 Willow Close, Eastfield, Harrowfield, HF3 7QP" in recipient
    assert "section 576 of the Education Act 1996" in recipient

    child = doc.part("@child")  # (b) child's name, address and school
    assert "Amelia Clarke, born 14 March 2014" in child
    assert "14 Willow Close, Eastfield, Harrowfield, HF3 7QP" in child
    assert doc.part("#pn-school") == "Riverside Academy (unique reference number 143210)"

    officer = doc.part("@officer")  # (c) officer's name and official particulars
    assert "Daniel Okafor" in officer and "section 444A of the Education Act 1996" in officer
    assert doc.part("#pn-officer-name") == "Daniel Okafor"

    assert doc.part("#pn-offence-start") == "5 October 2026"  # (d) offence period and date of issue
    assert doc.part("#pn-offence-end") == "11 December 2026"
    assert "section 444(1) of the Education Act 1996" in doc.part("@offence")
    assert doc.part("#pn-issued-on") == "14 December 2026"

    amounts = doc.part("@amounts")  # (e) amounts and the dates they apply to
    assert doc.part("#pn-amount-reduced") == "£80.00"
    assert doc.part("#pn-amount-full") == "£160.00"
    assert "by 6 January 2027 (within 21 days" in amounts
    assert "after 6 January 2027 but by 13 January 2027 (within 28 days" in amounts

    payee = doc.part("#pn-payee-address")  # (f) who to pay and write to
    assert ctx["authority"]["payee_name"] in payee
    assert all(line in payee for line in ctx["authority"]["payee_address_lines"])

    methods = doc.part("#pn-payment-methods")  # (g) methods of payment
    assert all(squash(m) in methods for m in ctx["authority"]["payment_methods"])

    period = doc.part("@payment-period")  # (h) payment period
    assert "28 days" in period and "16 December 2026" in period and "ends on 13 January 2027" in period

    assert "cannot be convicted of the offence" in doc.part("@discharge")  # (i) payment discharges liability

    non_payment = doc.part("@non-payment")  # (j) consequences of not paying
    assert "prosecute" in non_payment and "section 444(1) of the Education Act 1996" in non_payment

    grounds = doc.part("#pn-withdrawal-grounds")  # (k) grounds for withdrawal
    assert "should not have been issued at all" in grounds
    assert "should not have been issued to you" in grounds
    assert "material error" in grounds

    assert doc.part("#pn-ref") == "PN-2026-00009"
    assert doc.part("#pn-receipt-on") == "16 December 2026"
    limit = doc.part("@limit")
    assert "no more than 2 penalty notices for the same child within any 3 years" in limit

    # the schedule lists exactly the unauthorised sessions inside the offence period
    schedule = doc.part("@schedule")
    assert "Sep" not in schedule.split("What the codes mean")[0] and "Mon 5 Oct 2026, morning: O" in schedule
    assert doc.counts[".session"] == ctx["pn"]["unauthorised_sessions"] == 16


def test_second_penalty_notice_is_a_flat_amount_with_no_reduced_rate():
    ctx = sample_context("penalty_notice")
    ctx["pn"].update(second_notice=True, amount_reduced=None, reduced_until=None)
    doc = letter("penalty_notice", ctx)
    assert not doc.has("#pn-amount-reduced")
    assert doc.part("#pn-amount-full") == "£160.00"
    assert "£80" not in doc.text
    assert "by 13 January 2027 (within 28 days" in doc.part("@amounts")
    assert "second penalty notice" in doc.part("#pn-second-notice")
    assert "no reduced amount" in doc.part("#pn-second-notice")
    assert "cannot give you another one" in doc.part("@limit")


def test_penalty_notice_with_inconsistent_amounts_or_dates_is_refused():
    ctx = sample_context("penalty_notice")
    ctx["pn"].update(amount_reduced=None)
    with pytest.raises(LetterError, match="pn.amount_reduced"):
        render_html("penalty_notice", ctx)
    ctx = sample_context("penalty_notice")
    ctx["pn"].update(second_notice=True)
    with pytest.raises(LetterError, match="no reduced amount"):
        render_html("penalty_notice", ctx)
    ctx = sample_context("penalty_notice")
    ctx["pn"]["pay_by"] = date(2026, 12, 20)
    with pytest.raises(LetterError, match="out of order"):
        render_html("penalty_notice", ctx)
    ctx = sample_context("penalty_notice")
    ctx["authority"]["payment_methods"] = []
    with pytest.raises(LetterError, match="payment_methods"):
        render_html("penalty_notice", ctx)


def test_penalty_notice_with_withheld_child_address_says_the_authority_holds_it():
    ctx = sample_context("penalty_notice")
    ctx["pupil"]["address_lines"] = None
    doc = letter("penalty_notice", ctx)
    child = doc.part("@child")
    assert "Willow Close" not in child
    assert "confidential" in doc.part("#pupil-address-withheld")
    assert "Harrowfield County Council holds Amelia's address" in child


# Other kinds ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ground, words", [
    ("ought_not_to_have_been_issued", "the penalty notice should not have been issued"),
    ("wrong_person", "the penalty notice should not have been issued to you"),
    ("material_error", "the penalty notice contains a material error"),
])
def test_withdrawal_states_ground_refund_and_no_proceedings(ground, words):
    ctx = sample_context("penalty_notice_withdrawal")
    ctx["pn"]["ground"] = ground
    doc = letter("penalty_notice_withdrawal", ctx)
    assert doc.part("#pn-ref") == "PN-2026-00009"
    assert doc.part("#ground-words") == words
    assert doc.part("#ground-text") == ctx["pn"]["ground_text"]
    assert "We will refund the full £80.00" in doc.part("#refund")
    assert "will not be prosecuted for the offence" in doc.part("@no-proceedings")


def test_withdrawal_with_nothing_paid_says_so():
    ctx = sample_context("penalty_notice_withdrawal")
    ctx["pn"].update(amount_paid=Decimal("0.00"), refund_due=False, ground_text="")
    doc = letter("penalty_notice_withdrawal", ctx)
    assert "nothing to refund" in doc.part("#refund")
    assert not doc.has("#ground-text")


def test_attendance_contract_sets_out_both_sides_and_its_status():
    ctx = sample_context("parenting_contract")
    doc = letter("parenting_contract", ctx)
    assert "Attendance contract" in doc.part("#letter-heading")
    assert "section 19 of the Anti-social Behaviour Act 2003" in doc.part("#letter-heading")
    agreement = doc.part("@parent-agreement")
    assert "I, Sarah Clarke, agree" in agreement
    assert all(squash(r) in agreement for r in ctx["data"]["requirements"])
    support = doc.part("@authority-support")
    assert all(squash(s) in support for s in ctx["data"]["support"])
    assert doc.part("#review-date") == "30 November 2026"
    assert doc.part("#contract-period") == "19 October 2026 to 30 November 2026"
    status = doc.part("@legal-status")
    assert "not legally binding" in status and "compensation" in status
    signatures = doc.part("@signatures")
    assert "Parent: Sarah Clarke" in signatures and "Daniel Okafor" in signatures
    assert signatures.count("Signed") == 2


def test_attendance_contract_accepts_a_single_requirement_text():
    ctx = sample_context("parenting_contract")
    ctx["data"]["requirements"] = "Make sure Amelia attends every day."
    assert "Make sure Amelia attends every day." in letter("parenting_contract", ctx).part("@parent-agreement")


def test_action_plan_lists_actions_and_review_date():
    ctx = sample_context("action_plan")
    doc = letter("action_plan", ctx)
    actions = doc.part("#plan-actions")
    assert all(squash(a) in actions for a in ctx["data"]["actions"])
    assert doc.part("#review-date") == "2 November 2026"


def test_attendance_concern_gives_the_figures():
    doc = letter("attendance_concern")
    summary = doc.part("#attendance-summary")
    assert "26" in summary and "88.5%" in summary and "11.5%" in summary
    assert "section 7 of the Education Act 1996" in doc.text


def test_attendance_summary_without_rates_leaves_them_out():
    ctx = sample_context("attendance_concern")
    ctx["attendance"].update(absence_rate=None, attendance_rate=None)
    assert "%" not in letter("attendance_concern", ctx).part("#attendance-summary")


@pytest.mark.parametrize("section, expected", [("444(1)", "£1,000"), ("444(1A)", "£2,500")])
def test_prosecution_warning(section, expected):
    ctx = sample_context("prosecution_warning")
    ctx["prosecution"]["section"] = section
    doc = letter("prosecution_warning", ctx)
    offence = doc.part("@offence")
    assert f"section {section} of the Education Act 1996" in offence and expected in offence
    support = doc.part("@support-history")
    assert all(squash(item["what"]) in support for item in ctx["case"]["support_history"])
    assert doc.part("@next-steps")
    assert "independent legal advice" in doc.part("@legal-advice")
    assert "Mon 7 Dec 2026, morning: U" in doc.part("#unauthorised-sessions")
    assert "September" not in doc.part("#unauthorised-sessions")


def test_interview_invitation_states_rights_and_the_exact_caution():
    doc = letter("interview_invitation")
    assert doc.part("#caution-text") == CAUTION
    assert "not under arrest" in doc.part("#iuc-voluntary")
    assert "free to leave at any time" in doc.part("#iuc-voluntary")
    assert "free and independent legal advice" in doc.part("#iuc-legal-advice")
    assert "interpreter" in doc.part("#iuc-interpreter")
    assert "appropriate adult" in doc.part("#iuc-appropriate-adult")
    assert "recorded" in doc.part("#iuc-recorded")
    assert doc.part("#interview-date") == "Thursday 4 February 2027"
    assert doc.part("#interview-time") == "10:30am"
    assert "County Hall" in doc.part("#interview-place")
    assert "section 444(1A)" in doc.text


def test_interview_invitation_without_a_date_says_the_officer_will_arrange_it():
    ctx = sample_context("interview_invitation")
    del ctx["data"]["interview_on"]
    ctx["data"]["interview_place"] = None
    doc = letter("interview_invitation", ctx)
    assert not doc.has("#interview-details")
    assert "Daniel Okafor will contact you to arrange a date" in doc.part("#interview-arrange")
    assert doc.part("#caution-text") == CAUTION


def test_interview_invitation_with_a_date_but_no_time():
    ctx = sample_context("interview_invitation")
    ctx["data"]["interview_on"] = date(2027, 2, 4)
    doc = letter("interview_invitation", ctx)
    assert doc.part("#interview-date") == "Thursday 4 February 2027"
    assert not doc.has("#interview-time")


# PDFs -------------------------------------------------------------------------------------------------

def test_penalty_notice_pdf_is_valid_and_carries_the_key_facts():
    data = render_pdf("penalty_notice", sample_context("penalty_notice"))
    pages = validate_pdf(data)
    text = pdf_text(data)
    assert len(text) == pages
    assert f"Page 1 of {pages}" in text[0]
    assert f"Page {pages} of {pages}" in text[-1]
    everything = " ".join(text)
    for fact in ("PN-2026-00009", "£80.00", "£160.00", "6 January 2027", "13 January 2027",
                 "5 October 2026", "11 December 2026", "Sarah Clarke", "HF3 7QP"):
        assert fact in everything, fact
    assert all("CW-2026-00017/L5" in page for page in text)  # the reference is in every page footer


def test_second_notice_and_interview_pdfs():
    ctx = sample_context("penalty_notice")
    ctx["pn"].update(second_notice=True, amount_reduced=None, reduced_until=None)
    data = render_pdf("penalty_notice", ctx)
    validate_pdf(data)
    everything = " ".join(pdf_text(data))
    assert "£160.00" in everything and "£80.00" not in everything

    data = render_pdf("interview_invitation", sample_context("interview_invitation"))
    validate_pdf(data)
    everything = " ".join(pdf_text(data))
    assert "not under arrest" in everything
    assert "Anything you do say may be given in evidence." in everything


def test_batch_returns_one_valid_pdf_per_item_with_page_numbers_restarting():
    kinds = ["notice_to_improve", "attendance_concern", "penalty_notice", "interview_invitation"]
    pdfs = render_pdfs([(kind, sample_context(kind)) for kind in kinds])
    assert len(pdfs) == len(kinds)
    for kind, data in zip(kinds, pdfs):
        pages = validate_pdf(data)
        text = pdf_text(data)
        ref = sample_context(kind)["letter"]["ref"]
        assert f"Page 1 of {pages}" in text[0]
        assert f"Page {pages} of {pages}" in text[-1]
        assert all(ref in page for page in text)
    assert render_pdfs([]) == []


def _blank_pdf(width: float, height: float, count: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(count):
        writer.add_blank_page(width=width, height=height)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_validate_pdf_rejects_bad_letters():
    with pytest.raises(LetterError, match="readable"):
        validate_pdf(b"not a pdf")
    with pytest.raises(LetterError, match="A4 portrait"):
        validate_pdf(_blank_pdf(842, 595))
    with pytest.raises(LetterError, match="A4 portrait"):
        validate_pdf(_blank_pdf(612, 792))  # US Letter
    with pytest.raises(LetterError, match="no extractable text"):
        validate_pdf(_blank_pdf(595.28, 841.89))

    page = PdfReader(io.BytesIO(render_pdf("action_plan", sample_context("action_plan")))).pages[0]
    writer = PdfWriter()
    for _ in range(11):
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(LetterError, match="at most 10"):
        validate_pdf(out.getvalue())


# Storage ----------------------------------------------------------------------------------------------

def test_store_is_content_addressed_and_idempotent(storage):
    data = b"%PDF-1.7 example letter bytes"
    sha, path = letter_storage.store(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert path == f"{sha[:2]}/{sha}.pdf"
    stored = storage / path
    assert stored.read_bytes() == data
    mtime = stored.stat().st_mtime_ns

    assert letter_storage.store(data) == (sha, path)
    assert stored.stat().st_mtime_ns == mtime
    assert [p for p in storage.rglob("*") if p.is_file()] == [stored]  # no temp files left behind
    assert letter_storage.load(path) == data
    assert letter_storage.verify(path, sha)
    assert not letter_storage.verify(path, "0" * 64)
    assert not letter_storage.verify("ab/missing.pdf", sha)

    other_sha, other_path = letter_storage.store(b"another letter")
    assert other_path != path and letter_storage.verify(other_path, other_sha)


def test_store_refuses_to_overwrite_a_changed_file_and_stays_inside_the_store(storage):
    sha, path = letter_storage.store(b"original")
    target = storage / path
    target.chmod(0o644)
    target.write_bytes(b"tampered")
    assert not letter_storage.verify(path, sha)
    with pytest.raises(letter_storage.StorageError):
        letter_storage.store(b"original")
    assert target.read_bytes() == b"tampered"
    with pytest.raises(letter_storage.StorageError):
        letter_storage.load("../outside.pdf")


def test_rendered_letter_round_trips_through_storage(storage):
    data = render_pdf("penalty_notice_withdrawal", sample_context("penalty_notice_withdrawal"))
    sha, path = letter_storage.store(data)
    assert validate_pdf(letter_storage.load(path)) >= 1
    assert letter_storage.verify(path, sha)


# The complete set: every kind tagged, A4, within the page limit, preflight-clean -------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_a_tagged_a4_pdf_within_three_pages_that_passes_preflight(kind):
    ctx = sample_context(kind)
    rendered = render.render_jobs([render.job(kind, ctx)], max_pages=3)[0]
    assert rendered.problems == []
    pages = validate_pdf(rendered.pdf)
    assert pages == rendered.pages <= 3
    reader = PdfReader(io.BytesIO(rendered.pdf))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"], "a tagged PDF (PDF/UA-1)"
    assert root["/Lang"] == "en-GB"
    assert b"pdfuaid:part" in root["/Metadata"].get_object().get_data(), "declared PDF/UA"
    text = pdf_text(rendered.pdf)
    assert all(abs(float(p.mediabox.width) - 595.28) < 1 and abs(float(p.mediabox.height) - 841.89) < 1
               for p in reader.pages)
    assert "Sarah Clarke" in text[0] and "HF3 7QP" in text[0]
    assert f"Page 1 of {pages}" in text[0] and all(ctx["letter"]["ref"] in page for page in text)


def test_meeting_invitation_says_when_where_and_why():
    ctx = sample_context("meeting_invitation")
    doc = letter("meeting_invitation", ctx)
    assert doc.part("#meeting-date") == "Tuesday 29 September 2026"
    assert doc.part("#meeting-time") == "9:15am"
    assert doc.part("#meeting-place") == "Riverside Academy, main reception"
    assert doc.part("#meeting-purpose-text") == "To agree a support plan for Amelia's attendance."
    assert "another time" in doc.part("@when-where")
    assert "section 7 of the Education Act 1996" in doc.part("@why-it-matters")
    assert "26" in doc.part("#attendance-summary")


def test_meeting_not_attended_records_the_missed_meeting_and_offers_another():
    ctx = sample_context("meeting_not_attended")
    doc = letter("meeting_not_attended", ctx)
    assert doc.part("#missed-on") == "29 September 2026"
    assert doc.part("#meeting-date") == "Tuesday 6 October 2026" and doc.part("#meeting-time") == "3:30pm"
    assert "Support is still available" in doc.part("@support")
    assert "We will always tell you before we do" in doc.part("@consequences")
    del ctx["data"]["meeting_on"], ctx["data"]["meeting_place"]
    assert "will contact you to arrange another meeting" in letter("meeting_not_attended", ctx).part(
        "#meeting-arrange")


def test_the_letterhead_shows_the_logo_from_the_file_store(storage):
    from PIL import Image

    image = io.BytesIO()
    Image.new("RGB", (200, 50), (0, 0, 0)).save(image, format="PNG")
    _, path = letter_storage.store(image.getvalue())
    ctx = sample_context("action_plan")
    ctx["authority"]["logo"] = {"path": path, "media_type": "image/png"}
    assert f'src="casework-store:{path}"' in render_html("action_plan", ctx)
    assert 'alt="Harrowfield County Council logo"' in render_html("action_plan", ctx)
    first = PdfReader(io.BytesIO(render_pdf("action_plan", ctx))).pages[0]
    assert first["/Resources"]["/XObject"]
    ctx["authority"]["logo"] = {"path": "00/" + "0" * 64 + ".png", "media_type": "image/png"}
    with pytest.raises(LetterError, match="logo cannot be loaded"):
        render_pdf("action_plan", ctx)
    ctx["authority"]["logo"] = {"path": path, "media_type": "image/gif"}
    with pytest.raises(LetterError, match="image/png or image/svg"):
        render_pdf("action_plan", ctx)


def test_a_redacted_copy_is_marked_on_every_page():
    ctx = sample_context("penalty_notice")
    ctx["redaction"] = {"withheld": "the recipient's address", "original_sha256": "ab" * 32}
    text = pdf_text(render_pdf("penalty_notice", ctx))
    assert all("Redacted copy: the recipient's address withheld" in page and "ab" * 32 in page.replace(" ", "")
               for page in text)


# Preflight rules ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("postcode, valid", [
    ("IP24 1AA", True), ("NR1 2DH", True), ("ec1a 1bb", True), ("W1A 0AX", True), ("M1 1AE", True),
    ("GIR 0AA", True), ("B33 8TH", True), ("CR2 6XH", True), ("DN55 1PT", True),
    ("IP24 1A", False), ("AB1 2CD", False), ("Q1 1AA", False), ("12345", False), ("", False), ("IP241AAA", False),
])
def test_uk_postcodes(postcode, valid):
    assert preflight.valid_postcode(postcode) is valid


def test_address_problems():
    assert preflight.address_problems("Sam Tester", ["1 Mill Road", "Thetford", "IP24 1AA"]) == []
    assert preflight.address_problems("Sam Tester", ["1 Mill Road", "IP24 1AA"]) == []  # 3 lines with the name
    assert "at least 3" in preflight.address_problems("Sam Tester", ["IP24 1AA"])[0]
    assert "at most 7" in preflight.address_problems("Sam Tester", ["a", "b", "c", "d", "e", "f", "IP24 1AA"])[0]
    assert preflight.address_problems("Sam Tester", ["NFA", "Thetford", "IP24 1AA"]) == [
        "Sam Tester has no fixed abode: a letter cannot be posted to them"]
    assert "valid UK postcode ('Thetford')" in preflight.address_problems("Sam Tester", ["1 Mill Road", "Thetford"])[0]


def test_an_address_line_too_long_for_the_window_is_caught_in_the_layout():
    ctx = sample_context("attendance_concern")
    ctx["recipient"]["address_lines"] = ["Flat 2 " + "Longname" * 12, "Eastfield", "HF3 7QP"]
    problems = render.render_jobs([render.job("attendance_concern", ctx)], max_pages=3)[0].problems
    assert any("does not fit inside the envelope window" in p or "printed across the envelope window" in p
               for p in problems), problems
