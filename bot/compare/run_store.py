"""The bot's async view of storage: every repository call in a worker thread, and a
plan for when the database is briefly unreachable.

- Every database call goes through :class:`bot.runtime.db_guard.DbGuard` when one is given:
  in a worker thread, never waiting longer than the write timeout.
- Runs, signals, corrections and votes that cannot be written because the database
  is unreachable or too slow go to the spool (:class:`storage.spool.Spool`, a local
  JSON-lines file) and are replayed once it answers again; the user still gets their
  answer. So does feedback on a run that is itself still in the spool: the replay
  applies it after its run (see :mod:`bot.compare.run_spool`).
- A button or modal pointing at a run that does not exist raises
  :class:`RunNotFoundError` (the listeners answer politely), never a database error.
- Delivery claims (Slack retry idempotency) fall back to a bounded in-process memory
  of keys, so a retry reaching the same process still never starts a second panel.
- Every failure is logged once with a reference id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from bot.compare.run_spool import (
    MemberVote,
    PendingRun,
    ReactionOutcome,
    RunNotFoundError,
    Spooled,
    apply_member_vote,
    apply_message_correction,
    apply_message_signal,
    apply_run_correction,
    apply_run_signal,
    check_run_id,
    holds_message,
)
from bot.runtime.db_guard import DbGuard
from evals.cases.schema import FailureMode, Severity
from evals.errors import DatabaseUnavailableError, StorageError, new_reference
from evals.records import Consensus, PanelRun
from storage import repo
from storage.db import Database
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
)
from storage.spool import Spool, delivery_key, new_entry_id

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many delivery keys the in-process fallback remembers.
MEMORY_KEYS = 10_000


Apply = Callable[[Session, Mapping[str, Any]], T]


class RunStore:
    """Async repository access for the Slack listeners."""

    def __init__(self, db: Database, spool: Spool | None = None, guard: DbGuard | None = None):
        self.db = db
        self.spool = spool
        self.guard = guard
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._replaying = False
        #: Messages (workspace, channel, ts) of runs the database could not take that
        #: are not spooled yet.
        self._unsaved: set[tuple[str, str, str]] = set()

    async def _call(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with self.db.session() as session:
                return fn(session)

        if self.guard is not None:
            return await self.guard.call(work)
        return await asyncio.to_thread(work)

    @staticmethod
    def _log_down(action: str, exc: BaseException) -> str:
        ref = new_reference()
        log.error("database failed while %s [%s]: %s", action, ref, exc)
        return ref

    async def _spool(
        self, kind: str, payload: Mapping[str, Any], ref: str, entry_id: str | None = None
    ) -> bool:
        if self.spool is None:
            log.error("no spool configured: a %s write is lost [%s]", kind, ref)
            return False
        spool = self.spool
        try:
            await asyncio.to_thread(lambda: spool.append(kind, payload, entry_id=entry_id))
        except Exception:
            log.exception("spooling a %s write failed [%s]", kind, ref)
            return False
        log.warning("a %s write is spooled until the database is back [%s]", kind, ref)
        return True

    async def replay(self) -> None:
        """Apply spooled writes (no-op without a spool or when another replay runs)."""
        if self.spool is None or self._replaying:
            return
        if self.guard is not None and self.guard.state == "degraded":
            return  # the periodic replay tries again once the database answers
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

    async def _waits_in_spool(self, workspace: str, channel_id: str, ts: str) -> bool:
        """True when (channel_id, ts) is a message of a run of ``workspace`` that is not
        stored yet."""
        if (workspace, channel_id, ts) in self._unsaved:
            return True
        if self.spool is None:
            return False
        entries = await asyncio.to_thread(self.spool.entries)
        return holds_message(entries, workspace, channel_id, ts)

    # -- idempotency -----------------------------------------------------------------------

    def _remember(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > MEMORY_KEYS:
            self._seen.popitem(last=False)
        return True

    async def claim(self, key: str, kind: str, *, workspace: str) -> bool:
        """True the first time a delivery is seen (across processes while the DB is up)."""
        first_here = self._remember(key)
        try:
            return await self._call(
                lambda s: repo.claim_delivery(s, key, kind[:32], workspace=workspace)
            )
        except StorageError as exc:
            self._log_down("claiming a delivery", exc)
            return first_here

    # -- runs ------------------------------------------------------------------------------

    async def save_run(
        self,
        run: PanelRun,
        consensus: Consensus,
        *,
        workspace: str,
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
            "workspace": workspace,
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
            found = await self._call(
                lambda s: repo.get_run_by_delivery(s, delivery_key or "", workspace=workspace)
            )
            if found is None:
                raise
            return found.id
        except StorageError as exc:
            if channel_id and message_ts:
                self._unsaved.add((workspace, channel_id, message_ts))
            return PendingRun(run, consensus, kwargs, self._log_down("saving a run", exc))
        self._after_success()
        return run_id

    async def spool_run(self, pending: PendingRun, answer_messages: Mapping[str, str]) -> bool:
        payload = {
            "workspace": pending.kwargs["workspace"],
            "run": pending.run.to_dict(),
            "consensus": pending.consensus.to_dict(),
            "kwargs": {**pending.kwargs, "origin": RunOrigin(pending.kwargs["origin"]).value},
            "answer_messages": dict(answer_messages),
        }
        try:
            return await self._spool("panel_run", payload, pending.ref)
        finally:
            channel, ts = pending.kwargs.get("channel_id"), pending.kwargs.get("message_ts")
            self._unsaved.discard((str(pending.kwargs["workspace"]), str(channel), str(ts)))

    async def answer_ids(self, run_id: int, *, workspace: str) -> dict[str, int]:
        try:
            run = await self._call(lambda s: repo.get_run(s, run_id, workspace=workspace))
        except StorageError as exc:
            self._log_down("reading answer ids", exc)
            return {}
        if run is None:
            return {}
        return {a.member: a.id for a in run.answers if a.role is AnswerRole.PANEL}

    async def set_answer_message(self, answer_id: int, ts: str, *, workspace: str) -> None:
        try:
            await self._call(
                lambda s: repo.set_answer_message(s, answer_id, ts, workspace=workspace)
            )
        except StorageError as exc:
            self._log_down("linking an answer to its thread reply", exc)

    async def get_run(self, run_id: int, *, workspace: str) -> StoredPanelRun | None:
        return await self._call(lambda s: repo.get_run(s, run_id, workspace=workspace))

    async def lookup(self, channel_id: str, ts: str, *, workspace: str) -> MessageTarget | None:
        return await self._call(
            lambda s: repo.get_run_by_message(s, channel_id, ts, workspace=workspace)
        )

    async def model_stats(self, since: datetime, *, workspace: str) -> list[ModelStats]:
        return await self._call(lambda s: repo.model_stats(s, since, workspace=workspace))

    # -- feedback --------------------------------------------------------------------------

    async def _write(
        self, kind: str, action: str, payload: dict[str, Any], apply: Apply[T]
    ) -> T | Spooled:
        """``apply`` now; when the database is unreachable or too slow, spool ``payload``
        as ``kind`` (whose spool handler is the same ``apply``). The write claims the
        spool entry's id, so if a write that timed out lands after all, the replay skips
        its spooled copy."""
        entry_id = new_entry_id()

        def claimed(session: Session) -> T:
            workspace = str(payload["workspace"])
            repo.claim_delivery(session, delivery_key(entry_id), "spool", workspace=workspace)
            return apply(session, {**payload, "at": _now_iso()})

        try:
            result = await self._call(claimed)
        except DatabaseUnavailableError as exc:
            ref = self._log_down(action, exc)
            await self._spool(kind, payload, ref, entry_id)
            return Spooled(ref)
        self._after_success()
        return result

    async def _on_message(
        self, kind: str, action: str, payload: dict[str, Any], apply: Apply[T | None]
    ) -> T | Spooled | None:
        """A write about the run behind a Slack message. None when the message is not
        one of ours; spooled when the database is down, or when the message's run is
        itself still waiting to be stored (the replay applies this after it)."""
        channel, ts = str(payload["channel_id"]), str(payload["ts"])
        if await self._waits_in_spool(str(payload["workspace"]), channel, ts):
            ref = new_reference()
            log.warning("%s on a run that is still spooled; spooled behind it [%s]", action, ref)
            await self._spool(kind, payload, ref)
            return Spooled(ref)  # replayed with its run (next write, or the periodic replay)
        return await self._write(kind, action, payload, apply)

    async def run_signal(
        self,
        *,
        workspace: str,
        run_id: int,
        user_id: str,
        kind: SignalKind,
        source: SignalSource,
        replaces: SignalKind | None = None,
    ) -> bool | Spooled:
        """A 👍/👎/🚩 on run ``run_id``; ``replaces`` (the opposite thumb) is taken back
        first. True: newly active; False: already there. Raises
        :class:`RunNotFoundError` when there is no such run."""
        check_run_id(run_id)
        payload = {
            "workspace": workspace,
            "run_id": run_id,
            "user_id": user_id,
            "kind": kind.value,
            "source": source.value,
            "replaces": replaces.value if replaces else None,
        }
        result = await self._write("run_signal", "recording a signal", payload, apply_run_signal)
        if result is None:
            raise RunNotFoundError(f"run {run_id} does not exist")
        return result

    async def message_signal(
        self,
        *,
        workspace: str,
        channel_id: str,
        ts: str,
        user_id: str,
        kind: SignalKind,
        source: SignalSource = SignalSource.REACTION,
        removed: bool = False,
        replaces: SignalKind | None = None,
    ) -> ReactionOutcome | Spooled | None:
        """A signal on a message known by (channel, ts): a reaction added/removed, or a
        button on a result posted before its run was stored. None: not our message."""
        payload = {
            "workspace": workspace,
            "channel_id": channel_id,
            "ts": ts,
            "user_id": user_id,
            "kind": kind.value,
            "source": source.value,
            "removed": removed,
            "replaces": replaces.value if replaces else None,
        }
        return await self._on_message(
            "message_signal", "recording a reaction", payload, apply_message_signal
        )

    async def correction(
        self,
        *,
        workspace: str,
        run_id: int,
        user_id: str,
        correct_answer: str,
        failure_mode: FailureMode,
        severity: Severity,
        source: CorrectionSource,
    ) -> CorrectionRecord | Spooled:
        """A correction of run ``run_id``'s consensus answer. Raises
        :class:`RunNotFoundError` when there is no such run."""
        check_run_id(run_id)
        payload = {
            "workspace": workspace,
            "run_id": run_id,
            "user_id": user_id,
            "correct_answer": correct_answer,
            "failure_mode": failure_mode.value,
            "severity": severity.value,
            "source": source.value,
        }
        result = await self._write(
            "run_correction", "recording a correction", payload, apply_run_correction
        )
        if result is None:
            raise RunNotFoundError(f"run {run_id} does not exist")
        return result

    async def message_correction(
        self,
        *,
        workspace: str,
        channel_id: str,
        ts: str,
        user_id: str,
        correct_answer: str,
        failure_mode: FailureMode,
        severity: Severity,
        source: CorrectionSource,
    ) -> CorrectionRecord | Spooled | None:
        """A correction known by its message. None: not one of our messages."""
        payload = {
            "workspace": workspace,
            "channel_id": channel_id,
            "ts": ts,
            "user_id": user_id,
            "correct_answer": correct_answer,
            "failure_mode": failure_mode.value,
            "severity": severity.value,
            "source": source.value,
        }
        return await self._on_message(
            "message_correction", "recording a correction", payload, apply_message_correction
        )

    async def vote(
        self, *, workspace: str, run_id: int, member: str, user_id: str
    ) -> MemberVote | Spooled:
        """A best-answer vote for ``member``'s answer. Raises :class:`RunNotFoundError`
        when the run or its answer does not exist."""
        check_run_id(run_id)
        payload = {"workspace": workspace, "run_id": run_id, "member": member, "user_id": user_id}
        result = await self._write("member_vote", "recording a vote", payload, apply_member_vote)
        if result is None:
            raise RunNotFoundError(f"run {run_id} has no answer from {member}")
        return result


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()
