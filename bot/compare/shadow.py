"""Shadow candidates: models that answer every /compare question in silence.

After the user's answer is posted, the compare flow calls :func:`run_shadow` (as a
background task): each ``shadow:`` model gets the same question, its answer is stored
with role ``shadow``, with its latency, cost and agreement with the consensus that was
served. Nothing here talks to Slack: shadow answers are never shown to anyone; they
reach people only as numbers in the weekly digest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from bot.runtime.services import Services
from evals.consensus.agreement import analyse_panel
from evals.errors import new_reference
from evals.models.panel import ask_panel
from evals.models.rate_limits import background
from evals.records import ChatMessage, Consensus, ModelAnswer
from storage.panel_runs_repo import add_shadow_answers

log = logging.getLogger("quorum.shadow")


def agreement_with_served(
    services: Services, question: str, served: str, answers: Sequence[ModelAnswer]
) -> dict[str, float]:
    """Each usable shadow answer's agreement (0..1) with the served consensus text, by the
    same adjusted similarity the consensus uses (numbers and negations count)."""
    out: dict[str, float] = {}
    for answer in answers:
        if not answer.ok or not answer.text.strip():
            continue
        analysis = analyse_panel(
            {"served": served, "shadow": answer.text}, services.embedder, question=question
        )
        out[answer.member] = float(analysis.agreement[0][1])
    return out


def _store(
    services: Services,
    run_id: int,
    workspace: str,
    answers: Sequence[ModelAnswer],
    agreement: Mapping[str, float],
) -> None:
    with services.db.session() as session:
        add_shadow_answers(
            session, run_id, answers, agreement, workspace=workspace, at=services.clock.now()
        )


async def run_shadow(
    services: Services,
    *,
    run_id: int,
    workspace: str,
    question: str,
    consensus: Consensus,
    context: Sequence[ChatMessage] = (),
) -> None:
    """Ask the shadow candidates ``question`` and store what they said. Never raises:
    a failure here must not touch the user's conversation; it is logged instead."""
    if not services.shadow:
        return
    try:
        with background():  # nobody waits for these: they go after any person's calls
            run = await ask_panel(
                question,
                services.shadow,
                services.client,
                system_prompt=services.config.consensus.system_prompt,
                context=context,
                quorum=1,
                clock=services.clock,
            )
        agreement: dict[str, float] = {}
        if consensus.text:
            agreement = await asyncio.to_thread(
                agreement_with_served, services, question, consensus.text, run.answers
            )
        await asyncio.to_thread(_store, services, run_id, workspace, run.answers, agreement)
        log.info(
            "shadow answers stored for run %d: %s",
            run_id,
            ", ".join(f"{a.member}={agreement.get(a.member, 'n/a')}" for a in run.answers),
        )
    except Exception:
        log.error(
            "shadow candidates failed for run %d [%s]", run_id, new_reference(), exc_info=True
        )
