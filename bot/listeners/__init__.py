"""Every Slack listener, registered on one Bolt app."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.compare.run_spool import default_spool
from bot.compare.run_store import RunStore
from bot.listeners import (
    app_home,
    cases_review,
    compare,
    corrections,
    digest,
    feedback,
    shortcuts,
)
from bot.runtime.services import Services


def register_all(app: AsyncApp, services: Services, store: RunStore | None = None) -> RunStore:
    """Register the listeners; returns the :class:`RunStore` they share."""
    store = store or RunStore(services.db, default_spool(services), services.db_guard)
    # Order matters for message events: the first listener whose matchers hold runs.
    home = app_home.HomePublisher(services)
    cases_review.register(app, services, home.refresh)  # before compare: `/compare cases`
    digest.register(app, services)  # before compare: it claims `/compare digest`
    # "correction:" thread replies first, so one in a DM thread is not taken as a question.
    corrections.register(app, services, store)
    compare.register(app, services, store)
    feedback.register(app, services, store)
    shortcuts.register(app, services, store)
    app_home.register(app, services, home)

    # Every other message event (channel chatter, edits, our own posts) is acknowledged
    # and ignored, so Slack never sees a 404 and never retries it.
    @app.event("message")
    async def ignore_other_messages(event: dict[str, Any]) -> None:
        return None

    return store
    store = store or RunStore(services.db, default_spool(services), services.db_guard)
