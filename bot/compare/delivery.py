"""Getting a result in front of the asker even when Slack refuses the message.

Every message is held under :data:`bot.messages.compare_result.MESSAGE_TEXT_LIMIT`; a member's answer too
long for one thread reply is split over several. When ``chat.update`` still refuses the
result (``msg_blocks_too_long``, ``invalid_blocks``, a 5xx after the client's retries),
:func:`show_result` falls back to a short result (the same verdict-first message with the
answer cut short) and, if even that update is refused, posts the short result as a new message
in the thread. The caller stores the run either way and puts the full answers in the
thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.compare.run_store import RunStore
from bot.messages import compare_result, result_text
from bot.messages.compare_result import JSON, MAX_BLOCKS, MESSAGE_TEXT_LIMIT, ResultView, text_chars
from bot.slack.mrkdwn import escape
from evals.errors import new_reference
from evals.records import Consensus, ModelAnswer, PanelRun

log = logging.getLogger(__name__)

#: Characters of answer text in one thread reply (the rest of the limit is headroom).
PART_CHARS = MESSAGE_TEXT_LIMIT - 1_000
#: Thread replies one answer may take; beyond that it is cut (the run keeps it whole).
MAX_PARTS = 5
#: What a refused Slack call raises: an API error (also a 5xx after retries) or a
#: transport failure.
SLACK_FAILURES = (SlackApiError, aiohttp.ClientError, TimeoutError)


class ResultSurface(Protocol):
    async def update(self, blocks_: Sequence[JSON], text: str) -> None: ...

    async def reply(self, blocks_: Sequence[JSON], text: str) -> str | None: ...


def short_result_blocks(view: ResultView) -> list[JSON]:
    """The result in the full result's words (the verdict first, what it means, who
    agrees and who differs, failures with their refs, the buttons; none when every model
    failed) with the consensus answer cut short."""
    return compare_result.result_blocks(view, short=True)


async def show_result(surface: ResultSurface, view: ResultView) -> bool:
    """Turn the message into the result. True: the full result is shown; False: a short
    one is (the caller must put the full answers in the thread). Raises only when
    Slack refused even a short result as a new message."""
    text = compare_result.result_text(view)
    try:
        await surface.update(compare_result.result_blocks(view), text)
        return True
    except SLACK_FAILURES as exc:
        ref = new_reference()
        log.warning("Slack refused the result (%s); showing a short one [%s]", _why(exc), ref)
    short = short_result_blocks(view)
    try:
        await surface.update(short, text)
    except SLACK_FAILURES as exc:
        log.warning("Slack refused the short result too (%s); posting it anew", _why(exc))
        await surface.reply(short, text)
    return False


def _why(exc: BaseException) -> str:
    """Slack's error code, or the HTTP status (a 5xx body is not JSON), or the kind."""
    response = getattr(exc, "response", None)
    if response is None:
        return type(exc).__name__
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    return str(error or f"HTTP {getattr(response, 'status_code', '?')}")


def member_messages(
    run_id: int | None,
    answer: ModelAnswer,
    *,
    agreement: float | None,
    is_consensus: bool,
    agrees: bool | None = None,
) -> list[list[JSON]]:
    """A member's answer as one thread reply, or several when it is too long for one:
    the header on the first, "continued" on the others, the *Best answer* button on the
    last."""
    whole = compare_result.member_blocks(
        run_id, answer, agreement=agreement, is_consensus=is_consensus, agrees=agrees
    )
    if not answer.ok:
        return [whole]
    sections = compare_result.answer_sections(
        answer.text, max_sections=MAX_PARTS * (MAX_BLOCKS - 4), max_chars=MAX_PARTS * PART_CHARS
    )
    if text_chars(sections) <= PART_CHARS and len(sections) <= MAX_BLOCKS - 3:
        return [whole]
    header, button = whole[0], whole[-1] if whole[-1].get("type") == "actions" else None
    parts: list[list[JSON]] = [[]]
    for section in sections:
        part = parts[-1]
        if part and (text_chars([*part, section]) > PART_CHARS or len(part) >= MAX_BLOCKS - 4):
            parts.append(part := [])
        part.append(section)
    total = len(parts)
    messages = []
    for number, part in enumerate(parts, start=1):
        top = header if number == 1 else _continued(answer.member, number, total)
        tail = [button] if button and number == total else []
        messages.append([top, *part, *tail])
    return messages


def _continued(member: str, number: int, total: int) -> JSON:
    return compare_result.context_block(
        f"*{escape(member)}* (continued, part {number} of {total})"
    ).to_dict()


async def post_member_replies(
    surface: ResultSurface, store: RunStore, run: PanelRun, consensus: Consensus, run_id: int | None
) -> dict[str, str]:
    """Each member's full answer as a thread reply; returns member -> reply ts."""
    posted: dict[str, str] = {}
    if compare_result.all_failed(run):
        # One reply with every reason, not one per model: nothing here can be rated.
        try:
            await surface.reply(
                compare_result.failures_reply_blocks(run), compare_result.failures_reply_text(run)
            )
        except SLACK_FAILURES:
            log.warning("could not post the failures in the thread", exc_info=True)
        return posted
    answer_ids = await store.answer_ids(run_id) if run_id is not None else {}
    agreeing = result_text.agreeing_members(consensus)
    for answer in run.answers:
        parts = member_messages(
            run_id,
            answer,
            agreement=consensus.agreement.get(answer.member),
            is_consensus=answer.member == consensus.model,
            agrees=answer.member in agreeing if consensus.model else None,
        )
        try:
            first = await surface.reply(parts[0], compare_result.member_text(answer))
            for part in parts[1:]:
                await surface.reply(part, compare_result.member_text(answer))
        except SLACK_FAILURES:
            log.warning("could not post %s's answer in the thread", answer.member, exc_info=True)
            continue
        if first is None:
            continue
        posted[answer.member] = first
        answer_id = answer_ids.get(answer.member)
        if answer_id is not None:
            await store.set_answer_message(answer_id, first)
    return posted
