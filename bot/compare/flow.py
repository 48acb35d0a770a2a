"""The /compare flow: a visible message at once, progress as answers arrive, the result.

1. Post "asking the panel" in the channel (or the thread) at once.
2. Ask the panel; each arriving answer marks the message dirty and a
   :class:`MessageThrottle` sends at most one ``chat.update`` per second per message.
3. Consensus (in a worker thread: embeddings are CPU work), turn the message into the
   result at once (no throttle wait), store the run, then post each member's full
   answer as a thread reply (with "Best answer" buttons that carry the run id).

When the bot is not in the channel, the user gets an ephemeral note on how to invite
it, and the result through the command's ``response_url`` (ephemeral) or, without one,
as a direct message. The database being down never costs the user their answer: the
run is spooled by :class:`bot.compare.run_store.RunStore`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.compare.delivery import Shown, post_member_replies, show_result
from bot.compare.destination import (
    CompareRequest,
    MessageThrottle,
    open_surface,
)
from bot.compare.run_spool import PendingRun
from bot.compare.run_store import RunStore
from bot.compare.shadow import run_shadow
from bot.messages import compare_result
from bot.runtime.heap_trim import IdleTrim
from bot.runtime.services import Services
from bot.slack.background_tasks import spawn
from bot.slack.errors import friendly
from evals.consensus.decision import build_consensus, prepare_answer
from evals.errors import new_reference
from evals.models.panel import ask_panel
from evals.records import Consensus, ModelAnswer, PanelRun
from storage.records import RunOrigin

log = logging.getLogger(__name__)

T = TypeVar("T")


def _fallback_consensus(run: PanelRun, ref: str) -> Consensus:
    return Consensus.none(
        f"the answers could not be compared (reference {ref}); each is in the thread",
        calibrator="none",
    )


#: Consensus work (embeddings) is CPU-bound: one at a time, in its own thread, so a
#: burst of finishing questions cannot starve the event loop (acks) or the DB threads.
_CONSENSUS_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="consensus")


#: The heap goes back to the system when the last /compare of a burst finishes.
_IDLE_TRIM = IdleTrim()


async def in_consensus_thread(fn: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(_CONSENSUS_POOL, fn)


async def compute_consensus(services: Services, run: PanelRun, workspace: str) -> Consensus:
    """The consensus of ``run``, confidence from ``workspace``'s calibrator."""
    weights: Mapping[str, float] = {m.name: m.weight for m in services.members}
    try:
        return await in_consensus_thread(
            lambda: build_consensus(
                run.answers,
                services.embedder,
                services.calibrator_for(workspace),
                weights=weights,
                quorum=services.config.consensus.quorum,
                question=run.question,
            )
        )
    except Exception:
        ref = new_reference()
        log.exception("consensus failed [%s]", ref)
        return _fallback_consensus(run, ref)


async def run_compare(
    services: Services, client: AsyncWebClient, store: RunStore, req: CompareRequest
) -> int | None:
    """The whole flow for one question. Returns the stored run id (None when spooled)."""
    members = services.members
    names = [m.name for m in members]
    answers: dict[str, ModelAnswer] = {}

    first = compare_result.progress_blocks(req.question, req.user_id, names, answers)
    surface = await open_surface(client, req, first, "Asking the panel…")

    async def send_progress() -> None:
        await surface.update(
            compare_result.progress_blocks(req.question, req.user_id, names, dict(answers)),
            "Asking the panel…",
        )

    throttle = MessageThrottle(send_progress)

    async def on_answer(answer: ModelAnswer) -> None:
        answers[answer.member] = answer
        if surface.can_update and len(answers) < len(names):
            throttle.poke()
        # Embed while the slower members are still thinking (not while the model is
        # still loading: that would only make the panel wait for it).
        if answer.ok and services.embedder_ready:
            await in_consensus_thread(lambda: prepare_answer(answer.text, services.embedder))

    try:
        run = await ask_panel(
            req.question,
            members,
            services.client,
            system_prompt=services.config.consensus.system_prompt,
            context=req.context,
            quorum=services.config.consensus.quorum,
            on_answer=on_answer,
            clock=services.clock,
        )
    finally:
        await throttle.finish()
    panel_done = time.perf_counter()
    consensus = await compute_consensus(services, run, req.workspace)
    consensus_done = time.perf_counter()

    async def save() -> int | PendingRun:
        return await store.save_run(
            run,
            consensus,
            workspace=req.workspace,
            origin=RunOrigin.SLACK,
            requester=req.user_id,
            config_hash=services.config.config_hash(),
            channel_id=surface.channel_id,
            thread_ts=req.thread_ts,
            team_id=req.team_id,
            message_ts=surface.ts,
            delivery_key=req.delivery_key,
        )

    shown = Shown(in_full=True)
    if surface.ts is not None:
        # The run is stored while the result is shown (the user is waiting), and whatever
        # Slack does with the result. Its buttons find the run by the message they sit
        # on, so they need no run id.
        view = compare_result.ResultView(
            run=run, consensus=consensus, asker=req.user_id, run_id=None
        )
        saving = asyncio.create_task(save())
        try:
            shown = await show_result(surface, view)
        except Exception:
            pending = await saving
            if isinstance(pending, PendingRun):
                await store.spool_run(pending, {})
            raise
        log.debug(
            "result shown %.0f ms after the panel finished (consensus %.0f ms)",
            (time.perf_counter() - panel_done) * 1000,
            (consensus_done - panel_done) * 1000,
        )
        saved = await saving
    else:
        # An ephemeral result has no message to find the run by: store first.
        saved = await save()
        run_id = saved if isinstance(saved, int) else None
        view = compare_result.ResultView(
            run=run, consensus=consensus, asker=req.user_id, run_id=run_id
        )
        await surface.update(compare_result.result_blocks(view), compare_result.result_text(view))
    run_id = saved if isinstance(saved, int) else None
    replies: dict[str, str] = {}
    if services.config.slack.show_thread_answers or not shown.in_full:
        replies = await post_member_replies(
            surface, store, run, consensus, run_id, workspace=req.workspace
        )
    if shown.moved_to is not None and surface.channel_id is not None:
        await tell_where_the_result_is(client, req, surface.channel_id, shown.moved_to)
    if isinstance(saved, PendingRun):
        await store.spool_run(saved, replies)
    if services.shadow and run_id is not None:
        spawn(
            run_shadow(
                services,
                run_id=run_id,
                workspace=req.workspace,
                question=run.question,
                consensus=consensus,
                context=req.context,
            ),
            name=f"shadow:{run_id}",
        )
    return run_id


async def tell_user(client: AsyncWebClient, req: CompareRequest, text: str) -> None:
    """An ephemeral message to the asker, by whatever way works (never raises)."""
    try:
        if req.response_url:
            await AsyncWebhookClient(req.response_url).send(text=text, response_type="ephemeral")
            return
        await client.chat_postEphemeral(
            channel=req.channel_id, user=req.user_id, text=text, thread_ts=req.thread_ts
        )
    except Exception:
        log.warning("could not tell %s: %s", req.user_id, text, exc_info=True)


def moved_text(link: str | None) -> str:
    where = f"<{link}|in the thread>" if link else "in the thread of the message above"
    return (
        "Slack would not update the message with your answer, so the panel's result and "
        f"each model's full answer are {where}."
    )


async def tell_where_the_result_is(
    client: AsyncWebClient, req: CompareRequest, channel_id: str, ts: str
) -> None:
    """The result went to the thread because Slack refused to update the message: tell
    the asker, privately, with a link to it (never raises)."""
    link: str | None = None
    try:
        resp = await client.chat_getPermalink(channel=channel_id, message_ts=ts)
        link = str(resp["permalink"]) if resp.get("permalink") else None
    except Exception:
        log.info("no permalink for %s/%s", channel_id, ts, exc_info=True)
    text = moved_text(link)
    try:
        await client.chat_postEphemeral(
            channel=channel_id, user=req.user_id, text=text, thread_ts=req.thread_ts
        )
    except Exception:
        log.info("could not tell %s privately in %s; trying otherwise", req.user_id, channel_id)
        await tell_user(client, req, text)


async def run_compare_safely(
    services: Services, client: AsyncWebClient, store: RunStore, req: CompareRequest
) -> None:
    """:func:`run_compare` with every failure turned into a friendly, referenced note."""
    async with _IDLE_TRIM.busy():
        try:
            await run_compare(services, client, store, req)
        except Exception as exc:
            await tell_user(client, req, friendly(exc, action="asking the panel"))
