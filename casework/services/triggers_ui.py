"""What a person firing a trigger needs to see: the fields a transition takes (read from the pathway definition),
which refusals the form's own input can still change, what the trigger will do (state, letters to whom, deadlines),
and labels in words for deadline kinds, data keys and choices. Pure reading: nothing here writes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from sqlmodel import Session, select

import workflows
from workflows import Decision, Facts
from workflows.data import DATE_KEYS, INT_KEYS, MONEY_KEYS, YES_NO_KEYS
from workflows.definition import Pathway, TransitionDef
from workflows.engine import missing_requirements
from workflows.guards import GUARDS, pn_refusal_for_parent

from .. import clock
from ..models import Case, Contact, PenaltyNotice, Pupil, User
from . import facts as facts_mod
from .cases import Outcome, amount_due_on
from .scope import can_see_pupil

# ---------------------------------------------------------------- words

# The pathway definition has no place for deadline labels (a kind is only named where a transition sets it, and
# `refund_due` is set by the withdrawal's effect), so they live here.
DEADLINE_LABELS = {
    "consultation_due": "Consultation with the school due",
    "plan_review_due": "Support plan review due",
    "contract_review_due": "Attendance contract review due",
    "improvement_period_ends": "Improvement period ends",
    "pn_reduced_period_ends": "Penalty notice: reduced rate ends",
    "pn_payment_period_ends": "Penalty notice: payment period ends",
    "limitation_date": "Limitation date: information must be laid by",
    "hearing": "Court hearing",
    "refund_due": "Refund of a withdrawn penalty notice due",
}
PENALTY_NOTICE_DEADLINES = {"pn_reduced_period_ends", "pn_payment_period_ends", "refund_due"}


def deadline_label(kind: str) -> str:
    """A deadline kind in words."""
    return DEADLINE_LABELS.get(kind, kind.replace("_", " ").capitalize())


@dataclass(frozen=True)
class FieldText:
    label: str
    what: str  # the noun phrase error messages use: "Enter the review date"
    hint: str = ""


# Every trigger data key of spec/interfaces.md, in the order a form asks for them.
FIELD_TEXT = {
    "support_inappropriate": FieldText("Why support is not appropriate", "why support is not appropriate",
                                       "For a holiday in term time, start with the word holiday"),
    "reason": FieldText("Why the case is stepping down", "why the case is stepping down"),
    "actions": FieldText("Actions agreed in the support plan", "the actions agreed",
                         "Who will do what, and by when"),
    "requirements": FieldText("What the parent agrees to do", "what the parent agrees to do"),
    "support": FieldText("Support the local authority will give", "the support the local authority will give"),
    "section": FieldText("Offence", "the offence"),
    "offence_start": FieldText("Offence period start", "the start of the offence period",
                               "The first day of the absence relied on"),
    "offence_end": FieldText("Offence period end", "the end of the offence period"),
    "early_reason": FieldText("Reason to issue before the improvement period ends",
                              "the reason to issue before the improvement period ends",
                              "Leave blank if the improvement period has ended"),
    "eso_considered": FieldText("Education supervision order considered", "what was considered about an education "
                                "supervision order", "Whether an order under section 447 was considered, and why it "
                                "was or was not pursued"),
    "decision": FieldText("Decision record", "the decision record",
                          "The evidence, support history, safeguarding, health and SEND, and the options considered"),
    "health_review": FieldText("Health and section 19 review", "the health and section 19 review",
                               "Needed when the pupil has an EHC plan or a health flag"),
    "improvement_weeks": FieldText("Improvement period in school weeks", "the improvement period"),
    "pn": FieldText("Penalty notice", "a penalty notice"),
    "amount": FieldText("Amount paid, in pounds", "the amount paid", "For example, 80.00"),
    "ground": FieldText("Ground for withdrawal", "the ground for withdrawal"),
    "invite": FieldText("Send an invitation to interview under caution?", "whether to send an invitation",
                        "Each parent gets a letter when you choose yes"),
    "interview_notes": FieldText("Interview notes", "the interview notes"),
    "court": FieldText("Magistrates' court", "the court"),
    "hearing_on": FieldText("Hearing date", "the hearing date"),
    "outcome": FieldText("Outcome", "an outcome"),
    "fine": FieldText("Fine, in pounds", "the fine"),
    "costs": FieldText("Costs, in pounds", "the costs"),
    "parenting_order_months": FieldText("Parenting order length in months", "the length of the parenting order",
                                        "Leave blank if no parenting order was made"),
    "order_start": FieldText("Parenting order start date", "the start date of the parenting order"),
    "review_on": FieldText("Review date", "the review date"),
    "parent_agreed": FieldText("Has the parent agreed to the contract?", "whether the parent has agreed",
                               "A contract cannot be made without the parent"),
    "note": FieldText("Note", "a note", "What happened and why the case is closing"),
}
TRIGGER_FIELD_TEXT = {
    ("record_outcome", "outcome"): FieldText("Court outcome", "the court outcome"),
    ("close", "outcome"): FieldText("Why the case is closing", "why the case is closing"),
    # raise_concern from the school portal (casework.services.portal.concern_data) or `case open --set`
    ("raise_concern", "reason"): FieldText("The concern", "the concern"),
    ("raise_concern", "actions"): FieldText("What had been tried", "what had been tried"),
    ("raise_concern", "note"): FieldText("Details", "the details"),
    ("raise_concern", "lane"): FieldText("Opened for", "what the case was opened for"),
}
LANES = {"pn_request": "a school's penalty notice request (no concern letter)"}
CHOICE_LABELS = {
    "withdrawal_ground": {"ought_not_to_have_been_issued": "It ought not to have been issued",
                          "wrong_person": "It was issued to the wrong person",
                          "material_error": "It contains a material error"},
    "section": {"444(1)": "Section 444(1): failure to secure regular attendance",
                "444(1A)": "Section 444(1A): knowing failure to secure regular attendance"},
    "court_outcome": {"convicted": "Convicted", "acquitted": "Acquitted", "withdrawn": "Withdrawn",
                      "discharged": "Discharged"},
    "close_outcome": {"attendance_improved": "Attendance improved", "moved_out_of_area": "Moved out of the area",
                      "elective_home_education": "Elective home education",
                      "children_missing_education": "Referred as a child missing education",
                      "penalty_paid": "Penalty paid", "no_further_action": "No further action", "other": "Other"},
}
YES_NO = (("yes", "Yes"), ("no", "No"))
# The effective date (`--on`) in the words of the trigger; "Date this happened" otherwise.
HAPPENED_TEXT = {
    "record_payment": FieldText("Date the payment was received", "the date the payment was received"),
    "record_interview": FieldText("Date of the interview or invitation", "the date of the interview or invitation"),
    "lay_information": FieldText("Date the information was laid", "the date the information was laid"),
    "record_outcome": FieldText("Date of the court's decision", "the date of the court's decision"),
}
HAPPENED = FieldText("Date this happened", "the date this happened")


def happened_text(trigger: str) -> FieldText:
    return HAPPENED_TEXT.get(trigger, HAPPENED)


def data_label(key: str, trigger: str | None = None) -> str:
    """A trigger data key in words (for the chronology), in the trigger's own words where it has them."""
    text = TRIGGER_FIELD_TEXT.get((trigger, key)) or FIELD_TEXT.get(key)
    return text.label if text else key.replace("_", " ").capitalize()


def choice_label(choices_key: str, value: str) -> str:
    return CHOICE_LABELS.get(choices_key, {}).get(value, value.replace("_", " ").capitalize())


# ---------------------------------------------------------------- the fields of a transition

OFFENCE_KEYS = frozenset({"offence_start", "offence_end"})
# The trigger data each guard reads (directly, or through the offence period the data gives). A guard whose refusal
# depends only on the case (role, support offered, no outstanding PN...) is absent: no form input can change it.
GUARD_INPUTS = {
    "review_date_in_future": {"review_on"},
    "parent_agreed": {"parent_agreed"},
    "improvement_weeks_in_range": {"improvement_weeks"},
    "improvement_period_ended_or_early_reason": {"early_reason"},
    "pn_on_case_and_not_withdrawn": {"pn"},
    "amount_positive": {"amount"},
    "withdrawal_ground_valid": {"ground"},
    "section_valid": {"section"},
    "court_outcome_valid": {"outcome"},
    "close_outcome_valid": {"outcome"},
    "health_review_given_where_needed": {"health_review"},
    "hearing_after_laying": {"hearing_on"},
    "parenting_order_within_limit": {"parenting_order_months"},
    "offence_period_valid": OFFENCE_KEYS,
}
# Guards judged over the offence period: the form can change them only where it asks for the period.
PERIOD_GUARDS = {
    "pn_threshold_met_in_offence_period", "no_n_codes_in_offence_period", "compulsory_school_age_throughout",
    "some_parent_eligible_for_pn", "unauthorised_absence_in_offence_period", "no_paid_pn_covers_offence_period",
    "relied_pns_past_payment_period", "within_limitation",
}
# The guard that checks a key against one of the definition's `choices` lists.
CHOICE_GUARDS = {
    "withdrawal_ground_valid": ("ground", "withdrawal_ground"),
    "section_valid": ("section", "section"),
    "court_outcome_valid": ("outcome", "court_outcome"),
    "close_outcome_valid": ("outcome", "close_outcome"),
}
# Data a trigger records that no guard reads (kept in the chronology and used by letters).
RECORDED_ONLY = {"record_interview": ("interview_notes",), "record_outcome": ("fine", "costs", "order_start")}
PAST_DATE_KEYS = frozenset({"offence_start", "offence_end"})  # on or before the date the trigger happened
LATER_DATE_KEYS = {"review_on": "after", "hearing_on": "on_or_after"}  # compared with the date it happened


@dataclass(frozen=True)
class FieldSpec:
    """One input of a trigger's form, as the pathway definition describes it."""

    key: str
    kind: str  # date | number | money | choice | penalty_notice | text
    text: FieldText
    required: bool
    choices: tuple[tuple[str, str], ...] = ()
    minimum: int | None = None
    maximum: int | None = None


def _guard_inputs(guard: str) -> set[str]:
    return set(OFFENCE_KEYS) if guard in PERIOD_GUARDS else set(GUARD_INPUTS.get(guard, ()))


def _number_range(pathway: Pathway, key: str) -> tuple[int | None, int | None]:
    s = pathway.settings
    if key == "improvement_weeks":
        return int(s["improvement_weeks_min"]), int(s["improvement_weeks_max"])
    if key == "parenting_order_months":
        return 1, int(s["parenting_order_max_months"])
    return None, None


def _spec(pathway: Pathway, t: TransitionDef, key: str, choice_sets: dict[str, str]) -> FieldSpec:
    text = TRIGGER_FIELD_TEXT.get((t.trigger, key)) or FIELD_TEXT.get(key) or FieldText(data_label(key), key)
    required = key in t.requires
    if key in DATE_KEYS:
        return FieldSpec(key, "date", text, required)
    if key in INT_KEYS:
        low, high = _number_range(pathway, key)
        return FieldSpec(key, "number", text, required, minimum=low, maximum=high)
    if key in MONEY_KEYS:
        return FieldSpec(key, "money", text, required)
    if key in YES_NO_KEYS:
        return FieldSpec(key, "choice", text, required, YES_NO)
    if key == "pn":
        return FieldSpec(key, "penalty_notice", text, required)
    if key in choice_sets:
        values = pathway.choices[choice_sets[key]]
        return FieldSpec(key, "choice", text, required,
                         tuple((v, choice_label(choice_sets[key], v)) for v in values))
    return FieldSpec(key, "text", text, required)


@lru_cache(maxsize=None)
def _field_specs(pathway_key: str, trigger: str, sources: tuple[str, ...]) -> tuple[FieldSpec, ...]:
    pathway = workflows.load_key(pathway_key)
    t = next(t for t in pathway.transitions if t.trigger == trigger and t.sources == sources)
    keys = set(t.requires) | set(t.defaults) | set(t.letters_when) | set(RECORDED_ONLY.get(trigger, ()))
    for guard in t.guards:
        if guard not in PERIOD_GUARDS:
            keys |= _guard_inputs(guard)
    choice_sets = {key: name for guard, (key, name) in CHOICE_GUARDS.items() if guard in t.guards}
    order = list(FIELD_TEXT)
    ordered = sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))
    return tuple(_spec(pathway, t, key, choice_sets) for key in ordered)


def field_specs(pathway: Pathway, t: TransitionDef) -> tuple[FieldSpec, ...]:
    """The inputs a transition takes: required ones from `requires`, the rest from its defaults, the data its guards
    and letters read, and what it records; typed by `workflows.data`, choices from the definition's `choices`."""
    return _field_specs(pathway.key, t.trigger, t.sources)


def initial_values(pathway: Pathway, t: TransitionDef, facts: Facts | None, today: date,
                   pn_options: list[tuple[str, str]]) -> dict:
    """What the form starts with: the definition's defaults, the offence period the service would use, today."""
    values: dict = {"happened_on": today}
    for key, spec in t.defaults.items():
        if "weeks" in spec:
            values[key] = today + timedelta(weeks=int(pathway.settings[spec["weeks"]]))
    keys = {f.key for f in field_specs(pathway, t)}
    if "improvement_weeks" in keys:
        values["improvement_weeks"] = str(pathway.settings["improvement_weeks_default"])
    if OFFENCE_KEYS <= keys and facts is not None and facts.offence_start and facts.offence_end:
        values["offence_start"], values["offence_end"] = facts.offence_start, facts.offence_end
    if "pn" in keys and len(pn_options) == 1:
        values["pn"] = pn_options[0][0]
    return values


def penalty_notice_options(session: Session, case: Case) -> list[tuple[str, str]]:
    """(ref, description) of each penalty notice on the case that a payment or withdrawal may name."""
    rows = session.exec(select(PenaltyNotice, Contact).join(Contact, Contact.id == PenaltyNotice.contact_id)
                        .where(PenaltyNotice.case_id == case.id, PenaltyNotice.status != "withdrawn")
                        .order_by(PenaltyNotice.id)).all()
    today = clock.today()
    return [(pn.ref, f"{pn.ref} to {_name(contact)}: {pn.status}, £{amount_due_on(pn, today)} due today")
            for pn, contact in rows]


# ---------------------------------------------------------------- judging for a form

@dataclass(frozen=True)
class TriggerCheck:
    """A trigger of the case's state judged for a user with no input yet, split into what no form input can change
    (`blocking`) and what the input decides (`advice`, shown beside the form)."""

    trigger: str
    label: str
    transition: TransitionDef | None
    decision: Decision | None
    blocking: tuple[str, ...]
    advice: tuple[str, ...] = ()
    facts: Facts | None = None
    role_refused: bool = False

    @property
    def available(self) -> bool:
        return self.transition is not None and not self.blocking


def _check(pathway: Pathway, state: str, t: TransitionDef, facts: Facts) -> TriggerCheck:
    decision = workflows.judge(pathway, state, t.trigger, facts, {})
    if facts.actor_role not in t.roles:  # judge gives the role first; the rest is not this user's business
        return TriggerCheck(t.trigger, t.label, t, decision, decision.reasons[:1], facts=facts, role_refused=True)
    keys = {f.key for f in field_specs(pathway, t)}
    input_decides = set(missing_requirements(t, {}))
    advice = []
    for guard in t.guards:
        reads = _guard_inputs(guard) & keys
        if not reads:
            continue
        reasons = GUARDS[guard](facts, {})
        input_decides.update(reasons)
        if not reads <= set(t.requires):  # a required field the form asks for anyway needs no advice
            advice += reasons
    return TriggerCheck(t.trigger, t.label, t, decision, tuple(r for r in decision.reasons if r not in input_decides),
                        tuple(advice), facts)


def in_words(reason: str, specs: tuple[FieldSpec, ...]) -> tuple[str, str | None]:
    """A guard's reason as a form shows it: the data keys it names (the CLI's `--set` names, such as early_reason)
    in the words of their fields, starting with a capital; and the key of the first field it names, or None.
    Only keys with an underscore are replaced: a one-word key (note, reason) is also an ordinary word."""
    about = None
    for spec in specs:
        if "_" not in spec.key:
            continue
        pattern = rf"\b{re.escape(spec.key)}\b"
        if re.search(pattern, reason):
            about = about or spec.key
            reason = re.sub(pattern, spec.text.what, reason)
    return reason[:1].upper() + reason[1:], about


def check_triggers(session: Session, case: Case, user: User, on: date | None = None,
                   ctx: facts_mod.CaseContext | None = None) -> list[TriggerCheck]:
    """Every trigger of the case's state, judged now for this user (`ctx`: the case's context, when already loaded)."""
    on = on or clock.today()
    pathway = workflows.load_key(case.pathway)
    pupil = session.get(Pupil, case.pupil_id)
    ctx = ctx or facts_mod.load_context(session, pupil)
    in_scope = can_see_pupil(session, user, pupil)
    return [_check(pathway, case.state, t, facts_mod.build(session, pathway, user=user, actor_has_pupil=in_scope,
                                                           ctx=ctx, case=case, on=on, data={}, t=t))
            for t in pathway.transitions_from(case.state)]


def check_trigger(session: Session, case: Case, trigger: str, user: User, on: date | None = None) -> TriggerCheck:
    """One trigger judged for a form; when the case's state does not offer it, a check saying so."""
    pathway = workflows.load_key(case.pathway)
    t = pathway.find(trigger, case.state)
    if t is None:
        label = next(t.label for t in pathway.transitions if t.trigger == trigger)
        if not any(user.role in t.roles for t in pathway.transitions if t.trigger == trigger):
            return TriggerCheck(trigger, label, None, None, (f"your role ({user.role}) may not {label.lower()}",),
                                role_refused=True)
        return TriggerCheck(trigger, label, None, None,
                            (f"this cannot be done while the case is at {pathway.label(case.state)}",))
    on = on or clock.today()
    pupil = session.get(Pupil, case.pupil_id)
    facts = facts_mod.build(session, pathway, user=user, actor_has_pupil=can_see_pupil(session, user, pupil),
                            ctx=facts_mod.load_context(session, pupil), case=case, on=on, data={}, t=t)
    return _check(pathway, case.state, t, facts)


# ---------------------------------------------------------------- what a trigger will do

@dataclass(frozen=True)
class LetterPlan:
    label: str
    recipients: tuple[str, ...]
    condition: str = ""


@dataclass(frozen=True)
class Preview:
    """What firing the trigger will do, in words."""

    new_state: str
    moves: bool
    letters: tuple[LetterPlan, ...]
    deadlines: tuple[tuple[str, str], ...]
    left_out: tuple[str, ...] = ()  # parents who will get no penalty notice, and why


def _parent_line(parent: facts_mod.Parent) -> str:
    return f"{parent.name} ({parent.link.relationship})" if parent.link.relationship else parent.name


def _recipients(to: str, parents: list[facts_mod.Parent], facts: Facts) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if to == "parents":
        return tuple(_parent_line(p) for p in parents), ()
    if to == "penalty_notice_recipients":
        by_ref = {p.contact_ref: p for p in facts.parents}
        refusals = {p.contact.contact_ref: pn_refusal_for_parent(facts, by_ref[p.contact.contact_ref]) for p in parents}
        return (tuple(_parent_line(p) for p in parents if not refusals[p.contact.contact_ref]),
                tuple(r for r in refusals.values() if r))
    if to == "penalty_notice_recipient":
        return ("the person the chosen penalty notice was issued to",), ()
    return (to.replace("_", " "),), ()


def _deadline_when(pathway: Pathway, spec: dict) -> str:
    s = pathway.settings
    if "school_days" in spec:
        return f"{s[spec['school_days']]} school days after the date this happened"
    if "from_data" in spec:
        return f"on {FIELD_TEXT[spec['from_data']].what} you give" if spec["from_data"] in FIELD_TEXT else "as given"
    if "school_weeks_from_data" in spec:
        return "the number of school weeks you give, counted from the date this happened"
    if spec.get("from_facts") == "limitation_date":
        return f"{s['limitation_months']} months after the earliest absence in the offence period"
    receipt = f"receipt, deemed {s['deemed_receipt_working_days']} working days after posting"
    if spec.get("per_penalty_notice") == "reduced_until":
        return f"for each first penalty notice, {s['pn_reduced_period_days']} days after {receipt}"
    if spec.get("per_penalty_notice") == "pay_by":
        return f"for each penalty notice, {s['pn_payment_period_days']} days after {receipt}"
    return "as the pathway sets it"


def _condition(t: TransitionDef) -> str:
    return " and ".join(f"only if {FIELD_TEXT[k].what if k in FIELD_TEXT else k} is {v}"
                        for k, v in t.letters_when.items())


def preview(session: Session, case: Case, check: TriggerCheck) -> Preview:
    """The new state, the letters that will be issued and to whom (each parent), and the deadlines set."""
    pathway = workflows.load_key(case.pathway)
    t, facts = check.transition, check.facts
    parents = facts_mod.parents_of(session, session.get(Pupil, case.pupil_id))
    letters, left_out = [], ()
    for kind in t.letters:
        spec = pathway.letters[kind]
        recipients, refused = _recipients(spec["to"], parents, facts)
        left_out += refused
        letters.append(LetterPlan(spec.get("label", kind), recipients, _condition(t)))
    deadlines = tuple((deadline_label(d["kind"]), _deadline_when(pathway, d)) for d in t.deadlines)
    dest = t.dest_from(case.state)
    return Preview(pathway.label(dest), dest != case.state, tuple(letters), deadlines, left_out)


# ---------------------------------------------------------------- after firing

def contact_names(session: Session, pupil_id: int, parents: list[facts_mod.Parent] | None = None) -> dict[str, str]:
    """contact_ref → name of the pupil's parents (`parents`, when already loaded), for letters and penalty notices."""
    if parents is None:
        parents = facts_mod.parents_of(session, session.get(Pupil, pupil_id))
    return {p.contact.contact_ref: p.name for p in parents}


def outcome_message(session: Session, outcome: Outcome) -> str:
    """One sentence for the person who fired the trigger: where the case is, which letters went to whom, and notes."""
    pathway = workflows.load_key(outcome.case.pathway)
    label = next(t.label for t in pathway.transitions if t.trigger == outcome.event.trigger)
    parts = [f"{label}: done. The case is now at {pathway.label(outcome.case.state)}."]
    if outcome.penalty_notices and outcome.event.trigger == "issue_penalty_notice":
        parts.append("Penalty notices issued: " + ", ".join(pn.ref for pn in outcome.penalty_notices) + ".")
    contacts = {c.id: c for c in session.exec(select(Contact).where(
        Contact.id.in_({letter.contact_id for letter in outcome.letters}))).all()} if outcome.letters else {}
    if outcome.letters:
        parts.append("Letters issued: " + "; ".join(
            f"{pathway.letters.get(letter.kind, {}).get('label', letter.kind)} to {_name(contacts[letter.contact_id])}"
            for letter in outcome.letters) + ".")
    else:
        parts.append("No letters were issued.")
    parts += [note[0].upper() + note[1:] + "." for note in outcome.notes]
    return " ".join(parts)


def _name(contact: Contact) -> str:
    return " ".join(p for p in (contact.title, contact.forename, contact.surname) if p)


# ---------------------------------------------------------------- the case page

@dataclass(frozen=True)
class Step:
    """One state of the pathway as the case page draws it."""

    state: str
    label: str
    current: bool
    visited: bool
    next_by: tuple[str, ...]  # the labels of this state's triggers that lead here from the current state


def pathway_steps(pathway: Pathway, state: str, visited: set[str], checks: list[TriggerCheck]) -> list[Step]:
    """The pathway's states in order: the current one, those the case has been in, and those it can move to next."""
    leads_to: dict[str, list[str]] = {}
    for check in checks:
        if check.transition is not None and check.transition.dest_from(state) != state:
            leads_to.setdefault(check.transition.dest_from(state), []).append(check.label)
    return [Step(s, pathway.label(s), s == state, s in visited and s != state, tuple(leads_to.get(s, ())))
            for s in pathway.states]


def event_label(pathway: Pathway, trigger: str, from_state: str | None) -> str:
    """What a chronology event did, in the words of the transition it fired (a tick's deadline, a drift alert...)."""
    t = pathway.find(trigger, from_state)
    return t.label if t else trigger.replace("_", " ").capitalize()


def asks_for(pathway: Pathway, check: TriggerCheck) -> list[str]:
    """What the trigger's form requires, in words."""
    if check.transition is None:
        return []
    return [spec.text.label for spec in field_specs(pathway, check.transition) if spec.required]


def event_details(pathway: Pathway, trigger: str, data: dict) -> list[tuple[str, str]]:
    """An event's data in words: labels for keys, choices and deadline kinds; lists joined."""
    choice_sets = {key: name for t in pathway.transitions if t.trigger == trigger
                   for guard, (key, name) in CHOICE_GUARDS.items() if guard in t.guards}
    details = []
    for key, value in data.items():
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif key == "deadline":
            text = deadline_label(str(value))
        elif key == "lane":
            text = LANES.get(str(value), str(value))
        elif key in choice_sets:
            text = choice_label(choice_sets[key], str(value))
        else:
            text = str(value)
        details.append((data_label(key, trigger), text))
    return details
