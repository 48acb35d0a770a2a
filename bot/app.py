"""The Bolt app: one AsyncWebClient, signature verification, every listener.

HTTP mode uses ``process_before_response=False``: Bolt answers Slack as soon as a
listener calls ``ack()`` (well within Slack's 3 s), and the listener carries on in the
background (the panel runs in tasks started by the listeners).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse

from bot.compare.run_store import RunStore
from bot.listeners import installations, register_all
from bot.runtime.preflight import slack_conflict
from bot.runtime.services import Services
from bot.slack import payload
from bot.slack.client import build_client
from bot.slack.oauth import NOT_INSTALLED, build_oauth
from bot.slack.workspaces import WorkspaceNotes
from evals.errors import ConfigError, StorageError, new_reference

log = logging.getLogger(__name__)

DATABASE_DOWN = (
    "Quorum can't reach its database just now, so it can't answer. Please try again in a "
    "minute. (ref {ref})"
)


def build_app(services: Services, store: RunStore | None = None) -> AsyncApp:
    """The Bolt app with every listener registered. ``store`` is for tests."""
    settings = services.settings
    secret = settings.slack_signing_secret
    conflict = slack_conflict(settings)
    if conflict:
        raise ConfigError(conflict)
    client = build_client(services)
    # Installs over OAuth (SLACK_CLIENT_ID): each request gets its workspace's token.
    oauth = build_oauth(settings, services.db, services.db_guard, client)
    app = AsyncApp(
        name="quorum",
        client=client,
        oauth_flow=oauth.flow if oauth else None,
        authorize=oauth.authorize if oauth else None,  # type: ignore[arg-type]
        user_facing_authorize_error_message=NOT_INSTALLED if oauth else None,
        signing_secret=secret.get_secret_value() if secret else "",
        process_before_response=False,
        # Socket Mode requests are not signed; Bolt skips verification for them itself.
        request_verification_enabled=True,
        # A request no listener takes comes to on_error, which acknowledges it.
        raise_error_for_unhandled_request=True,
    )

    notes = WorkspaceNotes(services)

    @app.middleware
    async def note_workspace(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
        # Bolt passes ``next`` by that name.
        notes.note(body)
        await next()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):
            # Nothing of Quorum's listens to it (an event of a kind it ignores, a
            # button of an older message): say so briefly, and do not make Slack retry.
            log.info("no listener for %s; acknowledged and ignored", payload.kind_of(body))
            return BoltResponse(status=200, body="")
        ref = new_reference()
        log.error(
            "unhandled error in a %s listener [%s]", payload.kind_of(body), ref, exc_info=error
        )
        if isinstance(error, StorageError):
            # Finding the workspace's installation failed before any listener ran.
            return BoltResponse(status=200, body=DATABASE_DOWN.format(ref=ref))
        return None

    register_all(app, services, store)
    installations.register(app, services, oauth.store if oauth else None)
    return app
