"""What the bot adds to the spool (:mod:`storage.spool`): a whole panel run, and
feedback known only by its Slack message or by the member's name.

Feedback on a run that is not in the database yet (it waits in this spool or in another
process's) raises :class:`storage.spool.EntryNotReady`, so the replay applies it after
its run instead of rejecting it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.runtime.services import Services
from evals.cases.schema import FailureMode, Severity
from evals.records import Consensus, PanelRun
from storage import repo
from storage.records import (
    AnswerRecord,
    AnswerRole,
    CorrectionRecord,
    CorrectionSource,
    MessageTarget,
    RunOrigin,
    SignalKind,
    SignalSource,
    StoredPanelRun,
    VoteOutcome,
)
from storage.spool import EntryNotReady, Spool, SpoolEntry, SpoolHandler
from storage.tables.base import UNASSIGNED


def _ws(session: Session, p: Mapping[str, Any]) -> str:
    """The workspace a spooled write belongs to. Lines spooled before workspaces carry
    none: one that names its run by id belongs to that run's workspace (the run may
    have been claimed meanwhile); any other replays as unassigned, which the bot claims
    for the token's workspace at start."""
    if "workspace" in p:
        return str(p["workspace"])
    if "run_id" in p:
        owner = repo.run_workspace(session, int(p["run_id"]))
        if owner is not None:
            return owner
    return UNASSIGNED


# -- (de)serialising a run for the spool -------------------------------------------------


def _spooled_run(session: Session, p: Mapping[str, Any]) -> object:
    kwargs = dict(p["kwargs"])
    kwargs["origin"] = RunOrigin(kwargs["origin"])
    ws = kwargs["workspace"] = str(kwargs.get("workspace", _ws(session, p)))
    try:
        run_id = repo.save_panel_run(
            session, PanelRun.from_dict(p["run"]), Consensus.from_dict(p["consensus"]), **kwargs
        )
    except repo.DuplicateDeliveryError:
        return False  # the run was stored after all (e.g. by a slow first attempt)
    stored = repo.get_run(session, run_id, workspace=ws)
    messages: Mapping[str, str] = p.get("answer_messages") or {}
    for answer in stored.panel_answers if stored else ():
        if answer.member in messages:
            repo.set_answer_message(session, answer.id, messages[answer.member], workspace=ws)
    return run_id


@dataclass(frozen=True)
class PendingRun:
    """A run the database could not take; spooled by :meth:`RunStore.spool_run`."""

    run: PanelRun
    consensus: Consensus
    kwargs: Mapping[str, Any]
    ref: str


@dataclass(frozen=True)
class Spooled:
    """The write waits in the spool (it counts once the database has it)."""

    ref: str


class RunNotFoundError(Exception):
    """A button or modal points at a run (or answer) that does not exist."""


#: The largest id a PostgreSQL ``integer`` column holds.
MAX_ID = 2**31 - 1


def parse_run_id(value: object) -> int | None:
    """A run id from a button or modal, or None when it cannot be one."""
    try:
        run_id = int(str(value))
    except ValueError:
        return None
    return run_id if 1 <= run_id <= MAX_ID else None


def check_run_id(run_id: int) -> None:
    if not 1 <= run_id <= MAX_ID:
        raise RunNotFoundError(f"run {run_id} does not exist")


@dataclass(frozen=True)
class ReactionOutcome:
    """A signal on a message: the run it counted for (None while it waits in the spool)
    and the answer when the message was one member's thread reply."""

    run_id: int | None
    changed: bool
    spooled: bool = False
    answer_id: int | None = None


@dataclass(frozen=True)
class MemberVote:
    outcome: VoteOutcome
    member: str
    previous_member: str | None


def _at(p: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(p["at"]))


def _target(session: Session, p: Mapping[str, Any]) -> MessageTarget | None:
    return repo.get_run_by_message(
        session, str(p["channel_id"]), str(p["ts"]), workspace=_ws(session, p)
    )


def apply_message_signal(session: Session, p: Mapping[str, Any]) -> ReactionOutcome | None:
    """A 👍/👎/🚩 (or its removal) on the run behind message (channel_id, ts); a button
    also takes back the opposite thumb (``replaces``). None: no run behind the message."""
    target = _target(session, p)
    if target is None:
        return None
    answer_id = target.answer.id if target.answer else None
    user, kind, at = str(p["user_id"]), SignalKind(p["kind"]), _at(p)
    run_id = target.run.id
    if p.get("removed"):
        changed = repo.retract_signal(
            session,
            workspace=_ws(session, p),
            run_id=run_id,
            user_id=user,
            kind=kind,
            answer_id=answer_id,
            at=at,
        )
        return ReactionOutcome(run_id, changed, answer_id=answer_id)
    if p.get("replaces"):
        repo.retract_signal(
            session,
            workspace=_ws(session, p),
            run_id=run_id,
            user_id=user,
            kind=SignalKind(p["replaces"]),
            answer_id=answer_id,
            at=at,
        )
    changed = repo.record_signal(
        session,
        workspace=_ws(session, p),
        run_id=run_id,
        user_id=user,
        kind=kind,
        source=SignalSource(p["source"]),
        answer_id=answer_id,
        at=at,
    )
    return ReactionOutcome(run_id, changed, answer_id=answer_id)


def apply_run_signal(session: Session, p: Mapping[str, Any]) -> bool | None:
    """A 👍/👎/🚩 button on run ``run_id``, taking back ``replaces`` first (👍 after 👎).
    True: newly active; False: already there; None: no such run."""
    run_id, user, at = int(p["run_id"]), str(p["user_id"]), _at(p)
    if repo.get_run(session, run_id, workspace=_ws(session, p)) is None:
        return None
    if p.get("replaces"):
        kind = SignalKind(p["replaces"])
        repo.retract_signal(
            session, workspace=_ws(session, p), run_id=run_id, user_id=user, kind=kind, at=at
        )
    return repo.record_signal(
        session,
        workspace=_ws(session, p),
        run_id=run_id,
        user_id=user,
        kind=SignalKind(p["kind"]),
        source=SignalSource(p["source"]),
        at=at,
    )


def apply_run_correction(session: Session, p: Mapping[str, Any]) -> CorrectionRecord | None:
    """A correction of run ``run_id``'s consensus answer; None: no such run."""
    run = repo.get_run(session, int(p["run_id"]), workspace=_ws(session, p))
    if run is None:
        return None
    return _record_correction(session, p, run, run.consensus_answer)


def apply_message_correction(session: Session, p: Mapping[str, Any]) -> CorrectionRecord | None:
    """A correction on the run behind message (channel_id, ts); None: no run there."""
    target = _target(session, p)
    if target is None:
        return None
    return _record_correction(session, p, target.run, target.answer or target.run.consensus_answer)


def _record_correction(
    session: Session, p: Mapping[str, Any], run: StoredPanelRun, answer: AnswerRecord | None
) -> CorrectionRecord:
    """Store spooled correction ``p`` on ``run``, against ``answer`` when there is one."""
    return repo.record_correction(
        session,
        workspace=_ws(session, p),
        run_id=run.id,
        user_id=str(p["user_id"]),
        correct_answer=str(p["correct_answer"]),
        failure_mode=FailureMode(p["failure_mode"]),
        severity=Severity(p["severity"]),
        source=CorrectionSource(p["source"]),
        answer_id=answer.id if answer else None,
        at=_at(p),
    )


def apply_member_vote(session: Session, p: Mapping[str, Any]) -> MemberVote | None:
    """A best-answer vote for ``member``'s answer in run ``run_id``; None: no such answer."""
    run = repo.get_run(session, int(p["run_id"]), workspace=_ws(session, p))
    if run is None:
        return None
    ids = {a.member: a.id for a in run.answers if a.role is AnswerRole.PANEL}
    member = str(p["member"])
    if member not in ids:
        return None
    outcome = repo.record_vote(
        session,
        workspace=_ws(session, p),
        run_id=run.id,
        answer_id=ids[member],
        user_id=str(p["user_id"]),
        at=_at(p),
    )
    previous = next((m for m, i in ids.items() if i == outcome.previous_answer_id), None)
    return MemberVote(outcome, member, previous)


def _ready(result: object, p: Mapping[str, Any]) -> object:
    if result is None:
        where = p.get("ts") or p.get("run_id")
        raise EntryNotReady(f"no run behind {p.get('channel_id', 'run')}/{where} yet")
    return result


def _message_signal(session: Session, p: Mapping[str, Any]) -> object:
    return _ready(apply_message_signal(session, p), p)


def _message_correction(session: Session, p: Mapping[str, Any]) -> object:
    return _ready(apply_message_correction(session, p), p)


def _stored_run(apply: Callable[[Session, Mapping[str, Any]], object]) -> SpoolHandler:
    """A handler for feedback that names its run by id: that run was stored when the
    feedback was given, so a missing run (or answer) can never apply."""

    def handler(session: Session, p: Mapping[str, Any]) -> object:
        result = apply(session, p)
        if result is None:
            raise ValueError(f"run {p['run_id']} (or its answer) does not exist")
        return result

    return handler


def _legacy_signal(session: Session, p: Mapping[str, Any]) -> object:
    return repo.record_signal(
        session,
        workspace=_ws(session, p),
        run_id=int(p["run_id"]),
        answer_id=p.get("answer_id"),
        user_id=str(p["user_id"]),
        kind=SignalKind(p["kind"]),
        source=SignalSource(p["source"]),
        at=_at(p),
    )


def _legacy_retract(session: Session, p: Mapping[str, Any]) -> object:
    return repo.retract_signal(
        session,
        workspace=_ws(session, p),
        run_id=int(p["run_id"]),
        answer_id=p.get("answer_id"),
        user_id=str(p["user_id"]),
        kind=SignalKind(p["kind"]),
        at=_at(p),
    )


def _legacy_correction(session: Session, p: Mapping[str, Any]) -> object:
    return repo.record_correction(
        session,
        workspace=_ws(session, p),
        run_id=int(p["run_id"]),
        answer_id=p.get("answer_id"),
        user_id=str(p["user_id"]),
        correct_answer=str(p["correct_answer"]),
        failure_mode=FailureMode(p["failure_mode"]),
        severity=Severity(p["severity"]),
        source=CorrectionSource(p["source"]),
        at=_at(p),
    )


def _legacy_vote(session: Session, p: Mapping[str, Any]) -> object:
    return repo.record_vote(
        session,
        workspace=_ws(session, p),
        run_id=int(p["run_id"]),
        answer_id=int(p["answer_id"]),
        user_id=str(p["user_id"]),
        at=_at(p),
    )


#: Kinds the bot spooled before 2026-11-30 (commit eb5168a), named by the repository
#: function they call. Nothing writes them now; they stay so that a spool file left by
#: that version (written while its database was down, then upgraded) still replays
#: instead of being set aside as unknown.
LEGACY_HANDLERS: Mapping[str, SpoolHandler] = {
    "signal": _legacy_signal,
    "retract_signal": _legacy_retract,
    "correction": _legacy_correction,
    "vote": _legacy_vote,
}

#: Every kind the bot spools, and the legacy kinds it still replays.
BOT_HANDLERS: Mapping[str, SpoolHandler] = {
    **LEGACY_HANDLERS,
    "panel_run": _spooled_run,
    "message_signal": _message_signal,
    "message_correction": _message_correction,
    "run_signal": _stored_run(apply_run_signal),
    "run_correction": _stored_run(apply_run_correction),
    "member_vote": _stored_run(apply_member_vote),
}


def holds_message(entries: Iterable[SpoolEntry], workspace: str, channel_id: str, ts: str) -> bool:
    """True when a spooled panel run of ``workspace`` posted message (channel_id, ts):
    its result, or one of its members' thread replies."""
    for entry in entries:
        if entry.kind != "panel_run":
            continue
        kwargs = entry.payload.get("kwargs") or {}
        owner = kwargs.get("workspace", entry.payload.get("workspace", UNASSIGNED))
        if owner != workspace:
            continue
        if kwargs.get("channel_id") != channel_id:
            continue
        replies = (entry.payload.get("answer_messages") or {}).values()
        if kwargs.get("message_ts") == ts or ts in replies:
            return True
    return False


SPOOL_FILE = "quorum-spool.jsonl"


def spool_path(services: Services) -> Path:
    """QUORUM_SPOOL_PATH, else next to the SQLite file, else the working directory."""
    if services.settings.quorum_spool_path is not None:
        return services.settings.quorum_spool_path
    db = services.db
    if db.backend == "sqlite" and db.url.database and db.url.database != ":memory:":
        return Path(db.url.database).with_name(SPOOL_FILE)
    return Path(SPOOL_FILE)


def default_spool(services: Services) -> Spool:
    return Spool(spool_path(services), BOT_HANDLERS)
