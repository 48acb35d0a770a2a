"""Block Kit for reviewing eval cases in Slack (pure builders over slack_sdk's models).

``/compare cases`` shows a page of proposed cases, each with Approve → rotating,
Approve → golden, Edit and Reject; the Edit modal changes the expected answer, the
must include / must not include lists, category, severity and tags. Case text is
redacted already, and escaped here like any untrusted text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)

from bot.messages.compare_result import modal
from bot.slack.mrkdwn import SECTION_TEXT_LIMIT, escape, truncate
from bot.slack.payload import input_element
from evals.cases.assertions import AssertionType
from evals.cases.schema import CaseSet, EvalCase, Severity
from evals.cases.sets import phrases, short_version, with_phrases

JSON = dict[str, Any]

PAGE_SIZE = 5

ACTION_APPROVE_ROTATING = "cases_approve_rotating"
ACTION_APPROVE_GOLDEN = "cases_approve_golden"
ACTION_EDIT = "cases_edit"
ACTION_REJECT = "cases_reject"
ACTION_PAGE = "cases_page"
EDIT_CALLBACK = "cases_edit_submit"

BLOCK_EXPECTED = "expected"
BLOCK_MUST_INCLUDE = "must_include"
BLOCK_MUST_NOT = "must_not_include"
BLOCK_CATEGORY = "category"
BLOCK_SEVERITY = "severity"
BLOCK_TAGS = "tags"
INPUT = "value"

SEVERITY_LABEL = {Severity.LOW: "Low", Severity.MEDIUM: "Medium", Severity.HIGH: "High"}
NO_CATEGORY = "none"

REFUSAL_TEXT = (
    "Sorry, reviewing eval cases is limited to the case reviewers. "
    "If you should be one, ask an admin to add you to `slack.reviewers` "
    "(or the reviewer group) in quorum.yaml."
)
NO_REVIEWERS_TEXT = (
    "Nobody can review eval cases yet: an admin needs to list reviewers in "
    "`slack.reviewers` (Slack user ids) or `slack.reviewer_group` in quorum.yaml."
)


@dataclass(frozen=True)
class SetVersion:
    case_set: CaseSet
    active: int
    version: str


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_LIMIT)))


def _context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(t, 2000)) for t in texts])


def _flat(text: str, limit: int) -> str:
    return escape(truncate(" ".join(text.split()), limit))


def versions_line(versions: Sequence[SetVersion]) -> str:
    return " · ".join(
        f"*{v.case_set.value}*: {v.active} active, version `{short_version(v.version)}`"
        for v in versions
    )


def case_summary(case: EvalCase) -> list[Block]:
    """A case as a reviewer reads it: question, context, expected answer, what the panel
    said, and its labels."""
    lines = [f"*Question:* {_flat(case.input.question, 700)}"]
    if case.input.context:
        lines.append(f"_(after {len(case.input.context)} earlier message(s) in the thread)_")
    if case.expected:
        lines.append(f"*Expected:* {_flat(case.expected, 500)}")
    if case.assertions:
        shown = [_flat(a.describe(), 120) for a in case.assertions[:10]]
        more = len(case.assertions) - len(shown)
        lines.append("*Checks:* " + "; ".join(shown) + (f"; and {more} more" if more else ""))
        if case.threshold is not None:
            lines.append(f"_(passes at a weighted score of {case.threshold:g})_")
    lines += _observed_lines(case)
    labels = [
        f"`{case.id}`",
        f"severity {case.severity.value}",
        f"category {escape(case.category)}" if case.category else "no category",
    ]
    if case.tags:
        labels.append("tags " + ", ".join(escape(t) for t in case.tags))
    if case.merged_count:
        labels.append(f"flagged {case.merged_count + 1}×")
    if case.source_link:
        labels.append(f"<{case.source_link}|source>")
    return [_section("\n".join(lines)), _context(" · ".join(labels))]


def _observed_lines(case: EvalCase) -> list[str]:
    """What was flagged first (a member's own answer, as it was), then what the panel
    said; the consensus line says when it is the answer that was flagged."""
    observed = case.observed
    if observed is None:
        return []
    lines: list[str] = []
    by_model = {a.model: a for a in observed.answers}
    for member in observed.flagged:
        answer = by_model.get(member)
        if member == observed.consensus_model or answer is None:
            continue
        said = (
            _flat(answer.text, 300) if answer.text else f"_(failed: {escape(answer.error or '?')})_"
        )
        lines.append(f"*Flagged answer ({escape(member)}):* {said}")
    if observed.consensus_text:
        model = observed.consensus_model or "panel"
        flagged = " — the flagged answer" if model in observed.flagged else ""
        lines.append(
            f"*Panel said ({escape(model)}){flagged}:* {_flat(observed.consensus_text, 300)}"
        )
    return lines


def flagged_answer_words(case: EvalCase) -> str:
    """ "*gamma*'s answer", "the panel's answer" or "an answer": what a signal was on."""
    observed = case.observed
    if observed is None or len(observed.flagged) != 1:
        return "an answer"
    (member,) = observed.flagged
    if member == observed.consensus_model:
        return "the panel's answer"
    return f"*{escape(member)}*'s answer"


def case_actions(case: EvalCase, page: int = 1) -> ActionsBlock:
    """The review buttons; the block id remembers the page (Slack does not send
    ephemeral messages back with their actions)."""
    return ActionsBlock(
        block_id=f"cases:p{page}:{case.id}"[:255],
        elements=[
            ButtonElement(
                text="Approve → rotating", action_id=ACTION_APPROVE_ROTATING, value=case.id
            ),
            ButtonElement(
                text="Approve → golden",
                action_id=ACTION_APPROVE_GOLDEN,
                value=case.id,
                style="primary",
                confirm=None if _has_answer_key(case) else _confirm_golden_without_answer(),
            ),
            ButtonElement(text="Edit", action_id=ACTION_EDIT, value=case.id),
            ButtonElement(text="Reject", action_id=ACTION_REJECT, value=case.id, style="danger"),
        ],
    )


def _has_answer_key(case: EvalCase) -> bool:
    """Whether the case says what a right answer is (an expected answer or a check other
    than the judge's rubric)."""
    return bool(case.expected) or any(
        a.type is not AssertionType.LLM_RUBRIC for a in case.assertions
    )


def _confirm_golden_without_answer() -> ConfirmObject:
    return ConfirmObject(
        title="No expected answer",
        text=(
            "This case says nothing about what a right answer is, so only the judge can "
            "score it. Golden cases are frozen. Approve it into golden anyway?"
        ),
        confirm="Approve anyway",
        deny="Go back",
    )


#: The signal a production case came from (its tag), as people see it.
SIGNAL_WORDS = {"thumbs-down": "👎", "flagged": "🚩", "corrected": "✏️ correction"}


def signal_of(case: EvalCase) -> str:
    """ "👎", "🚩" or "✏️ correction" for a production case; "flag" if unknown."""
    for tag, words in SIGNAL_WORDS.items():
        if tag in case.tags:
            return words
    return "flag"


def review_blocks(
    cases: Sequence[EvalCase],
    *,
    total: int,
    page: int,
    versions: Sequence[SetVersion],
    note: str | None = None,
    page_size: int = PAGE_SIZE,
) -> list[JSON]:
    """One page of proposed cases with review buttons and pagination (≤ 50 blocks)."""
    blocks: list[Block] = [HeaderBlock(text=f"Proposed eval cases ({total})")]
    if note:
        blocks.append(_section(note))
    blocks.append(_context(versions_line(versions)))
    if not cases:
        blocks.append(
            _section(
                "Nothing to review. 🎉 New cases appear here when people 👎, 🚩 or correct an answer."
            )
        )
    for case in cases:
        blocks += [DividerBlock(), *case_summary(case), case_actions(case, page)]
    pages = max(1, -(-total // page_size))
    if pages > 1:
        nav: list[ButtonElement] = []
        if page > 1:
            nav.append(
                ButtonElement(text="← Newer", action_id=f"{ACTION_PAGE}_prev", value=str(page - 1))
            )
        if page < pages:
            nav.append(
                ButtonElement(text="Older →", action_id=f"{ACTION_PAGE}_next", value=str(page + 1))
            )
        blocks += [DividerBlock(), _context(f"Page {page} of {pages}"), ActionsBlock(elements=nav)]
    return [b.to_dict() for b in blocks]


def page_of_block(block_id: str) -> int | None:
    """The page a review button was on (see :func:`case_actions`)."""
    parts = block_id.split(":", 2)
    if len(parts) == 3 and parts[0] == "cases" and parts[1].startswith("p"):
        try:
            return max(1, int(parts[1][1:]))
        except ValueError:
            return None
    return None


def review_text(total: int) -> str:
    return f"{total} proposed eval case(s) to review"


def new_case_notice(case: EvalCase) -> list[JSON]:
    """Posted to the review channel when a new case is proposed."""
    blocks: list[Block] = [
        _section(
            f"🆕 *A new eval case was proposed* from a {signal_of(case)} on "
            f"{flagged_answer_words(case)}."
        ),
        *case_summary(case),
        _context("Review it with `/compare cases`."),
    ]
    return [b.to_dict() for b in blocks]


def notice_text(case: EvalCase) -> str:
    return (
        f"New proposed eval case {case.id}: {truncate(' '.join(case.input.question.split()), 150)}"
    )


def _lines(values: Sequence[str]) -> str:
    return "\n".join(values)


def edit_modal(case: EvalCase, metadata: Mapping[str, Any]) -> JSON:
    """The Edit modal, pre-filled; ``metadata`` round-trips in ``private_metadata``."""

    def text_input(
        block_id: str, label: str, initial: str, *, multiline: bool, hint: str
    ) -> InputBlock:
        return InputBlock(
            block_id=block_id,
            label=label,
            optional=True,
            hint=hint,
            element=PlainTextInputElement(
                action_id=INPUT,
                multiline=multiline,
                initial_value=initial or None,
                max_length=3000,
            ),
        )

    blocks: list[Block] = [
        _context(f"*Question:* {_flat(case.input.question, 1500)}"),
        text_input(
            BLOCK_EXPECTED,
            "Expected answer",
            case.expected or "",
            multiline=True,
            hint="Leave empty for none.",
        ),
        text_input(
            BLOCK_MUST_INCLUDE,
            "Must include",
            _lines(phrases(case.assertions, AssertionType.ICONTAINS)),
            multiline=True,
            hint="One phrase per line; the answer must contain each (any case).",
        ),
        text_input(
            BLOCK_MUST_NOT,
            "Must not include",
            _lines(phrases(case.assertions, AssertionType.NOT_ICONTAINS)),
            multiline=True,
            hint="One phrase per line; the answer must contain none (any case).",
        ),
        text_input(
            BLOCK_CATEGORY,
            "Category",
            case.category or "",
            multiline=False,
            hint="What kind of question this is (billing, sql, k8s…); reports break results "
            "down by it. Leave empty for none.",
        ),
        InputBlock(
            block_id=BLOCK_SEVERITY,
            label="Severity",
            element=StaticSelectElement(
                action_id=INPUT,
                options=[Option(value=s.value, text=SEVERITY_LABEL[s]) for s in Severity],
                initial_option=Option(
                    value=case.severity.value, text=SEVERITY_LABEL[case.severity]
                ),
            ),
        ),
        text_input(
            BLOCK_TAGS, "Tags", ", ".join(case.tags), multiline=False, hint="Comma-separated."
        ),
    ]
    others = [
        a.describe()
        for a in case.assertions
        if a.type not in (AssertionType.ICONTAINS, AssertionType.NOT_ICONTAINS)
    ]
    if others:
        kept = "Also checked (kept as is; change with `quorum cases edit`): " + "; ".join(others)
        blocks.insert(1, _context(_flat(kept, 1500)))
    if case.set is CaseSet.GOLDEN:
        blocks.insert(1, _context("⚠️ This case is golden: saving creates a new version."))
    return modal(
        callback_id=EDIT_CALLBACK,
        title="Edit eval case",
        submit="Save",
        blocks=blocks,
        metadata=metadata,
    )


def _value(values: Mapping[str, Any], block_id: str) -> JSON:
    return input_element(values, block_id, INPUT)


EDIT_BLOCKS = (
    BLOCK_EXPECTED,
    BLOCK_MUST_INCLUDE,
    BLOCK_MUST_NOT,
    BLOCK_CATEGORY,
    BLOCK_SEVERITY,
    BLOCK_TAGS,
)
INCOMPLETE_EDIT = "Sorry, this form came back incomplete. Please close it and press Edit again."


def edit_is_complete(state_values: Mapping[str, Any]) -> bool:
    """Whether a submitted Edit modal carries every text input, each as the modal made
    it (Slack always sends them all): a form that does not is refused whole, never half
    applied, and a missing input is never taken as "clear it". The severity select, when
    sent, must hold a severity (left out, the severity is unchanged)."""
    texts = [b for b in EDIT_BLOCKS if b != BLOCK_SEVERITY]
    for block_id in texts:
        element = _value(state_values, block_id)
        if "value" not in element or not isinstance(element["value"], str | None):
            return False
    if BLOCK_SEVERITY not in state_values:
        return True
    option = _value(state_values, BLOCK_SEVERITY).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value in {s.value for s in Severity}


def edit_changes(state_values: Mapping[str, Any], case: EvalCase) -> dict[str, Any]:
    """The changes a submitted Edit modal asks for (``view.state.values``) to ``case``:
    its must (not) include phrases replace its ``icontains`` / ``not-icontains``
    assertions; its other assertions are kept."""

    def text(block_id: str) -> str:
        value = _value(state_values, block_id).get("value")
        return value.strip() if isinstance(value, str) else ""

    def items(block_id: str, sep: str) -> list[str]:
        return [p.strip() for p in text(block_id).split(sep) if p.strip()]

    def selected(block_id: str) -> str | None:
        option = _value(state_values, block_id).get("selected_option")
        value = option.get("value") if isinstance(option, dict) else None
        return value if isinstance(value, str) and value else None

    category = text(BLOCK_CATEGORY) or selected(BLOCK_CATEGORY)
    changes: dict[str, Any] = {
        "expected": text(BLOCK_EXPECTED) or None,
        "assertions": with_phrases(
            case.assertions,
            include=items(BLOCK_MUST_INCLUDE, "\n"),
            exclude=items(BLOCK_MUST_NOT, "\n"),
        ),
        "category": None if category in (None, NO_CATEGORY) else category,
        "tags": sorted(set(items(BLOCK_TAGS, ","))),
    }
    severity = selected(BLOCK_SEVERITY)
    if severity is not None:
        changes["severity"] = severity
    return changes
