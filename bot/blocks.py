"""Pure Block Kit builders (slack_sdk block models) for everything Quorum posts.

Every builder returns plain JSON-ready dicts produced by the slack_sdk models'
``to_dict()``, which validates Slack's limits (3000 characters per section, 10 context
elements, 25 actions...). Messages are also held to 50 blocks by :func:`fit_blocks`.
Model output and questions are untrusted: they go through :mod:`bot.mrkdwn` first.
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
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.mrkdwn import SECTION_TEXT_LIMIT, escape, split_mrkdwn, to_mrkdwn, truncate
from evals.types import ERROR_KIND_TEXT, Consensus, ConsensusStatus, ModelAnswer, PanelRun

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
#: Feedback button value on a channel result: the run is found by the message the
#: button sits on (the result is posted before the run is stored).
PENDING_RUN = "by-message"


def as_dicts(blocks: Sequence[Block]) -> list[JSON]:
    return [b.to_dict() for b in blocks]


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_LIMIT)))


def context_block(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(t, 2000)) for t in texts])


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


def answer_sections(
    markdown: str, *, max_sections: int, max_chars: int | None = None
) -> list[JSON]:
    """Model Markdown as mrkdwn sections, split safely; cut (and marked as continued in
    the thread) past ``max_sections`` sections or ``max_chars`` characters."""
    pieces = split_mrkdwn(to_mrkdwn(markdown)) or ["_(empty answer)_"]
    budget = max_chars if max_chars is not None else max_sections * SECTION_TEXT_LIMIT
    kept: list[str] = []
    used, cut = 0, False
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
        kept[-1] = truncate(kept[-1], SECTION_TEXT_LIMIT - 60) + "\n_(continued in the thread)_"
    return as_dicts([section(p) for p in kept])


# -- text helpers ----------------------------------------------------------------------


def seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def dollars(cost: float | None) -> str:
    if cost is None:
        return "cost unknown"
    if cost == 0:
        return "$0"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def question_quote(question: str, limit: int = 600) -> str:
    """The asker's question as a quote (escaped: people can paste ``<!channel>`` too)."""
    flat = escape(truncate(" ".join(question.split()), limit))
    return "> " + flat


_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def gist(text: str, limit: int = 160) -> str:
    """The first sentence (or line) of an answer, shortened, as plain text."""
    first = text.strip().split("\n", 1)[0]
    first = _SENTENCE_END.split(first, 1)[0]
    first = re.sub(r"^\s*(?:#+|>+)\s*|[*_`~]+", "", first).strip()
    return truncate(first, limit) if first else "(empty)"


def failure_line(answer: ModelAnswer) -> str:
    assert answer.error is not None
    return f"⚠️ *{escape(answer.member)}* {ERROR_KIND_TEXT[answer.error]}"


def confidence_badge(consensus: Consensus, usable: int) -> str:
    """ "High confidence 0.87 — 4 of 4 models agree" and friends."""
    status, conf = consensus.status, consensus.confidence
    if status is ConsensusStatus.NONE:
        reason = consensus.reason or "no usable answers"
        return f"⚪ *No consensus* — {escape(reason)}"
    if status is ConsensusStatus.SINGLE:
        return f"🔴 *Low confidence {conf:.2f}* — only one model answered, nothing to compare"
    agree = consensus.support
    label = consensus.label
    if label == "high":
        return f"🟢 *High confidence {conf:.2f}* — {agree} of {usable} models agree"
    if label == "medium":
        return f"🟡 *Medium confidence {conf:.2f}* — {agree} of {usable} models agree"
    if agree < usable:
        return f"🔴 *Low confidence {conf:.2f}* — models disagree ({agree} of {usable} agree)"
    # All agree and yet the calibrator is unsure: models share errors on such questions.
    return f"🔴 *Low confidence {conf:.2f}* — {agree} of {usable} models agree"


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


def result_blocks(view: ResultView) -> list[JSON]:
    run, consensus = view.run, view.consensus
    blocks: list[JSON] = as_dicts(
        [section(f"<@{view.asker}> asked:\n{question_quote(run.question)}")]
    )
    usable = len(run.usable)
    if consensus.status is ConsensusStatus.NONE and usable == 0:
        lines = "\n".join(failure_line(a) for a in run.answers if not a.ok)
        blocks.append(section(f"*None of the models could answer.*\n{lines}").to_dict())
    else:
        text = consensus.text
        if text and consensus.model:
            line = f"Consensus answer from *{escape(consensus.model)}*"
            blocks.append(context_block(line).to_dict())
        tail: list[JSON] = [section(confidence_badge(consensus, usable)).to_dict()]
        dissent = _dissent_lines(run, consensus)
        if dissent:
            tail.append(section(dissent).to_dict())
        failures = [a for a in run.answers if not a.ok]
        if failures:
            tail.append(section("\n".join(failure_line(a) for a in failures)).to_dict())
        tail += [
            context_block(context_line(run)).to_dict(),
            feedback_actions(view.run_id).to_dict(),
        ]
        if text:
            room = MESSAGE_TEXT_LIMIT - text_chars(blocks) - text_chars(tail) - 100
            sections = answer_sections(
                text, max_sections=MAX_BLOCKS - _RESERVED_BLOCKS, max_chars=room
            )
            blocks.extend(sections)
        return fit_blocks(blocks + tail)
    blocks.append(context_block(context_line(run)).to_dict())
    blocks.append(feedback_actions(view.run_id).to_dict())
    return fit_blocks(blocks)


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
    head = "*Dissent*" if len(lines) == 1 else f"*Dissent ({len(lines)} models)*"
    return truncate(head + "\n" + "\n".join(lines), SECTION_TEXT_LIMIT)


def context_line(run: PanelRun) -> str:
    models = ", ".join(escape(a.member) for a in run.answers)
    failed = sum(1 for a in run.answers if not a.ok)
    parts = [f"Models: {models}", f"total {seconds(run.latency_ms)}", dollars(run.cost_usd)]
    if failed:
        parts.append(f"{failed} failed")
    return " · ".join(parts)


def feedback_actions(run_id: int | None) -> ActionsBlock:
    """👍 👎 ✏️ 🚩. The value is the run id, or :data:`PENDING_RUN` when the result was
    posted before the run was stored (the listeners then find it by the message)."""
    value = PENDING_RUN if run_id is None else str(run_id)
    return ActionsBlock(
        block_id="feedback",
        elements=[
            ButtonElement(text="👍", action_id=ACTION_UP, value=value),
            ButtonElement(text="👎", action_id=ACTION_DOWN, value=value),
            ButtonElement(text="✏️ Correct", action_id=ACTION_CORRECT, value=value),
            ButtonElement(text="🚩 Flag", action_id=ACTION_FLAG, value=value, style="danger"),
        ],
    )


def result_text(view: ResultView) -> str:
    """Notification/fallback text (no mentions: escaped and plain)."""
    c = view.consensus
    if c.status is ConsensusStatus.NONE:
        return truncate(f"No consensus for: {escape(view.run.question)}", 300)
    return truncate(
        f"{c.label.capitalize()} confidence {c.confidence:.2f}: {escape(c.text or '')}", 300
    )


# -- thread replies: one per member ----------------------------------------------------


def member_blocks(
    run_id: int | None, answer: ModelAnswer, *, agreement: float | None, is_consensus: bool
) -> list[JSON]:
    head = [f"*{escape(answer.member)}*", seconds(answer.latency_ms), dollars(answer.cost_usd)]
    if agreement is not None:
        head.append(f"agreement {agreement:.2f}")
    if is_consensus:
        head.append("picked as the consensus")
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


def member_text(answer: ModelAnswer) -> str:
    if answer.ok:
        return truncate(f"{answer.member}: {escape(gist(answer.text, 200))}", 300)
    assert answer.error is not None
    return f"{escape(answer.member)} {ERROR_KIND_TEXT[answer.error]}"
