"""The "Ask the panel" shortcuts: their callback ids and the global shortcut's modal
(a question, and where to post the answer: a channel, or a direct message)."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ConversationFilter,
    ConversationSelectElement,
    InputBlock,
    PlainTextInputElement,
)

from bot.messages.compare_result import JSON, context_block, modal

#: Keep in sync with bot/manifest.yaml (features.shortcuts).
MESSAGE_SHORTCUT = "quorum_ask_message"
GLOBAL_SHORTCUT = "quorum_ask_global"
ASK_CALLBACK = "quorum_ask_submit"

QUESTION_BLOCK = "question"
WHERE_BLOCK = "where"
INPUT = "value"

NO_TEXT = (
    "That message has no text to ask the panel about (files and attachments are not "
    "read). Copy the part you mean into `/compare <question>`."
)
EMPTY_QUESTION = "Please write a question."
FORM_REFUSED = "Sorry, Slack would not open the form. Please try again."
PICK_AGAIN = "Please pick the channel again (or leave it empty for a direct message)."


def ask_modal(max_chars: int = 3000) -> JSON:
    """The global shortcut's modal. Leaving the channel empty answers in a direct
    message; the bot must be in a chosen channel (it says so if not)."""
    blocks: list[Block] = [
        InputBlock(
            block_id=QUESTION_BLOCK,
            label="Your question",
            element=PlainTextInputElement(
                action_id=INPUT,
                multiline=True,
                max_length=min(max_chars, 3000),
                placeholder="What should the panel answer?",
            ),
        ),
        InputBlock(
            block_id=WHERE_BLOCK,
            label="Post the answer in",
            optional=True,
            hint="Leave empty to get the answer in a direct message from Quorum.",
            element=ConversationSelectElement(
                action_id=INPUT,
                placeholder="A channel (optional)",
                filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True),
            ),
        ),
        context_block(
            "Every model on the panel answers at once; the result shows how many agree "
            "and how likely the answer is right, with each full answer in its thread."
        ),
    ]
    return modal(
        callback_id=ASK_CALLBACK,
        title="Ask the panel",
        submit="Ask",
        blocks=blocks,
        metadata={},
    )
