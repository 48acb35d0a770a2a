"""Case intake: turn a 👎, a 🚩 or a correction on a run into a proposed eval case.

The stored run gives exactly what the panel was sent (the earlier thread messages as
multi-turn context, the question, the system prompt and each member's options), each
model's answer and the consensus; a correction gives the expected answer, its severity and
its failure mode as a ``failure:`` tag (what went wrong is not the case's category, the
kind of question, which a reviewer sets). Everything is redacted before it is stored
(storage takes nothing else); the production log keeps the original. A repeat (the same run flagged again, or the same question in other words)
is merged into the existing case and counted. A new case can be announced in the
configured review channel.

The Slack calls are best effort and bounded (permalink, notice), so a flag becomes a reviewable case in well under a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from bot.compare.channels import channels
from bot.messages.case_review import new_case_notice, notice_text
from bot.runtime.config import QuorumConfig
from bot.runtime.services import Services
from evals.cases.redaction import RedactedCase, redacted
from evals.cases.schema import (
    CaseInput,
    CaseSource,
    ContextMessage,
    EvalCase,
    FailureMode,
    ObservedAnswer,
    ObservedOptions,
    ObservedRun,
    Severity,
)
from evals.cases.sets import CasePolicy, new_case_id
from evals.errors import ConfigError
from storage import case_repo
from storage.case_repo import ProposeResult
from storage.records import CorrectionRecord, StoredPanelRun
from storage.repo import corrections_for_run, get_run

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds the permalink lookup may take before the case gets Slack's generic archive
#: link instead. Intake runs in the background, after the signal is stored and the
#: person answered, so this only bounds how long a case waits to be stored.
PERMALINK_TIMEOUT_S = 3.0
#: Seconds the review-channel notice may take (the client retries rate limits inside
#: it). A notice that cannot be posted is logged as a warning; the case is stored and
#: listed by `/quorum cases` either way.
NOTICE_TIMEOUT_S = 15.0

KIND_TAGS = {"down": "thumbs-down", "flag": "flagged", "correction": "corrected"}
KIND_SEVERITY = {"down": Severity.MEDIUM, "flag": Severity.HIGH, "correction": Severity.MEDIUM}


def failure_tag(mode: FailureMode) -> str:
    """The tag a corrected case carries for what went wrong: ``failure:outdated``."""
    return f"failure:{mode.value}"


def case_policy(config: QuorumConfig) -> CasePolicy:
    """The ``cases:`` section of quorum.yaml (defaults when the section is absent)."""
    value: Any = getattr(config, "cases", None)
    if value is None:
        return CasePolicy()
    if isinstance(value, CasePolicy):
        return value
    data = value.model_dump() if isinstance(value, BaseModel) else value
    try:
        return CasePolicy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid `cases` section in quorum.yaml: {exc}") from None


def slack_client(services: Services) -> AsyncWebClient | None:
    """A Web API client from the bot token, or None when there is none."""
    token = services.settings.slack_bot_token
    if token is None:
        return None
    return AsyncWebClient(
        token=token.get_secret_value(), base_url=services.settings.slack_api_url, timeout=5
    )


def fallback_link(channel_id: str, ts: str) -> str:
    """Slack's workspace-independent archive link to a message."""
    return f"https://slack.com/archives/{channel_id}/p{ts.replace('.', '')}"


async def _bounded(coro: Awaitable[Any], what: str, timeout_s: float) -> Any:
    try:
        return await asyncio.wait_for(coro, timeout_s)
    except Exception as exc:
        log.warning("case intake went on without %s (%s)", what, type(exc).__name__)
        return None


def _sent_context(run: StoredPanelRun) -> list[ContextMessage]:
    """The earlier messages the panel was sent with the question, exactly as sent. Runs
    stored before prompts were kept have none: the case then holds the question alone
    rather than a thread re-read now, which may differ from what the panel answered."""
    if run.prompt is None:
        return []
    return [ContextMessage(role=m.role, content=m.content) for m in run.prompt.context]


async def _permalink(client: AsyncWebClient, run: StoredPanelRun) -> str | None:
    if not (run.channel_id and run.message_ts):
        return None
    resp = await _bounded(
        client.chat_getPermalink(channel=run.channel_id, message_ts=run.message_ts),
        "the permalink",
        PERMALINK_TIMEOUT_S,
    )
    link = resp.get("permalink") if resp is not None else None
    return str(link) if link else fallback_link(run.channel_id, run.message_ts)


def flagged_member(
    run: StoredPanelRun, answer_id: int | None, correction: CorrectionRecord | None
) -> str | None:
    """Whose answer the signal was about: the answer it was left on (a thread reply, or
    the answer a correction corrects), else the consensus answer the result message
    showed (None when there was none)."""
    target = correction.answer_id if correction is not None else None
    target = target if target is not None else answer_id
    if target is not None:
        answer = next((a for a in run.answers if a.id == target), None)
        if answer is not None:
            return answer.member
    return run.consensus_member


def build_case(
    run: StoredPanelRun,
    *,
    kind: str,
    correction: CorrectionRecord | None,
    source_link: str | None,
    policy: CasePolicy,
    answer_id: int | None = None,
) -> RedactedCase:
    """The proposed case for a signal on ``run``, redacted: the question and context
    are the messages the panel was sent; ``answer_id`` is the answer the signal was left
    on (None: the result message, i.e. the consensus answer)."""
    prompt = run.prompt
    flagged = flagged_member(run, answer_id, correction)
    observed = ObservedRun(
        answers=[
            ObservedAnswer(
                model=a.member,
                text=a.text,
                error=a.error_kind.value if a.error_kind is not None else None,
            )
            for a in run.panel_answers
        ],
        consensus_model=run.consensus_member,
        consensus_text=run.consensus_text,
        confidence=min(max(run.confidence, 0.0), 1.0),
        flagged=[flagged] if flagged else [],
        system_prompt=prompt.system_prompt if prompt is not None else None,
        options={
            name: ObservedOptions(temperature=o.temperature, max_tokens=o.max_tokens)
            for name, o in (prompt.options.items() if prompt is not None else ())
        },
    )
    tags = {"production", KIND_TAGS.get(kind, kind)}
    if correction is not None:
        tags.add(failure_tag(correction.failure_mode))
    case = EvalCase(
        id=new_case_id(),
        input=CaseInput(
            question=prompt.question if prompt is not None else run.question,
            context=_sent_context(run),
        ),
        expected=correction.correct_answer if correction else None,
        category=None,  # the kind of question: a reviewer's call, never the failure mode
        severity=correction.severity if correction else KIND_SEVERITY.get(kind, Severity.MEDIUM),
        tags=sorted(tags),
        source=CaseSource.PRODUCTION,
        source_link=source_link
        or (
            fallback_link(run.channel_id, run.message_ts)
            if run.channel_id and run.message_ts
            else None
        ),
        observed=observed,
    )
    return redacted(case, policy.redact_patterns)


def _load(
    session: Session, run_id: int, correction_id: int | None, workspace: str
) -> tuple[StoredPanelRun | None, CorrectionRecord | None]:
    run = get_run(session, run_id, workspace=workspace)
    correction = None
    if run is not None and correction_id is not None:
        found = corrections_for_run(session, run_id, workspace=workspace)
        correction = next((c for c in found if c.id == correction_id), None)
    return run, correction


async def propose_case_from_signal(
    services: Services,
    *,
    workspace: str,
    run_id: int,
    kind: str,
    user_id: str,
    correction_id: int | None = None,
    answer_id: int | None = None,
    client: AsyncWebClient | None = None,
) -> ProposeResult | None:
    """Propose a (redacted) eval case from a production signal on run ``run_id``.

    ``kind`` is "down", "flag" or "correction" (with ``correction_id``); ``answer_id``
    is the answer whose thread reply the signal was left on (None: the result). ``client`` is
    the Slack Web API client for the permalink and the review notice (default: one built from the bot
    token). Returns what was stored, or None when the run is unknown.
    """
    policy = case_policy(services.config)
    run, correction = await asyncio.to_thread(
        _with_session, services, lambda s: _load(s, run_id, correction_id, workspace)
    )
    if run is None:
        log.warning("case intake: run %s not found (%s by %s)", run_id, kind, user_id)
        return None
    if correction_id is not None and correction is None:
        log.warning("case intake: correction %s not found on run %s", correction_id, run_id)
    client = client or slack_client(services)
    link = await _permalink(client, run) if client is not None else None
    case = build_case(
        run,
        kind=kind,
        correction=correction,
        source_link=link,
        policy=policy,
        answer_id=answer_id,
    )
    result = await asyncio.to_thread(
        _with_session,
        services,
        lambda s: case_repo.propose_case(
            s,
            case,
            services.embedder,
            workspace=workspace,
            actor=user_id,
            source_run_id=run_id,
            threshold=policy.duplicate_threshold,
            now=services.clock.now(),
        ),
    )
    log.info(
        "case intake: run %s %s by %s -> %s %s",
        run_id,
        kind,
        user_id,
        "merged into" if result.merged else "proposed",
        result.case.id,
    )
    _, channel = await asyncio.to_thread(channels, services, workspace)
    if channel and client is not None and not result.merged:
        await _notify(client, channel, result.case)
    return result


def _with_session(services: Services, work: Callable[[Session], T]) -> T:
    with services.db.session() as session:
        return work(session)


async def _notify(client: AsyncWebClient, channel: str, case: EvalCase) -> None:
    await _bounded(
        client.chat_postMessage(
            channel=channel, text=notice_text(case), blocks=new_case_notice(case)
        ),
        "the review channel notice",
        NOTICE_TIMEOUT_S,
    )
