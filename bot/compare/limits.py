"""Who may ask the panel right now: question size, per-user rate, daily budget.

Everything is read from the database so the limits hold across bot processes. A
request is counted when it is claimed (before any model is called), so a burst of
questions from one person is limited even while the first answers are still coming.
When the database cannot be reached the size check still applies and the others are
skipped (logged): people keep getting answers while it is down.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.runtime.config import LimitsConfig
from bot.runtime.db_guard import DbGuard
from evals.errors import StorageError
from storage.db import Database
from storage.repo import cost_since
from storage.signals_repo import count_deliveries

log = logging.getLogger(__name__)

ASK_KIND_PREFIX = "ask:"


def ask_kind(user_id: str) -> str:
    """The delivery kind that counts one person's questions (fits the 32-char column)."""
    kind = ASK_KIND_PREFIX + user_id
    if len(kind) <= 32:
        return kind
    return ASK_KIND_PREFIX + hashlib.sha256(user_id.encode()).hexdigest()[:28]


@dataclass(frozen=True)
class Refusal:
    """Why a question is not sent to the panel, in words for the asker."""

    reason: str  # "too_long" | "rate_limited" | "budget"
    text: str


def check_size(question: str, limits: LimitsConfig) -> Refusal | None:
    if len(question) > limits.max_question_chars:
        return Refusal(
            "too_long",
            f"Your question is {len(question):,} characters long; the limit is "
            f"{limits.max_question_chars:,}. Please shorten it (or attach only the part that "
            "matters) and ask again.",
        )
    return None


def _count_asks(db: Database, user_id: str, since: datetime) -> int:
    """Questions ``user_id`` had claimed since ``since``."""
    with db.session() as session:
        return count_deliveries(session, ask_kind(user_id), since)


def _spent_today(db: Database, now: datetime) -> float:
    start = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    with db.session() as session:
        # The budget is the deployment's (one provider bill), so every workspace counts.
        return cost_since(session, start, workspace=None)


def check_quota(db: Database, limits: LimitsConfig, user_id: str, now: datetime) -> Refusal | None:
    """Rate and budget checks, blocking (call via ``asyncio.to_thread``).

    Counts the current request too: call it after the request's delivery was claimed.
    """
    try:
        window = timedelta(minutes=limits.per_user_window_minutes)
        asked = _count_asks(db, user_id, now - window)
        if asked > limits.per_user_requests:
            minutes = limits.per_user_window_minutes
            return Refusal(
                "rate_limited",
                f"You've asked {limits.per_user_requests} questions in the last {minutes} "
                f"minutes, which is the limit. Please wait a few minutes and ask again.",
            )
        if limits.daily_budget_usd is not None:
            spent = _spent_today(db, now)
            if spent >= limits.daily_budget_usd:
                return Refusal(
                    "budget",
                    f"Today's budget for the panel (${limits.daily_budget_usd:,.2f}) is used up "
                    f"(${spent:,.2f} spent). It resets at midnight UTC; until then no models "
                    "are asked.",
                )
    except StorageError:
        log.warning("limits skipped: the database is unreachable", exc_info=True)
    return None


async def check_all(
    guard: DbGuard, limits: LimitsConfig, user_id: str, question: str, now: datetime
) -> Refusal | None:
    """Size, rate and budget; a database that is down or too slow skips the last two
    (the question is answered rather than held up)."""
    refusal = check_size(question, limits)
    if refusal is not None:
        return refusal
    try:
        return await guard.call(lambda: check_quota(guard.db, limits, user_id, now))
    except StorageError as exc:
        log.warning("limits skipped: %s", exc)
        return None
