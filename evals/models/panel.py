"""Ask the whole panel at once and deliver answers as they arrive.

- Every member is asked concurrently; one member's failure never affects the others.
- A deadline guard (the member's timeout plus a small margin) means a client that hangs
  cannot hang the panel: that member's answer becomes :attr:`ErrorKind.TIMEOUT`.
- ``on_answer`` (or :func:`stream_panel`) sees answers in arrival order, so a Slack
  message or a terminal can show them progressively; :class:`PanelRun` keeps member order.
- :func:`quorum_status` says in plain words whether a consensus is possible.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from contextlib import aclosing

from evals.errors import InputError, new_reference
from evals.protocols import Clock, ModelClient, SystemClock
from evals.records import (
    ERROR_KIND_TEXT,
    ChatMessage,
    ErrorKind,
    ModelAnswer,
    PanelMember,
    PanelRun,
    SentOptions,
    SentPrompt,
)

logger = logging.getLogger(__name__)

#: Grace beyond a member's own timeout before the panel gives up on its client.
DEADLINE_MARGIN_S = 0.5

AnswerCallback = Callable[[ModelAnswer], Awaitable[None] | None]


def panel_messages(
    question: str, *, system_prompt: str | None = None, context: Iterable[ChatMessage] = ()
) -> tuple[ChatMessage, ...]:
    """The conversation each member sees: optional system prompt, context, the question."""
    if not question.strip():
        raise InputError("The question is empty: ask the panel something.")
    head = (ChatMessage("system", system_prompt),) if system_prompt else ()
    return (*head, *context, ChatMessage("user", question))


async def ask_panel(
    question: str,
    members: Sequence[PanelMember],
    client: ModelClient,
    *,
    system_prompt: str | None = None,
    context: Iterable[ChatMessage] = (),
    quorum: int = 2,
    on_answer: AnswerCallback | None = None,
    clock: Clock | None = None,
    deadline_margin_s: float = DEADLINE_MARGIN_S,
) -> PanelRun:
    """Ask every member ``question`` at once; return all answers in member order.

    ``on_answer`` is called (and awaited when it is a coroutine function) with each answer
    as it arrives; if it raises, the error is logged and the panel carries on.
    """
    clock = clock or SystemClock()
    _check_panel(members, quorum)
    messages = panel_messages(question, system_prompt=system_prompt, context=context)
    started_at = clock.now()
    answers: list[ModelAnswer | None] = [None] * len(members)
    async with aclosing(_fan_out(messages, members, client, deadline_margin_s)) as arrivals:
        async for index, answer in arrivals:
            answers[index] = answer
            if on_answer is not None:
                await _notify(on_answer, answer)
    finished_at = clock.now()
    return PanelRun(
        question=question,
        answers=tuple(a for a in answers if a is not None),
        started_at=started_at,
        finished_at=finished_at,
        quorum=quorum,
        prompt=sent_prompt(messages, members),
    )


def sent_prompt(messages: Sequence[ChatMessage], members: Sequence[PanelMember]) -> SentPrompt:
    """The record of what ``members`` were sent: the messages and each one's options."""
    return SentPrompt(
        messages=tuple(messages),
        options={m.name: SentOptions(m.temperature, m.max_tokens) for m in members},
    )


async def stream_panel(
    question: str,
    members: Sequence[PanelMember],
    client: ModelClient,
    *,
    system_prompt: str | None = None,
    context: Iterable[ChatMessage] = (),
    deadline_margin_s: float = DEADLINE_MARGIN_S,
) -> AsyncGenerator[ModelAnswer]:
    """Yield each member's answer as it arrives.

    Leaving the loop early cancels the members still working once the generator is closed
    (at once under ``contextlib.aclosing``, otherwise when it is garbage collected).
    """
    _check_panel(members, 1)
    messages = panel_messages(question, system_prompt=system_prompt, context=context)
    async with aclosing(_fan_out(messages, members, client, deadline_margin_s)) as arrivals:
        async for _, answer in arrivals:
            yield answer


def quorum_status(run: PanelRun) -> tuple[bool, str]:
    """Whether the run has enough usable answers for a consensus, and why, in plain words."""
    total, usable = len(run.answers), len(run.usable)
    failures = "; ".join(
        f"{a.member} {ERROR_KIND_TEXT[a.error]}" for a in run.answers if a.error is not None
    )
    if run.quorum_met:
        reason = f"{usable} of {total} models answered (at least {run.quorum} needed)."
        return True, reason + (f" Not answering: {failures}." if failures else "")
    if usable == 0:
        head = f"None of the {total} models gave a usable answer"
    else:
        head = f"Only {usable} of {total} models gave a usable answer"
    reason = f"{head}, and a consensus needs at least {run.quorum}."
    return False, reason + (f" {failures[0].upper()}{failures[1:]}." if failures else "")


def _check_panel(members: Sequence[PanelMember], quorum: int) -> None:
    if not members:
        raise InputError("The panel has no members: add models under `panel:` in quorum.yaml.")
    if quorum < 1:
        raise InputError(f"The quorum must be at least 1 (got {quorum}).")


async def _fan_out(
    messages: Sequence[ChatMessage],
    members: Sequence[PanelMember],
    client: ModelClient,
    margin_s: float,
) -> AsyncGenerator[tuple[int, ModelAnswer]]:
    queue: asyncio.Queue[tuple[int, ModelAnswer]] = asyncio.Queue()

    async def ask(index: int, member: PanelMember) -> None:
        queue.put_nowait((index, await _ask_member(client, member, messages, margin_s)))

    tasks = [asyncio.create_task(ask(i, m), name=f"panel:{m.name}") for i, m in enumerate(members)]
    try:
        for _ in tasks:
            yield await queue.get()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _ask_member(
    client: ModelClient, member: PanelMember, messages: Sequence[ChatMessage], margin_s: float
) -> ModelAnswer:
    started = time.perf_counter()
    limit = member.timeout_s + margin_s
    try:
        return await asyncio.wait_for(client.complete(member, messages), timeout=limit)
    except TimeoutError:
        reference = new_reference()
        logger.warning(
            "Panel member %s gave no answer within %.1f s [%s]", member.name, limit, reference
        )
        kind, detail = ErrorKind.TIMEOUT, f"no answer within {member.timeout_s:g} s"
    except Exception as exc:  # a client must not raise; if it does, this member failed
        reference = new_reference()
        logger.error(
            "Panel member %s: the model client raised %s [%s]",
            member.name,
            type(exc).__name__,
            reference,
        )
        kind, detail = ErrorKind.PROVIDER_ERROR, f"client error: {type(exc).__name__}"
    return ModelAnswer(
        reference=reference,
        member=member.name,
        model=member.model,
        latency_ms=round((time.perf_counter() - started) * 1000),
        error=kind,
        error_detail=detail,
    )


async def _notify(callback: AnswerCallback, answer: ModelAnswer) -> None:
    try:
        result = callback(answer)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception(
            "The on_answer callback failed for %s; the panel carries on", answer.member
        )
