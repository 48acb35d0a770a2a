"""The App Home tab (pure Block Kit over slack_sdk's models): the latest verdict per
model, the person's recent questions, when the next benchmark and digest run, and, for
reviewers, the review queue with its buttons (the same blocks as ``/compare cases``).

Slack holds a Home view to 100 blocks; :func:`home_view` keeps to that by shortening
the review queue first (it links to ``/compare cases`` for the rest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.messages.result_text import dollars
from bot.slack.mrkdwn import SECTION_TEXT_LIMIT, escape, truncate
from evals.stats import wilson_interval

JSON = dict[str, Any]

MAX_BLOCKS = 100
#: Models listed one section each; more are summed up in one line.
MAX_MODELS = 30
#: The Home tab's "Ask the panel" button (opens the same modal as the global shortcut).
ACTION_HOME_ASK = "quorum_home_ask"


@dataclass(frozen=True)
class ModelVerdict:
    """One model: its latest scheduled benchmark and its recent production numbers."""

    model: str
    role: str = "panel"  # "panel" | "shadow" | "benchmark only"
    eval_passed: int | None = None
    eval_n: int | None = None
    eval_at: datetime | None = None
    thumbs_up: int = 0
    thumbs_down: int = 0
    answers: int = 0
    mean_cost_usd: float | None = None


@dataclass(frozen=True)
class RecentQuestion:
    run_id: int
    question: str
    asked_at: datetime
    confidence: float
    has_consensus: bool
    link: str | None = None


@dataclass(frozen=True)
class NextJob:
    """``at`` None: the job is not scheduled (``hint`` says how to schedule it)."""

    name: str
    at: datetime | None
    hint: str = ""


@dataclass(frozen=True)
class HomeData:
    user_id: str
    models: Sequence[ModelVerdict]
    window_days: int
    questions: Sequence[RecentQuestion]
    next_jobs: Sequence[NextJob]
    #: The review queue's blocks (``/compare cases``' page), None for non-reviewers.
    review: Sequence[JSON] | None = None
    review_total: int = 0


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_LIMIT)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(text, 2000))])


def slack_date(at: datetime, style: str = "{date_short_pretty} at {time}") -> str:
    """A date Slack shows in the reader's own time zone; the fallback (older clients,
    notifications) is the same in UTC."""
    with_time = "{time}" in style
    fallback = at.strftime("%b %-d, %Y %H:%M UTC" if with_time else "%b %-d, %Y")
    return f"<!date^{int(at.timestamp())}^{style}|{fallback}>"


def eval_text(v: ModelVerdict) -> str:
    if not v.eval_n:
        return "no benchmark yet"
    assert v.eval_passed is not None
    low, high = wilson_interval(v.eval_passed, v.eval_n)
    when = f", {slack_date(v.eval_at, '{date_short}')}" if v.eval_at else ""
    return (
        f"eval *{v.eval_passed / v.eval_n:.0%}* pass "
        f"({low:.0%}–{high:.0%}, {v.eval_n} samples{when})"
    )


def thumbs_text(v: ModelVerdict) -> str:
    votes = v.thumbs_up + v.thumbs_down
    if not votes:
        return "no 👍/👎 yet"
    return f"👍 *{v.thumbs_up / votes:.0%}* of {votes} vote{'s' if votes != 1 else ''}"


def cost_text(v: ModelVerdict) -> str:
    if not v.answers:
        return "no answers yet"
    per = (
        f"{dollars(v.mean_cost_usd)} per answer" if v.mean_cost_usd is not None else "cost unknown"
    )
    return f"{per} · {v.answers} answer{'s' if v.answers != 1 else ''}"


def model_line(v: ModelVerdict) -> str:
    role = "" if v.role == "panel" else f" _({escape(v.role)})_"
    return f"*{escape(v.model)}*{role}\n{eval_text(v)} · {thumbs_text(v)} · {cost_text(v)}"


def question_line(q: RecentQuestion) -> str:
    flat = escape(truncate(" ".join(q.question.split()), 150))
    asked = f"<{q.link}|{flat}>" if q.link else flat
    verdict = f"{q.confidence:.0%} likely right" if q.has_consensus else "no consensus"
    return f"• {asked}\n   {verdict} · {slack_date(q.asked_at)}"


def job_line(job: NextJob) -> str:
    if job.at is None:
        return f"*{escape(job.name)}*: not scheduled. {job.hint}".rstrip()
    return f"*{escape(job.name)}*: {slack_date(job.at, '{date_long_pretty} at {time}')}"


def home_blocks(data: HomeData) -> list[JSON]:
    """The Home tab's blocks, at most :data:`MAX_BLOCKS`."""
    head: list[Block] = [
        HeaderBlock(text="Quorum"),
        _section(
            "Ask a panel of AI models at once and see how far they agree: `/compare "
            "<question>`, mention @Quorum, send a direct message, or use *Ask the panel* "
            "on any message."
        ),
        ActionsBlock(
            block_id="home_ask",
            elements=[
                ButtonElement(
                    text="Ask the panel", action_id=ACTION_HOME_ASK, value="ask", style="primary"
                )
            ],
        ),
        DividerBlock(),
        HeaderBlock(text="Models"),
        _context(
            "The latest scheduled benchmark (pass rate with its 95% interval) and the last "
            f"{data.window_days} days in production (👍 rate and cost per answer)."
        ),
    ]
    if data.models:
        head += [_section(model_line(v)) for v in data.models[:MAX_MODELS]]
        if len(data.models) > MAX_MODELS:
            more = len(data.models) - MAX_MODELS
            head.append(_context(f"… and {more} more: `/compare models` lists them all."))
    else:
        head.append(_section("No models configured yet."))
    head += [DividerBlock(), HeaderBlock(text="Your recent questions")]
    if data.questions:
        head.append(_section("\n".join(question_line(q) for q in data.questions)))
    else:
        head.append(_section("None yet. Ask one with `/compare <question>`."))
    head += [
        DividerBlock(),
        HeaderBlock(text="Coming up"),
        _section("\n".join(job_line(j) for j in data.next_jobs) or "Nothing is scheduled."),
    ]
    blocks: list[JSON] = [b.to_dict() for b in head]
    if data.review is None:
        if data.review_total:
            blocks.append(
                _context(
                    f"{data.review_total} proposed eval case(s) wait for the reviewers."
                ).to_dict()
            )
        return blocks
    blocks.append(DividerBlock().to_dict())
    room = MAX_BLOCKS - len(blocks)
    review = list(data.review)
    if len(review) > room:
        pointer = _context("More in `/compare cases`.").to_dict()
        review = [*review[: room - 1], pointer]
    return blocks + review


def home_view(data: HomeData) -> JSON:
    view = View(type="home", blocks=home_blocks(data))
    out: JSON = view.to_dict()
    return out
