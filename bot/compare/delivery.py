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
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.compare.run_store import RunStore
from bot.messages import compare_result, result_text
from bot.messages.compare_result import JSON, MAX_BLOCKS, MESSAGE_TEXT_LIMIT, ResultView, text_chars
from bot.slack.mrkdwn import SECTION_TEXT_LIMIT, escape
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

    async def upload(self, content: str, filename: str, title: str) -> bool: ...

    async def stream(self, chunks: Sequence[str], blocks_: Sequence[JSON]) -> str | None: ...


#: Characters of Markdown per ``chat.appendStream`` call.
STREAM_CHUNK_CHARS = 2_000


def stream_chunks(head: str, text: str, size: int = STREAM_CHUNK_CHARS) -> list[str]:
    """``head`` then ``text`` in pieces of at most ``size`` characters, cut at a line
    break or a space where one is near."""
    chunks, rest = [head], text
    while rest:
        if len(rest) <= size:
            chunks.append(rest)
            break
        cut = max(rest.rfind("\n", 0, size), rest.rfind(" ", 0, size))
        cut = cut + 1 if cut > size // 2 else size
        chunks.append(rest[:cut])
        rest = rest[cut:]
    return chunks


async def stream_answer(
    surface: ResultSurface,
    answer: ModelAnswer,
    run_id: int | None,
    *,
    agreement: float | None,
    is_consensus: bool,
    agrees: bool | None,
) -> str | None:
    """A member's answer as a streamed thread reply (chat streaming), its *Best answer*
    button at the foot; None when the workspace does not stream. Raises a Slack failure
    once the stream has started."""
    head = compare_result.member_markdown_head(
        answer, agreement=agreement, is_consensus=is_consensus, agrees=agrees
    )
    foot = [compare_result.best_answer_block(run_id, answer.member)] if run_id is not None else []
    return await surface.stream(stream_chunks(head, answer.text), foot)


def cut_note(member: str, chars: int) -> str:
    """What the last thread part of an answer too long for Slack says, and where the
    rest is."""
    return (
        f"✂️ _Cut here: {escape(member)}'s answer is {chars:,} characters, more than Slack "
        f"shows in a thread. The whole answer is in the file `{answer_filename(member)}` "
        "below._"
    )


def answer_filename(member: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in member).strip("-.")
    return f"{safe or 'model'}-answer.md"


def upload_failed_text(member: str, run_id: int | None) -> str:
    kept = f"with run #{run_id}" if run_id is not None else "with the run"
    return (
        f"✂️ Slack would not take the file with *{escape(member)}*'s whole answer. "
        f"It is kept in full {kept} in Quorum's database; an admin can read it there."
    )


def short_result_blocks(view: ResultView) -> list[JSON]:
    """The result in the full result's words (the verdict first, what it means, who
    agrees and who differs, failures with their refs, the buttons; none when every model
    failed) with the consensus answer cut short."""
    return compare_result.result_blocks(view, short=True)


@dataclass(frozen=True)
class Shown:
    """How the result reached Slack. ``in_full``: the message shows the whole result
    (otherwise the caller must put the full answers in the thread); ``moved_to``: the ts
    of a new thread reply holding the result, when Slack would not update the message
    at all (the asker must then be told where it is)."""

    in_full: bool
    moved_to: str | None = None


async def show_result(surface: ResultSurface, view: ResultView) -> Shown:
    """Turn the message into the result, or a short one, or post the short one anew in
    the thread. Raises only when Slack refused even that."""
    text = compare_result.result_text(view)
    try:
        await surface.update(compare_result.result_blocks(view), text)
        return Shown(in_full=True)
    except SLACK_FAILURES as exc:
        ref = new_reference()
        log.warning("Slack refused the result (%s); showing a short one [%s]", _why(exc), ref)
    short = short_result_blocks(view)
    try:
        await surface.update(short, text)
        return Shown(in_full=False)
    except SLACK_FAILURES as exc:
        log.warning("Slack refused the short result too (%s); posting it anew", _why(exc))
    return Shown(in_full=False, moved_to=await surface.reply(short, text))


def _why(exc: BaseException) -> str:
    """Slack's error code, or the HTTP status (a 5xx body is not JSON), or the kind."""
    response = getattr(exc, "response", None)
    if response is None:
        return type(exc).__name__
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    return str(error or f"HTTP {getattr(response, 'status_code', '?')}")


@dataclass(frozen=True)
class MemberMessages:
    """A member's answer as thread replies; ``cut``: the replies do not hold all of it
    (the last one says so, and the whole answer goes up as a file)."""

    parts: list[list[JSON]]
    cut: bool = False


def member_messages(
    run_id: int | None,
    answer: ModelAnswer,
    *,
    agreement: float | None,
    is_consensus: bool,
    agrees: bool | None = None,
) -> MemberMessages:
    """A member's answer as one thread reply, or several when it is too long for one:
    the header on the first, "continued" on the others, the *Best answer* button on the
    last. Past :data:`MAX_PARTS` replies it is cut, and the last reply says where the
    rest is."""
    whole = compare_result.member_blocks(
        run_id, answer, agreement=agreement, is_consensus=is_consensus, agrees=agrees
    )
    if not answer.ok:
        return MemberMessages([whole])
    sections, cut = compare_result.cut_answer_sections(
        answer.text,
        max_sections=MAX_PARTS * (MAX_BLOCKS - 4),
        # Each part but the last is filled past PART_CHARS less one section, so this
        # many characters never take more than MAX_PARTS parts.
        max_chars=MAX_PARTS * (PART_CHARS - SECTION_TEXT_LIMIT),
        cut_note=cut_note(answer.member, len(answer.text)),
    )
    if not cut and text_chars(sections) <= PART_CHARS and len(sections) <= MAX_BLOCKS - 3:
        return MemberMessages([whole])
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
    return MemberMessages(messages, cut)


def _continued(member: str, number: int, total: int) -> JSON:
    return compare_result.context_block(
        f"*{escape(member)}* (continued, part {number} of {total})"
    ).to_dict()


async def upload_whole_answer(
    surface: ResultSurface, answer: ModelAnswer, run_id: int | None
) -> None:
    """The whole of a cut answer as a file in the thread (``files.uploadV2``); when Slack
    will not take it, a reply saying where the answer is kept instead."""
    title = f"{answer.member}'s whole answer ({len(answer.text):,} characters)"
    try:
        uploaded = await surface.upload(answer.text, answer_filename(answer.member), title)
    except SLACK_FAILURES as exc:
        log.warning("could not upload %s's whole answer: %s", answer.member, _why(exc))
        uploaded = False
    if uploaded:
        return
    text = upload_failed_text(answer.member, run_id)
    try:
        await surface.reply([compare_result.context_block(text).to_dict()], text)
    except SLACK_FAILURES as exc:
        log.warning("could not say where %s's answer is: %s", answer.member, _why(exc))


async def post_member_replies(
    surface: ResultSurface,
    store: RunStore,
    run: PanelRun,
    consensus: Consensus,
    run_id: int | None,
    *,
    workspace: str,
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
    answer_ids = await store.answer_ids(run_id, workspace=workspace) if run_id is not None else {}
    agreeing = result_text.agreeing_members(consensus)
    for answer in run.answers:
        messages = member_messages(
            run_id,
            answer,
            agreement=consensus.agreement.get(answer.member),
            is_consensus=answer.member == consensus.model,
            agrees=answer.member in agreeing if consensus.model else None,
        )
        parts = messages.parts
        streamed: str | None = None
        if answer.ok and len(parts) == 1:
            # Slack's chat streaming where the workspace has it; the reply otherwise.
            try:
                streamed = await stream_answer(
                    surface,
                    answer,
                    run_id,
                    agreement=consensus.agreement.get(answer.member),
                    is_consensus=answer.member == consensus.model,
                    agrees=answer.member in agreeing if consensus.model else None,
                )
            except SLACK_FAILURES as exc:
                log.warning(
                    "streaming %s's answer failed (%s); posting it instead",
                    answer.member,
                    _why(exc),
                )
        if streamed is not None:
            posted[answer.member] = streamed
            answer_id = answer_ids.get(answer.member)
            if answer_id is not None:
                await store.set_answer_message(answer_id, streamed, workspace=workspace)
            continue
        try:
            first = await surface.reply(parts[0], compare_result.member_text(answer))
            for part in parts[1:]:
                await surface.reply(part, compare_result.member_text(answer))
        except SLACK_FAILURES as exc:
            log.warning("could not post %s's answer in the thread: %s", answer.member, _why(exc))
            continue
        if first is None:
            continue
        if messages.cut:
            await upload_whole_answer(surface, answer, run_id)
        posted[answer.member] = first
        answer_id = answer_ids.get(answer.member)
        if answer_id is not None:
            await store.set_answer_message(answer_id, first, workspace=workspace)
    return posted
