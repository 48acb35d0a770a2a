"""Asks a member on an OpenAI-compatible server straight over HTTP, without litellm.

vLLM, Ollama, TGI, LM Studio, OpenRouter, Together, Groq, a litellm proxy, a company
gateway: most of what teams run speaks OpenAI's ``POST /chat/completions``. For those
members litellm adds nothing but cost: measured on the same 1,000 calls, litellm spends
4.7 ms of CPU per call and 3 s importing itself; this client 0.3 ms and 0.13 s for
aiohttp, which it imports on its first call. On a 2-core machine that is the difference between an eval run bound
by the CPU and one bound by the provider (``bench/runner_throughput.py``).

Which members (:meth:`OpenAICompatibleClient.handles`): ``model: openai/<name>`` with an
``api_base`` that is not OpenAI's own API, and no litellm parameter this client does not
speak. Everyone else, OpenAI's own API included (litellm renames parameters for its
reasoning models), goes through :mod:`evals.models.litellm_client`. Behaviour is the same
either way (:mod:`evals.models.provider_calls`; ``tests/evals/models/test_model_clients.py`` runs the
same tests against both):

- the request: ``model`` without ``openai/``, the messages, ``temperature``,
  ``max_tokens``, and the member's ``top_p``, ``seed``, ``stop``, ``response_format``,
  ``reasoning_effort``, ``extra_body``; ``api_key`` (else ``OPENAI_API_KEY``) as a bearer
  token, ``organization``, ``extra_headers`` / ``headers``; proxies from the environment;
- the answer is read from at most 16 MiB; a body that is not OpenAI's answer shape is a
  provider error, retried like a 5xx;
- a price: the member's ``input_cost_per_token`` / ``output_cost_per_token``, else
  litellm's price list (:mod:`evals.models.price_list`) for the requested model, else for the
  model that answered.

One aiohttp session per event loop (the bot's, each scheduled job's, each worker's),
closed when that loop's ``asyncio.run`` ends (an async generator the loop finalises) or
by :meth:`OpenAICompatibleClient.aclose`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from evals.models import price_list
from evals.models.provider_calls import (
    CallFailure,
    PriceBook,
    Reply,
    RetryPolicy,
    ask_with_retries,
    error_message,
    int_or_none,
    kind_of_status,
    safe_line,
    secret_values,
    str_or_none,
)
from evals.models.retry_hints import wait_hint
from evals.records import ChatMessage, ErrorKind, ModelAnswer, PanelMember

if TYPE_CHECKING:  # imported where a call is made: a process that plans calls, such as
    # a `--workers` run's parent, does not pay for aiohttp (0.13 s)
    import aiohttp

logger = logging.getLogger(__name__)

PREFIX = "openai/"
#: Member parameters copied into the request body as they are.
_BODY_PARAMS = ("top_p", "seed", "stop", "response_format", "reasoning_effort")
#: Parameters understood here without being sent: credentials and headers (sent as
#: headers), prices (ours), and litellm's router and retry settings (ours or unused).
_OTHER_PARAMS = frozenset(
    {
        "api_base",
        "api_key",
        "organization",
        "extra_headers",
        "headers",
        "extra_body",
        "input_cost_per_token",
        "output_cost_per_token",
        "timeout",
        "stream_timeout",
        "max_retries",
        "num_retries",
        "drop_params",
        "rpm",
        "tpm",
    }
)
_SPOKEN = _OTHER_PARAMS | frozenset(_BODY_PARAMS)
#: OpenAI's own API: litellm knows its models' quirks (reasoning models' parameters).
_OPENAI_HOSTS = frozenset({"api.openai.com"})
MAX_BODY_BYTES = 16 * 1024 * 1024


class _Malformed(Exception):
    pass


class OpenAICompatibleClient:
    """:class:`evals.protocols.ModelClient` for members on an OpenAI-compatible server,
    retrying as ``retry`` says (default: :class:`~evals.models.provider_calls.RetryPolicy`'s
    defaults)."""

    def __init__(self, *, retry: RetryPolicy | None = None) -> None:
        self._policy = retry or RetryPolicy()
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, aiohttp.ClientSession
        ] = weakref.WeakKeyDictionary()
        self._closers: dict[int, AsyncIterator[None]] = {}
        #: The member's per-token price: its own, else litellm's price list's.
        self.price = PriceBook(price_list.price_of)

    @staticmethod
    def handles(member: PanelMember) -> bool:
        """Whether ``member`` is on an OpenAI-compatible server this client can ask."""
        if not member.model.startswith(PREFIX) or len(member.model) == len(PREFIX):
            return False
        api_base = member.params.get("api_base")
        if not isinstance(api_base, str) or not api_base.startswith(("http://", "https://")):
            return False
        if (urlsplit(api_base).hostname or "").lower() in _OPENAI_HOSTS:
            return False
        return set(member.params) <= _SPOKEN

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        import aiohttp

        if not self.handles(member):
            raise ValueError(f"{member.name} is not on an OpenAI-compatible server")
        url = str(member.params["api_base"]).rstrip("/") + "/chat/completions"
        body = json.dumps(_body(member, messages)).encode()
        headers = _headers(member.params)
        secrets = secret_values(member.params)
        where = _host(url)
        session = await self._session()

        async def attempt() -> Reply | CallFailure:
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    raw = await _read(response)
                    if response.status >= 400:
                        return _http_failure(response, raw, secrets)
                    return _reply(raw)
            except _Malformed as exc:
                return CallFailure(ErrorKind.PROVIDER_ERROR, True, str(exc))
            except aiohttp.InvalidURL:
                return CallFailure(ErrorKind.BAD_REQUEST, False, "api_base is not a valid URL")
            except aiohttp.ClientConnectorError:
                return CallFailure(ErrorKind.PROVIDER_ERROR, True, f"could not connect to {where}")
            except aiohttp.ClientError as exc:  # dropped connection, broken body
                return CallFailure(
                    ErrorKind.PROVIDER_ERROR,
                    True,
                    f"the connection to the provider broke ({type(exc).__name__})",
                )
            except (TimeoutError, asyncio.CancelledError):
                raise  # the deadline's, or the caller's
            except Exception as exc:  # never raise for a provider: say what broke, once
                logger.warning("Unexpected error asking %s", member.name, exc_info=True)
                message = safe_line(str(exc), secrets)
                name = type(exc).__name__
                return CallFailure(
                    ErrorKind.PROVIDER_ERROR, False, f"{name}: {message}" if message else name
                )

        return await ask_with_retries(member, attempt, self._policy, self.price)

    async def aclose(self) -> None:
        """Close this loop's session now (otherwise closed when the loop's run ends)."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

    async def _session(self) -> aiohttp.ClientSession:
        import aiohttp

        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                # No pool limit: the runner's and the panel's concurrency limits decide.
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=None),  # the member's deadline rules
                trust_env=True,  # HTTP(S)_PROXY, as litellm honours them
                headers={"User-Agent": "quorum"},
            )
            self._sessions[loop] = session
            closer = _close_at_loop_end(self, loop, session)
            await anext(closer)  # started in this loop: its end finalises the generator
            self._closers[id(session)] = closer
        return session

    def _forget(self, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession) -> None:
        if self._sessions.get(loop) is session:
            del self._sessions[loop]
        self._closers.pop(id(session), None)


async def _close_at_loop_end(
    client: OpenAICompatibleClient, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession
) -> AsyncIterator[None]:
    """Suspended for the loop's life; ``asyncio.run`` (any loop's
    ``shutdown_asyncgens``) closes it, and with it the session."""
    try:
        yield
    finally:
        client._forget(loop, session)
        await session.close()


def _host(url: str) -> str:
    """``host:port`` of ``url``: where a connection failed, without any credentials the
    URL may carry."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    except ValueError:
        return "its api_base"


def _body(member: PanelMember, messages: Sequence[ChatMessage]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": member.model[len(PREFIX) :],
        "messages": [{"role": m.role, "content": m.content} for m in messages],
    }
    if member.temperature is not None:
        body["temperature"] = member.temperature
    if member.max_tokens is not None:
        body["max_tokens"] = member.max_tokens
    for name in _BODY_PARAMS:
        value = member.params.get(name)
        if value is not None:
            body[name] = value
    extra = member.params.get("extra_body")
    if isinstance(extra, Mapping):
        body.update({k: v for k, v in extra.items() if k not in ("model", "messages")})
    return body


def _headers(params: Mapping[str, Any]) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    for name in ("headers", "extra_headers"):
        extra = params.get(name)
        if isinstance(extra, Mapping):
            headers.update({str(k): str(v) for k, v in extra.items() if v is not None})
    api_key = params.get("api_key") or os.environ.get("OPENAI_API_KEY")
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    organization = params.get("organization")
    if organization:
        headers["OpenAI-Organization"] = str(organization)
    return headers


async def _read(response: aiohttp.ClientResponse) -> bytes:
    """The body, or :class:`_Malformed` past :data:`MAX_BODY_BYTES` (a broken or hostile
    server must not fill our memory)."""
    if (response.content_length or 0) > MAX_BODY_BYTES:
        raise _Malformed(f"the provider's answer is over {MAX_BODY_BYTES // 2**20} MiB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Malformed(f"the provider's answer is over {MAX_BODY_BYTES // 2**20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _reply(raw: bytes) -> Reply:
    """An OpenAI chat completion, or :class:`_Malformed`."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        raise _Malformed("the provider's answer is not JSON") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Malformed("the provider's answer has no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Reply(
        text=content if isinstance(content, str) else "",
        finish_reason=str_or_none(choices[0].get("finish_reason")),
        resolved_model=str_or_none(data.get("model")),
        prompt_tokens=int_or_none(usage.get("prompt_tokens")),
        completion_tokens=int_or_none(usage.get("completion_tokens")),
    )


def _http_failure(
    response: aiohttp.ClientResponse, raw: bytes, secrets: Sequence[str]
) -> CallFailure:
    status, headers = response.status, response.headers
    kind, retryable = kind_of_status(status)
    message = safe_line(error_message(raw), secrets)
    reason = safe_line(response.reason or "", secrets)
    head = f"HTTP {status} {reason}" if reason else f"HTTP {status}"
    detail = f"{head}: {message}" if message else head
    hint = wait_hint(status, headers, raw) if retryable else None
    return CallFailure(kind, retryable, detail, hint)
