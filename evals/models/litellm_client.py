"""The litellm adapter: asks one panel member one conversation.

The only module that imports litellm. It never raises for a provider's failure: every
outcome is a :class:`~evals.records.ModelAnswer`, with an :class:`~evals.records.ErrorKind`
when no usable answer came back.

- Timeouts, retries, error kinds, the scrubbed error detail and the answer's cost follow
  :mod:`evals.models.provider_calls`, shared with :mod:`evals.models.openai_compatible`. litellm's and
  the OpenAI SDK's own retries are switched off so every attempt is ours.
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
import time
from collections.abc import Iterable, Sequence
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # after the environment above: litellm reads it at import
from litellm import exceptions as llm_errors

from evals.models.provider_calls import (
    CallFailure,
    Price,
    PriceBook,
    Reply,
    RetryPolicy,
    ask_with_retries,
    elapsed_ms,
    error_message,
    int_or_none,
    kind_of_status,
    per_token,
    safe_line,
    secret_values,
    str_or_none,
)
from evals.models.retry_hints import wait_hint
from evals.records import ChatMessage, ErrorKind, ModelAnswer, PanelMember

litellm.suppress_debug_info = True
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
    logging.getLogger(_name).setLevel(logging.ERROR)

logger = logging.getLogger(__name__)

#: Parameters we control ourselves; the member's own values for these are ignored.
_OWN_PARAMS = frozenset({"model", "messages", "timeout", "num_retries", "max_retries", "stream"})

#: Models this process registered in litellm's cost map at 0 because nobody knows their
#: price (see the module docstring); :func:`_lookup_price` treats them as unknown.
_UNPRICED: set[str] = set()


class LiteLLMClient:
    """:class:`evals.protocols.ModelClient` over ``litellm.acompletion``, retrying as
    ``retry`` says (default: :class:`~evals.models.provider_calls.RetryPolicy`'s defaults)."""

    def __init__(self, *, retry: RetryPolicy | None = None) -> None:
        self._policy = retry or RetryPolicy()
        #: The member's per-token price: its own, else litellm's cost map's.
        self.price = PriceBook(_lookup_price)

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
        logger.debug("litellm warmed up in %d ms", elapsed_ms(started))

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        request = self._request(member, messages)
        secrets = secret_values(member.params)

        async def attempt() -> Reply | CallFailure:
            try:
                response = await litellm.acompletion(**request)
            except TimeoutError:
                raise  # the deadline's own: ask_with_retries reports it
            except Exception as exc:
                return _classify(exc, secrets)
            return _reply(response)

        return await ask_with_retries(member, attempt, self._policy, self.price)

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


def _lookup_price(model: str) -> Price | None:
    if model in _UNPRICED:
        return None
    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises a bare Exception for a model it does not know
        return None
    cost_in, cost_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if cost_in is None and cost_out is None:
        return None
    return Price(per_token(cost_in), per_token(cost_out))


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


def _reply(response: Any) -> Reply:
    choices = getattr(response, "choices", None) or []
    message = getattr(choices[0], "message", None) if choices else None
    content = getattr(message, "content", None)
    usage = getattr(response, "usage", None)
    return Reply(
        text=content if isinstance(content, str) else "",
        finish_reason=str_or_none(getattr(choices[0], "finish_reason", None) if choices else None),
        resolved_model=str_or_none(getattr(response, "model", None)),
        prompt_tokens=int_or_none(getattr(usage, "prompt_tokens", None)),
        completion_tokens=int_or_none(getattr(usage, "completion_tokens", None)),
    )


def _classify(exc: Exception, secrets: Iterable[str]) -> CallFailure:
    """Map a litellm / OpenAI SDK exception to an error kind, retryability and safe text."""
    status = getattr(exc, "provider_status_code", None)  # litellm says 500 for a 529
    if not isinstance(status, int):
        status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    name = type(exc).__name__
    if isinstance(exc, llm_errors.Timeout):
        return CallFailure(ErrorKind.TIMEOUT, False, "timed out")
    if isinstance(exc, llm_errors.RateLimitError):
        kind, retryable = ErrorKind.RATE_LIMITED, True
    elif isinstance(exc, llm_errors.AuthenticationError | llm_errors.PermissionDeniedError):
        kind, retryable = ErrorKind.AUTH, False
    elif status is not None and status < 500:
        kind, retryable = kind_of_status(status)
    elif isinstance(exc, llm_errors.BadRequestError):
        kind, retryable = ErrorKind.BAD_REQUEST, False
    elif isinstance(exc, llm_errors.APIConnectionError):
        kind, retryable = ErrorKind.PROVIDER_ERROR, True
    elif status is not None:
        kind, retryable = kind_of_status(status)
    else:
        kind, retryable = ErrorKind.PROVIDER_ERROR, False
    if isinstance(exc, llm_errors.APIConnectionError):
        head = "could not connect to the provider"  # litellm labels these HTTP 500
    else:
        head = f"HTTP {status} {name}" if status is not None else name
    message = _provider_message(exc, secrets)
    detail = f"{head}: {message}" if message else head
    return CallFailure(kind, retryable, detail, _wait_hint(exc, status) if retryable else None)


def _provider_message(exc: Exception, secrets: Iterable[str]) -> str:
    """The provider's own one-line explanation, scrubbed of secrets and shortened."""
    raw = str(getattr(exc, "message", None) or exc)
    raw = raw.split(" - ", 1)[1] if " - " in raw else raw  # drop litellm's class-name prefix
    return safe_line(error_message(raw) or raw, secrets)


def _wait_hint(exc: Exception, status: int | None) -> float | None:
    """The provider's wait hint: litellm keeps the refusing response's headers on the
    exception (``litellm_response_headers``; the OpenAI SDK's on ``response``) and its
    body in the message (``"AnthropicException - {...}"``; the SDK's parsed ``body``)."""
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    body: Any = getattr(exc, "body", None)
    if body is None:
        body = str(getattr(exc, "message", None) or "")
    return wait_hint(status, headers, body)
