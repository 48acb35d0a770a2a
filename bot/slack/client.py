"""The Slack Web API client every part of Quorum posts with: the bot token, Slack's
(or GovSlack's, or a test fake's) base URL, a timeout, and retries that honour Slack's
Retry-After."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.runtime.services import Services

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

#: Seconds before a Web API call gives up (each attempt).
SLACK_TIMEOUT_S = 15
#: Longest Retry-After we wait for inside one call (Slack asks for 1-60 s).
MAX_RETRY_AFTER_S = 30.0


class RetryAfterHandler(AsyncRetryHandler):
    """Retry Slack's 429 answers after exactly the Retry-After it asked for."""

    def __init__(self, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        delay = 1.0
        if response is not None:
            for key, values in response.headers.items():
                if key.lower() == "retry-after" and values:
                    try:
                        delay = float(values[0])
                    except ValueError:
                        delay = 1.0
        state.next_attempt_requested = True
        log.info("Slack rate limited a call; retrying in %.1f s", delay)
        await asyncio.sleep(min(max(delay, 0.0), MAX_RETRY_AFTER_S))
        state.increment_current_attempt()


def build_client(services: Services) -> AsyncWebClient:
    # Lazy: the async Web API client brings aiohttp (~0.25 s to import); commands that
    # never post to Slack skip it (fast CLI start).
    from slack_sdk.http_retry.builtin_async_handlers import (
        AsyncConnectionErrorRetryHandler,
        AsyncServerErrorRetryHandler,
    )
    from slack_sdk.web.async_client import AsyncWebClient

    settings = services.settings
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT_S,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            RetryAfterHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )
