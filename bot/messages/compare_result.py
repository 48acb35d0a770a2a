"""Pure Block Kit builders (slack_sdk block models) for everything Quorum posts.

Every builder returns plain JSON-ready dicts produced by the slack_sdk models'
``to_dict()``, which validates Slack's limits (3000 characters per section, 10 context
elements, 25 actions...). Messages are also held to 50 blocks by :func:`fit_blocks`.
Model output and questions are untrusted: they go through :mod:`bot.slack.mrkdwn` first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextActionsBlock,
    ContextBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.messages.result_text import (
    agreeing_members,
    dollars,
    failure_line,
    gist,
    question_quote,
    seconds,
    verdict_line,
    why_line,
)
from bot.slack.mrkdwn import SECTION_TEXT_LIMIT, escape, split_mrkdwn, to_mrkdwn, truncate
from evals.records import (
    ERROR_KIND_TEXT,
    Consensus,
    ConsensusStatus,
    ModelAnswer,
    PanelRun,
)

JSON = dict[str, Any]

MAX_BLOCKS = 50
#: Text characters one message may carry: Slack has been seen refusing about 13,000
#: (``msg_blocks_too_long``), so every message is held to this.
MESSAGE_TEXT_LIMIT = 12_000
#: Blocks a message keeps for everything but the answer text itself.
_RESERVED_BLOCKS = 12

# action_ids (listeners match on these; keep in sync with bot/listeners)
ACTION_UP = "quorum_up"
ACTION_DOWN = "quorum_down"
ACTION_CORRECT = "quorum_correct"
ACTION_FLAG = "quorum_flag"
ACTION_BEST = "quorum_best_answer"
#: Slack's own 👍/👎 (a ``feedback_buttons`` element); its value is ``up:…`` / ``down:…``
#: followed by the run id or :data:`PENDING_RUN`. ``ACTION_UP`` / ``ACTION_DOWN`` stay
#: for results posted before it.
ACTION_FEEDBACK = "quorum_feedback"
FEEDBACK_UP, FEEDBACK_DOWN = "up", "down"
#: Feedback button value on a channel result: the run is found by the message the
#: button sits on (the result is posted before the run is stored).
PENDING_RUN = "by-message"


def as_dicts(blocks: Sequence[Block]) -> list[JSON]:
    return [b.to_dict() for b in blocks]


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_LIMIT)))


def context_block(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(t, 2000)) for t in texts])


def modal(
    *,
    callback_id: str,
    title: str,
    submit: str,
    blocks: Sequence[Block],
    metadata: Mapping[str, Any],
) -> JSON:
    """A modal with Cancel to close it; ``metadata`` rides along as private_metadata
    (JSON) and comes back with the submission."""
    view = View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=title),
        submit=PlainTextObject(text=submit),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps(dict(metadata)),
        blocks=list(blocks),
    )
    out: JSON = view.to_dict()
    return out


def text_chars(node: Any) -> int:
    """Characters of text in blocks (every ``text`` string, however deep)."""
    if isinstance(node, dict):
        own = len(node["text"]) if isinstance(node.get("text"), str) else 0
        return own + sum(text_chars(v) for v in node.values())
    if isinstance(node, list):
        return sum(text_chars(v) for v in node)
    return 0


def fit_blocks(
    blocks: list[JSON], limit: int = MAX_BLOCKS, max_chars: int = MESSAGE_TEXT_LIMIT
) -> list[JSON]:
    """Hold a message to Slack's block and text limits, keeping the head and the tail
    (buttons): blocks are dropped from the middle and a note says so."""
    if len(blocks) <= limit and text_chars(blocks) <= max_chars:
        return blocks
    note = section("_… shortened to fit in Slack; the full text is in the thread._").to_dict()
    keep_tail = min(4, len(blocks) - 1)
    head, tail = blocks[: min(len(blocks) - keep_tail, limit - keep_tail - 1)], blocks[-keep_tail:]
    while len(head) > 1 and text_chars([*head, note, *tail]) > max_chars:
        head.pop()
    return [*head, note, *tail]


CONTINUED_NOTE = "_(continued in the thread)_"


def answer_sections(
    markdown: str,
    *,
    max_sections: int,
    max_chars: int | None = None,
    cut_note: str = CONTINUED_NOTE,
) -> list[JSON]:
    """Model Markdown as mrkdwn sections, split safely; cut past ``max_sections``
    sections or ``max_chars`` characters, the last section then ending with
    ``cut_note`` (by default: the rest is in the thread)."""
    return cut_answer_sections(
        markdown, max_sections=max_sections, max_chars=max_chars, cut_note=cut_note
    )[0]


def shown_head(markdown: str, budget: int) -> str:
    """The part of ``markdown`` worth converting when at most ``budget`` characters of it
    are shown: twice the budget and a margin, ended at a paragraph break where there is
    one. Converting a 155,000-character answer whole takes about 0.4 s of the event loop
    for a message that shows a few thousand characters of it. The head renders as the
    whole would, up to where the message is cut (a reference-style link defined only
    after the head is the exception: it shows as its bracketed text)."""
    limit = 2 * budget + 4_000
    if len(markdown) <= limit:
        return markdown
    head = markdown[:limit]
    paragraph = head.rfind("\n\n", limit // 2)
    return head[:paragraph] if paragraph > 0 else head


def cut_pieces(
    pieces: Sequence[str], *, budget: int, max_sections: int, cut_note: str, more: bool = False
) -> tuple[list[str], bool]:
    """The mrkdwn pieces shown within ``max_sections`` sections and ``budget``
    characters, the last one ending with ``cut_note`` when some were left out (or when
    ``more`` text follows the pieces given)."""
    kept: list[str] = []
    used, cut = 0, more
    for piece in pieces:
        if len(kept) == max_sections or used + len(piece) > budget:
            cut = True
            if budget - used > 200 and len(kept) < max_sections:
                kept.append(truncate(piece, budget - used - 60))
            break
        kept.append(piece)
        used += len(piece)
    if not kept:
        kept = [truncate(pieces[0], max(budget, 260) - 60)]
    if cut:
        room = SECTION_TEXT_LIMIT - len(cut_note) - 2
        kept[-1] = truncate(kept[-1], room) + "\n" + cut_note
    return kept, cut


def cut_answer_sections(
    markdown: str,
    *,
    max_sections: int,
    max_chars: int | None = None,
    cut_note: str = CONTINUED_NOTE,
) -> tuple[list[JSON], bool]:
    """:func:`answer_sections`, and whether the answer was cut."""
    budget = max_chars if max_chars is not None else max_sections * SECTION_TEXT_LIMIT
    head = shown_head(markdown, budget)
    converted = to_mrkdwn(head)
    if len(head) < len(markdown) and len(converted) <= budget:
        converted = to_mrkdwn(markdown)  # the head alone does not fill what is shown
        head = markdown
    pieces = split_mrkdwn(converted) or ["_(empty answer)_"]
    kept, cut = cut_pieces(
        pieces,
        budget=budget,
        max_sections=max_sections,
        cut_note=cut_note,
        more=len(head) < len(markdown),
    )
    return as_dicts([section(p) for p in kept]), cut


# -- progress and result messages ------------------------------------------------------


def progress_line(member: str, answer: ModelAnswer | None) -> str:
    name = escape(member)
    if answer is None:
        return f"⏳ {name}"
    if answer.ok:
        return f"✅ {name} {seconds(answer.latency_ms)}"
    assert answer.error is not None
    return f"⚠️ {name} {ERROR_KIND_TEXT[answer.error]}"


def progress_blocks(
    question: str, asker: str, members: Sequence[str], answers: Mapping[str, ModelAnswer]
) -> list[JSON]:
    lines = "\n".join(progress_line(m, answers.get(m)) for m in members)
    done = sum(1 for m in members if m in answers)
    return as_dicts(
        [
            section(f"<@{asker}> asked:\n{question_quote(question)}"),
            section(lines),
            context_block(f"Asking {len(members)} models… {done} of {len(members)} answered"),
        ]
    )


@dataclass(frozen=True)
class ResultView:
    """What the final message shows, computed once (also used for the fallback text)."""

    run: PanelRun
    consensus: Consensus
    asker: str
    run_id: int | None


WHAT_IF_WRONG = (
    "Wrong? Press 👎, or *✏️ Correct* to give the right answer: it becomes an eval case. "
    "Each model's full answer is in the thread."
)
IN_THE_THREAD = "Each model's full answer is in the thread."
ALL_FAILED_HINT = (
    "Nothing was answered, so there is nothing to rate. Try again in a minute; if it "
    "keeps failing, give an admin the ref: it points to the log line with the details."
)


def all_failed(run: PanelRun) -> bool:
    """True when no member gave a usable answer (no buttons, one thread reply)."""
    return bool(run.answers) and not run.usable


#: Characters of the consensus answer in the short result (see ``short``).
SHORT_ANSWER_CHARS = 1_500


def result_blocks(view: ResultView, *, short: bool = False) -> list[JSON]:
    """The result: verdict first, what it means, who agrees and who differs, the answer.

    ``short``: the same message with the answer cut to :data:`SHORT_ANSWER_CHARS` (marked
    as continued in the thread): what is shown when Slack refuses the full result."""
    run, consensus = view.run, view.consensus
    usable, asked = len(run.usable), len(run.answers)
    blocks: list[JSON] = as_dicts(
        [section(f"<@{view.asker}> asked:\n{question_quote(run.question)}")]
    )
    blocks.append(section(verdict_line(consensus, usable, asked)).to_dict())
    failures = [a for a in run.answers if not a.ok]
    if all_failed(run):
        blocks.append(section("\n".join(failure_line(a) for a in failures)).to_dict())
        blocks.append(context_block(context_line(run)).to_dict())
        blocks.append(context_block(ALL_FAILED_HINT).to_dict())
        return fit_blocks(blocks)
    explain = [escape(consensus.meaning)]
    why = why_line(consensus, usable, asked)
    if why:
        explain.append(escape(why))
    explain = [e for e in explain if e]
    if explain:
        blocks.append(context_block("\n".join(explain)).to_dict())  # one line each
    if consensus.text and consensus.model:
        blocks.append(context_block(_who_agrees(consensus)).to_dict())
    tail: list[JSON] = []
    dissent = _dissent_lines(run, consensus)
    if dissent:
        tail.append(section(dissent).to_dict())
    if failures:
        tail.append(section("\n".join(failure_line(a) for a in failures)).to_dict())
    tail.append(context_block(context_line(run)).to_dict())
    tail.append(context_block(WHAT_IF_WRONG if consensus.text else IN_THE_THREAD).to_dict())
    tail += as_dicts(feedback_actions(view.run_id))
    if consensus.text and short:
        blocks += answer_sections(consensus.text, max_sections=1, max_chars=SHORT_ANSWER_CHARS)
    elif consensus.text:
        room = MESSAGE_TEXT_LIMIT - text_chars(blocks) - text_chars(tail) - 100
        blocks.extend(
            answer_sections(
                consensus.text, max_sections=MAX_BLOCKS - _RESERVED_BLOCKS, max_chars=room
            )
        )
    return fit_blocks(blocks + tail)


def _who_agrees(consensus: Consensus) -> str:
    agreeing = agreeing_members(consensus)
    picked = f"Answer from *{escape(agreeing[0])}*"
    others = agreeing[1:]
    if not others:
        return picked
    return picked + ", agreed by " + ", ".join(f"*{escape(m)}*" for m in others)


def _dissent_lines(run: PanelRun, consensus: Consensus) -> str:
    by_member = {a.member: a for a in run.answers}
    lines = []
    for member in consensus.dissenters:
        answer = by_member.get(member)
        if answer is None or not answer.ok:
            continue
        lines.append(f"• *{escape(member)}*: “{escape(gist(answer.text))}”")
    if not lines:
        return ""
    head = "*Differs*" if len(lines) == 1 else f"*{len(lines)} models differ*"
    return truncate(head + "\n" + "\n".join(lines), SECTION_TEXT_LIMIT)


def context_line(run: PanelRun) -> str:
    models = ", ".join(escape(a.member) for a in run.answers)
    failed = sum(1 for a in run.answers if not a.ok)
    parts = [f"Models: {models}", f"total {seconds(run.latency_ms)}", dollars(run.cost_usd)]
    if failed:
        parts.append(f"{failed} failed")
    return " · ".join(parts)


def feedback_actions(run_id: int | None) -> list[Block]:
    """✏️ Correct and 🚩 Flag as buttons, then Slack's own 👍/👎 (``feedback_buttons`` in
    a ``context_actions`` block). The value is the run id, or :data:`PENDING_RUN` when the
    result was posted before the run was stored (the listeners then find it by the
    message)."""
    value = PENDING_RUN if run_id is None else str(run_id)
    return [
        ActionsBlock(
            block_id="feedback",
            elements=[
                ButtonElement(text="✏️ Correct", action_id=ACTION_CORRECT, value=value),
                ButtonElement(text="🚩 Flag", action_id=ACTION_FLAG, value=value, style="danger"),
            ],
        ),
        ContextActionsBlock(
            block_id="thumbs",
            elements=[
                FeedbackButtonsElement(
                    action_id=ACTION_FEEDBACK,
                    positive_button=FeedbackButtonObject(
                        text="👍",
                        value=f"{FEEDBACK_UP}:{value}",
                        accessibility_label="Good answer",
                    ),
                    negative_button=FeedbackButtonObject(
                        text="👎",
                        value=f"{FEEDBACK_DOWN}:{value}",
                        accessibility_label="Bad answer",
                    ),
                )
            ],
        ),
    ]


def result_text(view: ResultView) -> str:
    """Notification/fallback text (no mentions: escaped and plain)."""
    c, run = view.consensus, view.run
    if c.status is ConsensusStatus.NONE:
        if all_failed(run):
            return truncate(f"No model could answer: {escape(run.question)}", 300)
        return truncate(f"No consensus for: {escape(run.question)}", 300)
    verdict = re.sub(r"[*]", "", verdict_line(c, len(run.usable), len(run.answers)))
    return truncate(f"{verdict}: {escape(c.text or '')}", 300)


# -- thread replies: one per member ----------------------------------------------------


def member_blocks(
    run_id: int | None,
    answer: ModelAnswer,
    *,
    agreement: float | None,
    is_consensus: bool,
    agrees: bool | None = None,
) -> list[JSON]:
    """One member's full answer in the thread; ``agrees``: whether it is in the consensus
    answer's cluster (None: no consensus to agree with)."""
    head = [f"*{escape(answer.member)}*", *_member_facts(answer, agreement, is_consensus, agrees)]
    blocks = as_dicts([context_block(" · ".join(head))])
    if answer.ok:
        blocks.extend(answer_sections(answer.text, max_sections=MAX_BLOCKS - 3))
        if run_id is not None:
            blocks.append(
                ActionsBlock(
                    block_id=f"best:{run_id}",
                    elements=[
                        ButtonElement(
                            text="⭐ Best answer",
                            action_id=ACTION_BEST,
                            value=json.dumps({"run": run_id, "member": answer.member}),
                        )
                    ],
                ).to_dict()
            )
    else:
        blocks.append(section(failure_line(answer)).to_dict())
    return fit_blocks(blocks)


def _member_facts(
    answer: ModelAnswer, agreement: float | None, is_consensus: bool, agrees: bool | None
) -> list[str]:
    facts = []
    if is_consensus:
        facts.append("the answer shown above")
    elif agrees is True and answer.ok:
        facts.append("agrees with the answer above")
    elif agrees is False and answer.ok:
        facts.append("differs from the answer above")
    facts += [seconds(answer.latency_ms), dollars(answer.cost_usd)]
    if agreement is not None:
        facts.append(f"agreement {agreement:.2f}")
    return facts


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]<>#|])")


def member_markdown_head(
    answer: ModelAnswer, *, agreement: float | None, is_consensus: bool, agrees: bool | None
) -> str:
    """The first line of a member's streamed thread reply (Markdown, as chat streaming
    takes it): the same facts as :func:`member_blocks`' header."""
    name = _MARKDOWN_SPECIAL.sub(r"\\\1", answer.member)
    facts = _member_facts(answer, agreement, is_consensus, agrees)
    return f"**{name}** · " + " · ".join(facts) + "\n\n"


def best_answer_block(run_id: int, member: str) -> JSON:
    out: JSON = ActionsBlock(
        block_id=f"best:{run_id}",
        elements=[
            ButtonElement(
                text="⭐ Best answer",
                action_id=ACTION_BEST,
                value=json.dumps({"run": run_id, "member": member}),
            )
        ],
    ).to_dict()
    return out


def failures_reply_blocks(run: PanelRun) -> list[JSON]:
    """The one thread reply when every member failed: each reason, with its ref."""
    lines = "\n".join(failure_line(a) for a in run.answers if not a.ok)
    return fit_blocks(
        as_dicts(
            [
                section(f"*Why no model answered*\n{lines}"),
                context_block(
                    "An admin can find each failure in the logs by its ref; "
                    "`quorum doctor` checks every model's key and connection."
                ),
            ]
        )
    )


def failures_reply_text(run: PanelRun) -> str:
    return truncate(f"None of the {len(run.answers)} models could answer.", 300)


def member_text(answer: ModelAnswer) -> str:
    if answer.ok:
        return truncate(f"{answer.member}: {escape(gist(answer.text, 200))}", 300)
    assert answer.error is not None
    return f"{escape(answer.member)} {ERROR_KIND_TEXT[answer.error]}"
