"""Replies to `/compare help` and `/compare models`, and short ephemeral notices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block

from bot.messages.compare_result import (
    JSON,
    as_dicts,
    context_block,
    fit_blocks,
    section,
)
from bot.messages.result_text import dollars, seconds
from bot.slack.mrkdwn import SECTION_TEXT_LIMIT, escape

HELP_TEXT = (
    "*Quorum asks a panel of AI models the same question and shows where they agree.*\n"
    "• `/compare <question>`: ask the panel (or mention @Quorum, or send me a DM)\n"
    "• `/compare models`: the panel, with each model's recent speed and cost\n"
    "• `/compare cases`: review proposed eval cases (reviewers only)\n"
    "• `/compare digest`: preview this week's digest (only you see it)\n"
    "• `/compare digest here` / `/compare review here`: post this workspace's weekly "
    "digest / new-case notices in this channel (reviewers)\n"
    "• `/compare help`: this message\n"
    "On a result: 👍 / 👎 / 🚩 (buttons or reactions) tell us how it did, "
    "*✏️ Correct* records the right answer, and *⭐ Best answer* in the thread "
    "votes for the model you liked best. "
    "Reply in the thread with `correction: <the right answer>` to correct it quickly.\n\n"
    "*How to read a result.* "
    "*Agreement* counts the models that gave the same final answer (the same number, "
    "name or yes/no), whatever else each one adds. "
    "*Confidence* (\u201c82% likely right\u201d) is how often answers like this one turned "
    "out right in labelled past answers, not how similar the answers look. "
    "Models can share a mistake, so agreement raises the confidence only as far as it "
    "has predicted correctness before, and a 👎 or ✏️ Correct on a wrong answer teaches it."
)


def help_blocks() -> list[JSON]:
    return as_dicts([section(HELP_TEXT)])


@dataclass(frozen=True)
class ModelLine:
    name: str
    model: str
    weight: float
    runs: int
    p50_latency_ms: int | None
    avg_cost_usd: float | None
    error_rate: float | None


def models_blocks(lines: Sequence[ModelLine], days: int, shadow: Sequence[str] = ()) -> list[JSON]:
    rows = []
    for line in lines:
        stats = (
            f"median {seconds(line.p50_latency_ms)} · {dollars(line.avg_cost_usd)} per answer"
            f" · {line.runs} answers"
            if line.runs and line.p50_latency_ms is not None
            else "no answers yet"
        )
        if line.error_rate:
            stats += f" · {line.error_rate:.0%} failed"
        weight = f" (weight {line.weight:g})" if line.weight != 1.0 else ""
        rows.append(f"• *{escape(line.name)}* `{escape(line.model)}`{weight}: {stats}")
    blocks: list[Block] = [section(f"*The panel* (last {days} days)")]
    chunk: list[str] = []
    for row in rows:
        if utf16_total([*chunk, row]) > SECTION_TEXT_LIMIT - 100:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(row)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if shadow:
        blocks.append(
            context_block(
                "Shadow candidates (answers hidden): " + ", ".join(escape(s) for s in shadow)
            )
        )
    return fit_blocks(as_dicts(blocks))


def utf16_total(rows: Sequence[str]) -> int:
    return sum(len(r) + 1 for r in rows)


def notice_blocks(text: str) -> list[JSON]:
    """A single section for ephemeral notices (text is ours, already safe)."""
    return as_dicts([section(text)])
