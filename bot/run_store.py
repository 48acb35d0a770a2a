"""The bot's async view of storage: every repository call in a worker thread, and a
plan for when the database is briefly unreachable.

- Runs, signals, corrections and votes that cannot be written because the database
  is unreachable go to the spool (:class:`storage.spool.Spool`, a local JSON-lines
  file) and are replayed once it answers again; the user still gets their answer.
  :mod:`bot.run_spool` holds the spool kinds only the bot writes.
- Delivery claims (Slack retry idempotency) fall back to a bounded in-process memory
  of keys, so a retry reaching the same process still never starts a second panel.
- Every failure is logged once with a reference id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from bot.run_spool import message_correction
from evals.case_schema import FailureMode, Severity
from evals.errors import StorageError, new_reference
from evals.types import Consensus, PanelRun
from storage import repo
from storage.db import Database, DatabaseUnavailableError
from storage.records import (
    AnswerRole,
    CorrectionRecord,
    CorrectionSource,
    MessageTarget,
    ModelStats,
    RunOrigin,
    SignalKind,
    SignalSource,
    StoredPanelRun,
    VoteOutcome,
)
from storage.spool import Spool

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many delivery keys the in-process fallback remembers.
MEMORY_KEYS = 10_000


@dataclass(frozen=True)
class PendingRun:
    """A run the database could not take; spooled by :meth:`RunStore.spool_run`."""

    run: PanelRun
    consensus: Consensus
    kwargs: Mapping[str, Any]
    ref: str


@dataclass(frozen=True)
class ReactionOutcome:
    run_id: int
    changed: bool


class RunStore:
    """Async repository access for the Slack listeners."""

    def __init__(self, db: Database, spool: Spool | None = None) -> None:
        self.db = db
        self.spool = spool
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._replaying = False

    async def _call(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with self.db.session() as session:
                return fn(session)

        return await asyncio.to_thread(work)

    @staticmethod
    def _log_down(action: str, exc: BaseException) -> str:
        ref = new_reference()
        log.error("database failed while %s [%s]: %s", action, ref, exc)
        return ref

    async def _spool(self, kind: str, payload: Mapping[str, Any], ref: str) -> bool:
        if self.spool is None:
            log.error("no spool configured: a %s write is lost [%s]", kind, ref)
            return False
        try:
            await asyncio.to_thread(self.spool.append, kind, payload)
        except Exception:
            log.exception("spooling a %s write failed [%s]", kind, ref)
            return False
        log.warning("a %s write is spooled until the database is back [%s]", kind, ref)
        return True

    async def replay(self) -> None:
        """Apply spooled writes (no-op without a spool or when another replay runs)."""
        if self.spool is None or self._replaying:
            return
        self._replaying = True
        try:
            await asyncio.to_thread(self.spool.replay, self.db)
        except Exception:
            log.warning("spool replay failed; will retry later", exc_info=True)
        finally:
            self._replaying = False

    def _after_success(self) -> None:
        if self.spool is not None and self.spool.path.exists():
            asyncio.get_running_loop().create_task(self.replay())

    # -- idempotency -----------------------------------------------------------------------

    def _remember(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > MEMORY_KEYS:
            self._seen.popitem(last=False)
        return True

    async def claim(self, key: str, kind: str) -> bool:
        """True the first time a delivery is seen (across processes while the DB is up)."""
        first_here = self._remember(key)
        try:
            return await self._call(lambda s: repo.claim_delivery(s, key, kind[:32]))
        except StorageError as exc:
            self._log_down("claiming a delivery", exc)
            return first_here

    # -- runs ------------------------------------------------------------------------------

    async def save_run(
        self,
        run: PanelRun,
        consensus: Consensus,
        *,
        origin: RunOrigin,
        requester: str,
        config_hash: str,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        team_id: str | None = None,
        message_ts: str | None = None,
        delivery_key: str | None = None,
    ) -> int | PendingRun:
        """The stored run's id, or a :class:`PendingRun` to spool when the DB is down."""
        kwargs: dict[str, Any] = {
            "origin": origin,
            "requester": requester,
            "config_hash": config_hash,
            "channel_id": channel_id,
            "thread_ts": thread_ts,
            "team_id": team_id,
            "message_ts": message_ts,
            "delivery_key": delivery_key,
        }
        try:
            run_id = await self._call(lambda s: repo.save_panel_run(s, run, consensus, **kwargs))
        except repo.DuplicateDeliveryError:
            found = await self._call(lambda s: repo.get_run_by_delivery(s, delivery_key or ""))
            if found is None:
                raise
            return found.id
        except StorageError as exc:
            return PendingRun(run, consensus, kwargs, self._log_down("saving a run", exc))
        self._after_success()
        return run_id

    async def spool_run(self, pending: PendingRun, answer_messages: Mapping[str, str]) -> bool:
        payload = {
            "run": pending.run.to_dict(),
            "consensus": pending.consensus.to_dict(),
            "kwargs": {**pending.kwargs, "origin": RunOrigin(pending.kwargs["origin"]).value},
            "answer_messages": dict(answer_messages),
        }
        return await self._spool("panel_run", payload, pending.ref)

    async def answer_ids(self, run_id: int) -> dict[str, int]:
        try:
            run = await self._call(lambda s: repo.get_run(s, run_id))
        except StorageError as exc:
            self._log_down("reading answer ids", exc)
            return {}
        if run is None:
            return {}
        return {a.member: a.id for a in run.answers if a.role is AnswerRole.PANEL}

    async def set_answer_message(self, answer_id: int, ts: str) -> None:
        try:
            await self._call(lambda s: repo.set_answer_message(s, answer_id, ts))
        except StorageError as exc:
            self._log_down("linking an answer to its thread reply", exc)

    async def get_run(self, run_id: int) -> StoredPanelRun | None:
        return await self._call(lambda s: repo.get_run(s, run_id))

    async def lookup(self, channel_id: str, ts: str) -> MessageTarget | None:
        return await self._call(lambda s: repo.get_run_by_message(s, channel_id, ts))

    async def model_stats(self, since: datetime) -> list[ModelStats]:
        return await self._call(lambda s: repo.model_stats(s, since))

    # -- signals ---------------------------------------------------------------------------

    async def _write(
        self, kind: str, action: str, payload: dict[str, Any], fn: Callable[[Session], T]
    ) -> T | None:
        """Write now; when the database is unreachable spool ``payload`` as ``kind``."""
        try:
            result = await self._call(fn)
        except DatabaseUnavailableError as exc:
            ref = self._log_down(action, exc)
            await self._spool(kind, payload, ref)
            return None
        self._after_success()
        return result

    async def signal(
        self,
        *,
        run_id: int,
        user_id: str,
        kind: SignalKind,
        source: SignalSource,
        answer_id: int | None = None,
    ) -> bool | None:
        """True: newly active; False: already there; None: spooled (database down)."""
        args: dict[str, Any] = {
            "run_id": run_id,
            "user_id": user_id,
            "kind": kind,
            "source": source,
            "answer_id": answer_id,
        }
        payload = {**args, "kind": kind.value, "source": source.value}
        return await self._write(
            "signal", "recording a signal", payload, lambda s: repo.record_signal(s, **args)
        )

    async def retract(
        self, *, run_id: int, user_id: str, kind: SignalKind, answer_id: int | None = None
    ) -> bool | None:
        args: dict[str, Any] = {
            "run_id": run_id,
            "user_id": user_id,
            "kind": kind,
            "answer_id": answer_id,
        }
        return await self._write(
            "retract_signal",
            "retracting a signal",
            {**args, "kind": kind.value},
            lambda s: repo.retract_signal(s, **args),
        )

    async def message_signal(
        self,
        *,
        channel_id: str,
        ts: str,
        user_id: str,
        kind: SignalKind,
        source: SignalSource = SignalSource.REACTION,
        removed: bool = False,
    ) -> ReactionOutcome | None:
        """A signal on a message known by (channel, ts): a reaction added/removed, or a
        button on a result whose run id is not known yet. None when the message is not
        ours, or the database is down (then it is spooled)."""
        payload = {
            "channel_id": channel_id,
            "ts": ts,
            "user_id": user_id,
            "kind": kind.value,
            "source": source.value,
            "removed": removed,
        }

        def apply(session: Session) -> ReactionOutcome | None:
            target = repo.get_run_by_message(session, channel_id, ts)
            if target is None:
                return None
            answer_id = target.answer.id if target.answer else None
            if removed:
                changed = repo.retract_signal(
                    session, run_id=target.run.id, user_id=user_id, kind=kind, answer_id=answer_id
                )
            else:
                changed = repo.record_signal(
                    session,
                    run_id=target.run.id,
                    user_id=user_id,
                    kind=kind,
                    source=source,
                    answer_id=answer_id,
                )
            return ReactionOutcome(target.run.id, changed)

        return await self._write("message_signal", "recording a reaction", payload, apply)

    async def correction(
        self,
        *,
        run_id: int,
        user_id: str,
        correct_answer: str,
        failure_mode: FailureMode,
        severity: Severity,
        source: CorrectionSource,
        answer_id: int | None = None,
    ) -> CorrectionRecord | None:
        args: dict[str, Any] = {
            "run_id": run_id,
            "user_id": user_id,
            "correct_answer": correct_answer,
            "failure_mode": failure_mode,
            "severity": severity,
            "source": source,
            "answer_id": answer_id,
        }
        payload = {
            **args,
            "failure_mode": failure_mode.value,
            "severity": severity.value,
            "source": source.value,
        }
        return await self._write(
            "correction",
            "recording a correction",
            payload,
            lambda s: repo.record_correction(s, **args),
        )

    async def message_correction(
        self,
        *,
        channel_id: str,
        ts: str,
        user_id: str,
        correct_answer: str,
        failure_mode: FailureMode,
        severity: Severity,
        source: CorrectionSource,
    ) -> CorrectionRecord | bool | None:
        """A correction known by its message. False: not one of our messages;
        None: spooled (database down); else the stored correction."""
        payload = {
            "channel_id": channel_id,
            "ts": ts,
            "user_id": user_id,
            "correct_answer": correct_answer,
            "failure_mode": failure_mode.value,
            "severity": severity.value,
            "source": source.value,
        }

        def apply(session: Session) -> CorrectionRecord | bool:
            if repo.get_run_by_message(session, channel_id, ts) is None:
                return False
            record = message_correction(session, {**payload, "at": _now_iso()})
            assert isinstance(record, CorrectionRecord)
            return record

        return await self._write("message_correction", "recording a correction", payload, apply)

    async def vote(self, *, run_id: int, answer_id: int, user_id: str) -> VoteOutcome | None:
        args: dict[str, Any] = {"run_id": run_id, "answer_id": answer_id, "user_id": user_id}
        return await self._write(
            "vote", "recording a vote", args, lambda s: repo.record_vote(s, **args)
        )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()
