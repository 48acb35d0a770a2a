"""Errors at the Slack edge: friendly text with a reference id, details only in the log.

Nothing here ever puts an exception message or a stack trace into Slack, unless the
error is a :class:`~evals.errors.QuorumError` whose text is marked safe for users.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from evals.errors import QuorumError, new_reference

log = logging.getLogger("bot.slack")

NOT_IN_CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


def friendly(exc: BaseException, *, action: str) -> str:
    """Log ``exc`` with a fresh reference id and return what the user may read."""
    ref = new_reference()
    log.error("%s failed [%s]", action, ref, exc_info=exc)
    if isinstance(exc, QuorumError) and exc.user_safe:
        return f"{exc.user_message} (reference {ref})"
    return (
        f"Sorry, something went wrong while {action}. "
        f"Please try again in a moment; if it keeps happening, give this reference to "
        f"whoever runs Quorum: {ref}"
    )


def slack_error_code(exc: BaseException) -> str | None:
    """Slack's ``error`` field (``not_in_channel``...) for a Web API error."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data if exc.response is not None else None
        if isinstance(data, dict):
            code = data.get("error")
            return str(code) if code else None
    return None


def is_not_in_channel(exc: BaseException) -> bool:
    return slack_error_code(exc) in NOT_IN_CHANNEL_ERRORS


def not_in_channel_text(channel_id: str) -> str:
    return (
        f"I can't post in <#{channel_id}> because I'm not a member of it. "
        "Invite me with `/invite @Quorum` (or add the app in the channel's settings) "
        "and ask again. Meanwhile, here is your answer, visible only to you."
    )
