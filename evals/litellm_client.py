"""The litellm adapter: asks one panel member one conversation.

The only module that imports litellm. It never raises for a provider's failure: every
outcome is a :class:`~evals.types.ModelAnswer`, with an :class:`~evals.types.ErrorKind`
when no usable answer came back.

- The member's ``timeout_s`` bounds the whole call, retries and waits included.
- 429 and 5xx (and dropped connections) are retried up to ``max_retries`` times with
  exponential backoff and jitter; a provider's ``Retry-After`` is honoured, capped.
  litellm's and the OpenAI SDK's own retries are switched off so every attempt is ours.
- ``error_detail`` is short and scrubbed of secrets: never an API key, never a raw body.
- A model's price is looked up once per client, not per response: the member's
  ``input_cost_per_token`` / ``output_cost_per_token``, else litellm's cost map for the
  requested model, else for the model the provider says answered. The cost is the
  response's prompt and completion tokens times that price. A model without a known price
  costs ``None`` ("unknown"), never $0.
- litellm prices every response itself too (for its own logging, which Quorum does not
  read). So that this costs little: a member with a price hands it to litellm with every
  call (litellm's cheap custom-price path), and a model litellm has no price for is
  registered in its cost map once, at 0, so litellm stops searching its map (and its
  fallbacks) on every response and failing. That entry is ours, not a price: this module
  never reads it back as one.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # after the environment above: litellm reads it at import
from litellm import exceptions as llm_errors

from evals.errors import new_reference
from evals.redact import OPAQUE_RUNS, scrub
from evals.types import ChatMessage, ErrorKind, ModelAnswer, PanelMember

litellm.suppress_debug_info = True
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
    logging.getLogger(_name).setLevel(logging.ERROR)

logger = logging.getLogger(__name__)

#: Parameters we control ourselves; the member's own values for these are ignored.
_OWN_PARAMS = frozenset({"model", "messages", "timeout", "num_retries", "max_retries", "stream"})
_SECRET_PARAM = re.compile(r"key|token|secret|password|auth", re.IGNORECASE)
_MAX_DETAIL = 160

#: Models this process registered in litellm's cost map at 0 because nobody knows their
#: price (see the module docstring); :func:`_lookup_price` treats them as unknown.
_UNPRICED: set[str] = set()


@dataclass(frozen=True)
class _Price:
    input_per_token: float
    output_per_token: float


@dataclass(frozen=True)
class _Failure:
    kind: ErrorKind
    retryable: bool
    detail: str
    retry_after_s: float | None = None


class LiteLLMClient:
    """:class:`evals.ports.ModelClient` over ``litellm.acompletion``.

    ``backoff_base_s`` is the first retry's nominal wait (doubled on each retry, with
    jitter, at most ``max_backoff_s``); a provider's ``Retry-After`` is used instead when
    present, at most ``max_retry_after_s``.
    """

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
        self._map_prices: dict[str, _Price | None] = {}

    def price(self, member: PanelMember, resolved_model: str | None = None) -> _Price | None:
        """The member's per-token price (None: unknown): its configured price, else litellm's
        cost map for the requested model, else for ``resolved_model``. Each model is looked
        up in the cost map once."""
        cost_in = member.params.get("input_cost_per_token")
        cost_out = member.params.get("output_cost_per_token")
        if cost_in is not None or cost_out is not None:
            return _Price(_per_token(cost_in), _per_token(cost_out))
        price = self._map_price(member.model)
        if price is None and resolved_model:
            price = self._map_price(resolved_model)
        return price

    def _map_price(self, model: str) -> _Price | None:
        if model not in self._map_prices:
            self._map_prices[model] = _lookup_price(model)
        return self._map_prices[model]

    async def warm_up(self) -> None:
        """Do litellm's and the OpenAI SDK's one-off lazy imports now, off the event loop.

        They take one to two seconds of blocking work on the first real call; call this once
        at start-up so the first panel does not pay for it (a short member timeout could
        expire while the event loop is blocked). Makes no network request.
        """
        started = time.perf_counter()
        try:
            await asyncio.to_thread(importlib.import_module, "openai.resources")
            await litellm.acompletion(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "warm-up"}],
                mock_response="ok",
                api_key="warm-up",
            )
            _lookup_price("openai/gpt-4o-mini")
        except Exception as exc:  # a failed warm-up only costs the first call its speed
            logger.warning("litellm warm-up failed: %s", type(exc).__name__)
        logger.debug("litellm warmed up in %d ms", _elapsed_ms(started))

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        started = time.perf_counter()
        deadline = started + member.timeout_s
        secrets = _secret_values(member.params)
        attempt = 0
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                failure = _timed_out(member, retryable=False)
                break
            try:
                response = await asyncio.wait_for(
                    litellm.acompletion(**self._request(member, messages)),
                    timeout=remaining,
                )
            except TimeoutError:
                failure = _timed_out(member, retryable=False)
                break
            except Exception as exc:
                failure = _classify(exc, secrets)
                if failure.kind is ErrorKind.TIMEOUT:
                    failure = _timed_out(member, retryable=failure.retryable)
            else:
                return _answer(member, response, _elapsed_ms(started), self.price)
            if not failure.retryable or attempt >= member.max_retries:
                break
            delay = self._delay(attempt, failure.retry_after_s)
            if time.perf_counter() + delay >= deadline:
                break  # no time left for another try: report what happened
            attempt += 1
            logger.info(
                "Panel member %s: %s, retry %d of %d in %.2f s",
                member.name,
                failure.kind.value,
                attempt,
                member.max_retries,
                delay,
            )
            await asyncio.sleep(delay)

        tries = attempt + 1
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
            latency_ms=_elapsed_ms(started),
            error=failure.kind,
            error_detail=detail,
            reference=reference,
        )

    def _request(self, member: PanelMember, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        request: dict[str, Any] = {
            k: v for k, v in member.params.items() if k not in _OWN_PARAMS and v is not None
        }
        if member.temperature is not None:
            request["temperature"] = member.temperature
        if member.max_tokens is not None:
            request["max_tokens"] = member.max_tokens
        price = self.price(member)
        if price is not None:
            request["input_cost_per_token"] = price.input_per_token
            request["output_cost_per_token"] = price.output_per_token
        else:
            _register_unpriced(member.model)
        request.update(
            model=member.model,
            messages=[{"role": m.role, "content": m.content} for m in messages],
            # A stable timeout lets litellm reuse its cached HTTP client (the cache key
            # includes it); the shrinking deadline is enforced by asyncio.wait_for above.
            timeout=member.timeout_s,
            num_retries=0,
            max_retries=0,
        )
        return request

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        nominal = min(self.backoff_base_s * 2.0**attempt, self.max_backoff_s)
        return nominal * (0.5 + self._rng.random() / 2)  # "equal jitter"


def _timed_out(member: PanelMember, *, retryable: bool) -> _Failure:
    return _Failure(ErrorKind.TIMEOUT, retryable, f"no answer within {member.timeout_s:g} s")


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _lookup_price(model: str) -> _Price | None:
    if model in _UNPRICED:
        return None
    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises a bare Exception for a model it does not know
        return None
    cost_in, cost_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if cost_in is None and cost_out is None:
        return None
    return _Price(_per_token(cost_in), _per_token(cost_out))


def _register_unpriced(model: str) -> None:
    """Give litellm a 0 price for ``model``, which has none, so that pricing each response
    finds it at once (py-spy: 8% less CPU per call to such a model)."""
    if model in _UNPRICED:
        return
    _UNPRICED.add(model)
    try:
        litellm.register_model({model: {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}})
    except Exception as exc:  # only litellm's own bookkeeping is at stake
        logger.debug("could not register %s in litellm's cost map: %s", model, exc)


def _per_token(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return number if number >= 0 else 0.0


def _answer(
    member: PanelMember,
    response: Any,
    latency_ms: int,
    price_of: Callable[[PanelMember, str | None], _Price | None],
) -> ModelAnswer:
    choices = getattr(response, "choices", None) or []
    message = getattr(choices[0], "message", None) if choices else None
    content = getattr(message, "content", None)
    text = content if isinstance(content, str) else ""
    finish_reason = getattr(choices[0], "finish_reason", None) if choices else None
    usage = getattr(response, "usage", None)
    resolved = getattr(response, "model", None)
    empty = not text.strip()
    if empty:
        logger.warning("Panel member %s (%s) returned no text", member.name, member.model)
    resolved_model = resolved if isinstance(resolved, str) and resolved else None
    prompt_tokens = _int_or_none(getattr(usage, "prompt_tokens", None))
    completion_tokens = _int_or_none(getattr(usage, "completion_tokens", None))
    price = price_of(member, resolved_model)
    cost = None
    if price is not None and prompt_tokens is not None and completion_tokens is not None:
        cost = prompt_tokens * price.input_per_token + completion_tokens * price.output_per_token
    return ModelAnswer(
        member=member.name,
        model=member.model,
        text=text,
        resolved_model=resolved_model,
        latency_ms=latency_ms,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        error=ErrorKind.EMPTY if empty else None,
        error_detail=f"no text (finish reason: {finish_reason or 'unknown'})" if empty else None,
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _classify(exc: Exception, secrets: Iterable[str]) -> _Failure:
    """Map a litellm / OpenAI SDK exception to an error kind, retryability and safe text."""
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    name = type(exc).__name__
    if isinstance(exc, llm_errors.Timeout | TimeoutError):
        return _Failure(ErrorKind.TIMEOUT, False, "timed out")
    auth_error = isinstance(exc, llm_errors.AuthenticationError | llm_errors.PermissionDeniedError)
    client_error = status is not None and 400 <= status < 500
    if isinstance(exc, llm_errors.RateLimitError) or status == 429:
        kind, retryable = ErrorKind.RATE_LIMITED, True
    elif auth_error or status in (401, 403):
        kind, retryable = ErrorKind.AUTH, False
    elif status == 408:
        kind, retryable = ErrorKind.TIMEOUT, True
    elif isinstance(exc, llm_errors.BadRequestError) or client_error:
        kind, retryable = ErrorKind.BAD_REQUEST, False
    elif isinstance(exc, llm_errors.APIConnectionError) or (status is not None and status >= 500):
        kind, retryable = ErrorKind.PROVIDER_ERROR, True
    else:
        kind, retryable = ErrorKind.PROVIDER_ERROR, False
    if isinstance(exc, llm_errors.APIConnectionError):
        head = "could not connect to the provider"  # litellm labels these HTTP 500
    else:
        head = f"HTTP {status} {name}" if status is not None else name
    message = _provider_message(exc, secrets)
    detail = f"{head}: {message}" if message else head
    return _Failure(kind, retryable, detail, _retry_after(exc) if retryable else None)


def _provider_message(exc: Exception, secrets: Iterable[str]) -> str:
    """The provider's own one-line explanation, scrubbed of secrets and shortened."""
    raw = str(getattr(exc, "message", None) or exc)
    raw = raw.split(" - ", 1)[1] if " - " in raw else raw  # drop litellm's class-name prefix
    line = raw.strip().splitlines()[0] if raw.strip() else ""
    line = scrub(line, secrets, OPAQUE_RUNS)
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 1] + "…"


def _secret_values(params: Mapping[str, Any]) -> list[str]:
    values = [str(v) for k, v in params.items() if _SECRET_PARAM.search(k) and v]
    return sorted((v for v in values if len(v) >= 4), key=len, reverse=True)


def _retry_after(exc: Exception) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms`` or ``Retry-After``)."""
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            when = parsedate_to_datetime(str(value))
            return max(when.timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, AttributeError):
        return None
