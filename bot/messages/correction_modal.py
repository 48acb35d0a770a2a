"""The "✏️ Correct" modal: what a person fills in to record the right answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)

from bot.messages.compare_result import JSON, context_block, modal
from bot.messages.result_text import gist
from bot.slack.mrkdwn import escape
from evals.cases.schema import FAILURE_MODE_TEXT, FailureMode, Severity

CORRECTION_CALLBACK = "quorum_correction"
# block ids / action ids of the correction modal
CORRECTION_ANSWER_BLOCK = "correct_answer"
CORRECTION_MODE_BLOCK = "failure_mode"
CORRECTION_SEVERITY_BLOCK = "severity"
CORRECTION_INPUT_ACTION = "value"

SEVERITY_TEXT: Mapping[Severity, str] = {
    Severity.LOW: "Low — a detail",
    Severity.MEDIUM: "Medium — misleading",
    Severity.HIGH: "High — harmful or badly wrong",
}


def correction_modal(metadata: Mapping[str, Any], *, original: str | None = None) -> JSON:
    """The "✏️ Correct" modal; ``metadata`` round-trips in ``private_metadata``."""
    blocks: list[Block] = []
    if original:
        blocks.append(context_block("Correcting: " + escape(gist(original, 280))))
    blocks += [
        InputBlock(
            block_id=CORRECTION_ANSWER_BLOCK,
            label="The correct answer",
            element=PlainTextInputElement(
                action_id=CORRECTION_INPUT_ACTION,
                multiline=True,
                max_length=3000,
                placeholder="What should the answer have been?",
            ),
        ),
        InputBlock(
            block_id=CORRECTION_MODE_BLOCK,
            label="What went wrong",
            element=StaticSelectElement(
                action_id=CORRECTION_INPUT_ACTION,
                placeholder="Pick one",
                options=[Option(value=m.value, text=FAILURE_MODE_TEXT[m]) for m in FailureMode],
            ),
        ),
        InputBlock(
            block_id=CORRECTION_SEVERITY_BLOCK,
            label="How bad is it",
            element=StaticSelectElement(
                action_id=CORRECTION_INPUT_ACTION,
                initial_option=Option(
                    value=Severity.MEDIUM.value, text=SEVERITY_TEXT[Severity.MEDIUM]
                ),
                options=[Option(value=s.value, text=SEVERITY_TEXT[s]) for s in Severity],
            ),
        ),
    ]
    return modal(
        callback_id=CORRECTION_CALLBACK,
        title="Correct the answer",
        submit="Save correction",
        blocks=blocks,
        metadata=metadata,
    )
