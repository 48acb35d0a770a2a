"""What every model client does the same way, whichever wire it speaks.

Quorum has two model clients (:mod:`evals.models.litellm_client` for every provider litellm
reaches, :mod:`evals.models.openai_compatible` for OpenAI-compatible servers, straight over
HTTP). They share, from here:

- one call = attempts within the member's ``timeout_s`` (waits included), retried on 429,
  5xx and dropped connections up to ``max_retries`` times with exponential backoff and
  jitter, or the provider's own wait hint (capped) when it gives one, in whichever shape
  it gives it (:mod:`evals.models.retry_hints`; :func:`ask_with_retries`); each attempt
  paced by the process's rate limiter, and in an eval run a rate-limited call asked again
  until the run's deadline (:mod:`evals.models.rate_limits`);
- which HTTP status is which :class:`~evals.records.ErrorKind` and whether it is retried
  (Anthropic's ``529 overloaded`` is a rate limit: the provider asks everyone to slow down);
- an error detail that is one short line scrubbed of secrets, never a raw body;
- the answer: the text, the model that answered, tokens, finish reason, "no text" as
  ``EMPTY``, and the cost: prompt and completion tokens times the member's price, or
  ``None`` ("unknown") when nobody knows the price, never $0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evals.cases.redaction import OPAQUE_RUNS, scrub
from evals.errors import new_reference
from evals.models.rate_limits import CallLimits, CallMode, call_limits, call_mode
from evals.models.retry_hints import wait_hint
from evals.records import ErrorKind, ModelAnswer, PanelMember

logger = logging.getLogger(__name__)

_SECRET_PARAM = re.compile(r"key|token|secret|password|auth", re.IGNORECASE)
_MAX_DETAIL = 160


@dataclass(frozen=True)
class Price:
    input_per_token: float
    output_per_token: float


@dataclass(frozen=True)
class Reply:
    """A provider's answer, read off the wire (any field may be missing)."""

    text: str
    finish_reason: str | None = None
    resolved_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class CallFailure:
    kind: ErrorKind
    retryable: bool
    detail: str
    retry_after_s: float | None = None


#: Prices a member's answer: the member, and the model the provider says answered.
PriceOf = Callable[[PanelMember, str | None], Price | None]


class RetryPolicy:
    """``backoff_base_s`` is the first retry's nominal wait (doubled on each retry, with
    jitter, at most ``max_backoff_s``); a provider's ``Retry-After`` is used instead when
    present, at most ``max_retry_after_s``."""

    def __init__(
        self,
        *,
        backoff_base_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_retry_after_s: float = 20.0,
        rng: random.Random | None = None,
    ) -> None:
        if backoff_base_s < 0 or max_backoff_s < 0 or max_retry_after_s < 0:
            raise ValueError("backoff settings must not be negative")
        self.backoff_base_s = backoff_base_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._rng = rng or random.Random()

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        nominal = min(self.backoff_base_s * 2.0**attempt, self.max_backoff_s)
        return nominal * (0.5 + self._rng.random() / 2)  # "equal jitter"


async def ask_with_retries(
    member: PanelMember,
    attempt: Callable[[], Awaitable[Reply | CallFailure]],
    policy: RetryPolicy,
    price_of: PriceOf,
) -> ModelAnswer:
    """Run ``attempt`` until it gives a reply, a failure not worth retrying, or the
    member's time or retries run out. Never raises for a provider's failure.

    Under a :class:`~evals.models.rate_limits.LimitedClient` each try waits for the
    member's turn first. Inside :func:`~evals.models.rate_limits.background` with a
    deadline (an eval run), a refusal (rate limited) is never final: the call waits for
    the provider's hint and asks again until the deadline, and neither the refusals nor the
    waits count against ``max_retries`` or ``timeout_s`` (then the failure is a
    :attr:`ErrorKind.DEADLINE`). Outside one (a person waiting), refusals are asked again
    within ``timeout_s`` without counting against ``max_retries``: past it, the member
    was rate limited."""
    mode = call_mode()
    limits = call_limits()
    started = time.perf_counter()
    own_end = started + member.timeout_s  # the member's own time: its tries and backoff
    patient_end = _perf_deadline(mode.deadline)
    tries = refusals = 0
    failure: CallFailure | None = None
    while True:
        if patient_end is not None and time.perf_counter() >= patient_end:
            failure = _past_deadline(refusals)
            break
        permit = None
        if limits is not None:
            waited_from = time.perf_counter()
            end = patient_end if patient_end is not None else own_end
            permit = await limits.limiter.acquire(
                member,
                limits.estimated_tokens,
                mode.priority,
                max_wait=max(end - waited_from, 0.0),
            )
            waited = time.perf_counter() - waited_from
            if permit is None or permit.limited:
                _note_wait(member, mode, limits, waited)
            if patient_end is not None:
                own_end += waited  # waiting on limits is not the member's slowness
            if permit is None:
                if patient_end is not None:
                    failure = _past_deadline(refusals)
                elif failure is None:
                    failure = CallFailure(
                        ErrorKind.RATE_LIMITED,
                        True,
                        "held back by its rate limit past the answer's time budget",
                    )
                break
        remaining = own_end - time.perf_counter()
        if remaining <= 0:
            failure = timed_out(member, retryable=False)
            break
        tries += 1
        try:
            outcome = await asyncio.wait_for(attempt(), timeout=remaining)
        except TimeoutError:
            if permit is not None and limits is not None:
                limits.limiter.settle(permit)
            failure = timed_out(member, retryable=False)
            break
        except BaseException:  # cancelled (the panel's deadline, Ctrl-C): no answer to learn from
            if permit is not None and limits is not None:
                limits.limiter.release(permit)
            raise
        if isinstance(outcome, Reply):
            if permit is not None and limits is not None:
                limits.limiter.settle(permit, used_tokens=_used_tokens(outcome))
            return answer(member, outcome, elapsed_ms(started), price_of)
        failure = outcome
        refused = failure.kind is ErrorKind.RATE_LIMITED
        if permit is not None and limits is not None:
            limits.limiter.settle(permit, refused=refused, retry_after=failure.retry_after_s)
        if refused:
            refusals += 1
            if mode.log is not None:
                mode.log.throttled += 1
        if failure.kind is ErrorKind.TIMEOUT:
            failure = timed_out(member, retryable=failure.retryable)
        if refused and patient_end is not None:
            logger.debug("Panel member %s: refused (%d), asking again", member.name, refusals)
            if limits is None:  # no limiter to pause us: back off here
                delay = policy.delay(min(refusals - 1, 16), failure.retry_after_s)
                delay = min(delay, max(patient_end - time.perf_counter(), 0.0))
                await asyncio.sleep(delay)
                own_end += delay
            continue
        if refused and limits is not None:
            # A refusal is not an error of the member's: asked again, after the pause the
            # limiter keeps for the provider's hint, for as long as its time allows.
            continue
        if not failure.retryable or tries > member.max_retries:
            break
        delay = policy.delay(tries - 1, failure.retry_after_s)
        if time.perf_counter() + delay >= own_end:
            break  # no time left for another try: report what happened
        logger.info(
            "Panel member %s: %s, retry %d of %d in %.2f s",
            member.name,
            failure.kind.value,
            tries,
            member.max_retries,
            delay,
        )
        await asyncio.sleep(delay)

    detail = failure.detail + (f" (after {tries} attempts)" if tries > 1 else "")
    reference = new_reference()
    logger.warning(
        "Panel member %s (%s) failed [%s]: %s: %s",
        member.name,
        member.model,
        reference,
        failure.kind,
        detail,
    )
    return ModelAnswer(
        member=member.name,
        model=member.model,
        latency_ms=elapsed_ms(started),
        error=failure.kind,
        error_detail=detail,
        reference=reference,
    )


def _perf_deadline(deadline: datetime | None) -> float | None:
    """A wall-clock deadline on :func:`time.perf_counter`'s scale."""
    if deadline is None:
        return None
    return time.perf_counter() + (deadline - datetime.now(UTC)).total_seconds()


def _past_deadline(refusals: int) -> CallFailure:
    if refusals:
        detail = f"still rate limited when the run's deadline passed ({refusals} refusals)"
    else:
        detail = "waited for its rate limit until the run's deadline passed"
    return CallFailure(ErrorKind.DEADLINE, False, detail)


def _used_tokens(reply: Reply) -> int | None:
    if reply.prompt_tokens is None or reply.completion_tokens is None:
        return None
    return reply.prompt_tokens + reply.completion_tokens


def _note_wait(member: PanelMember, mode: CallMode, limits: CallLimits, seconds: float) -> None:
    if seconds <= 0:
        return
    limits.limiter.waited(member.name, seconds)
    if mode.log is not None:
        mode.log.waited_s += seconds


def answer(member: PanelMember, reply: Reply, latency_ms: int, price_of: PriceOf) -> ModelAnswer:
    """The member's answer, priced; a reply with no text is an ``EMPTY`` failure."""
    empty = not reply.text.strip()
    if empty:
        logger.warning("Panel member %s (%s) returned no text", member.name, member.model)
    price = price_of(member, reply.resolved_model)
    cost = None
    if (
        price is not None
        and reply.prompt_tokens is not None
        and reply.completion_tokens is not None
    ):
        cost = (
            reply.prompt_tokens * price.input_per_token
            + reply.completion_tokens * price.output_per_token
        )
    return ModelAnswer(
        member=member.name,
        model=member.model,
        text=reply.text,
        resolved_model=reply.resolved_model,
        latency_ms=latency_ms,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost_usd=cost,
        finish_reason=reply.finish_reason,
        error=ErrorKind.EMPTY if empty else None,
        error_detail=(
            f"no text (finish reason: {reply.finish_reason or 'unknown'})" if empty else None
        ),
    )


class PriceBook:
    """Prices a member's answers: its configured ``input_cost_per_token`` /
    ``output_cost_per_token``, else ``lookup`` (a price list) for the requested model,
    else for the model that answered; None: unknown. Each model is looked up once."""

    def __init__(self, lookup: Callable[[str], Price | None]) -> None:
        self._lookup = lookup
        self._listed: dict[str, Price | None] = {}

    def __call__(self, member: PanelMember, resolved_model: str | None = None) -> Price | None:
        price = configured_price(member)
        if price is not None:
            return price
        price = self._listed_price(member.model)
        if price is None and resolved_model:
            price = self._listed_price(resolved_model)
        return price

    def _listed_price(self, model: str) -> Price | None:
        if model not in self._listed:
            self._listed[model] = self._lookup(model)
        return self._listed[model]


def configured_price(member: PanelMember) -> Price | None:
    """The member's own ``input_cost_per_token`` / ``output_cost_per_token``, if it has one."""
    cost_in = member.params.get("input_cost_per_token")
    cost_out = member.params.get("output_cost_per_token")
    if cost_in is None and cost_out is None:
        return None
    return Price(per_token(cost_in), per_token(cost_out))


def per_token(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return number if number >= 0 else 0.0


def kind_of_status(status: int) -> tuple[ErrorKind, bool]:
    """An HTTP error status as an error kind, and whether it is worth another try."""
    if status in (429, 529):  # 529: Anthropic's "overloaded": slow down, as for a 429
        return ErrorKind.RATE_LIMITED, True
    if status in (401, 403):
        return ErrorKind.AUTH, False
    if status == 408:
        return ErrorKind.TIMEOUT, True
    if 400 <= status < 500:
        return ErrorKind.BAD_REQUEST, False
    return ErrorKind.PROVIDER_ERROR, status >= 500


def timed_out(member: PanelMember, *, retryable: bool) -> CallFailure:
    return CallFailure(ErrorKind.TIMEOUT, retryable, f"no answer within {member.timeout_s:g} s")


def elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def secret_values(params: Mapping[str, Any]) -> list[str]:
    """The member's secrets (API keys, tokens), longest first, to scrub from any text."""
    values = [str(v) for k, v in params.items() if _SECRET_PARAM.search(k) and v]
    return sorted((v for v in values if len(v) >= 4), key=len, reverse=True)


def safe_line(raw: str, secrets: Iterable[str]) -> str:
    """The first line of a provider's message, scrubbed of secrets and shortened."""
    line = raw.strip().splitlines()[0] if raw.strip() else ""
    line = scrub(line, secrets, OPAQUE_RUNS)
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 1] + "…"


def retry_after(headers: Any) -> float | None:
    """Seconds the provider's headers asked us to wait (any shape
    :func:`~evals.models.retry_hints.wait_hint` reads)."""
    return wait_hint(None, headers)


def error_message(raw: str | bytes) -> str:
    """The provider's own explanation in an error body: ``{"error": {"message": ...}}``
    (OpenAI; Anthropic's ``{"type": "error", "error": {...}}``; Google's, also wrapped in
    a list), other servers' ``message`` / ``detail`` (vLLM, TGI); the JSON may follow a
    prefix (litellm's ``"AnthropicException - {...}"``). Never a raw HTML page: ""."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    start = text.find("{")
    bracket = text.find("[")
    if 0 <= bracket < start or start < 0 <= bracket:
        start = bracket
    if start < 0:
        return ""
    try:
        data, _ = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        return ""
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            data = error
        elif isinstance(error, str):
            return error
        for key in ("message", "detail"):
            value = data.get(key)
            if isinstance(value, str):
                return value
    return ""
