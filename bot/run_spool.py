"""The spool kinds only the bot writes, and where the bot's spool file lives.

When the database is unreachable, :class:`bot.run_store.RunStore` spools what it could
not write (:class:`storage.spool.Spool`, a local JSON-lines file) and replays it once the
database answers. Besides storage's own kinds, the bot spools a whole panel run, and
signals/corrections known only by their Slack message (the run id needs a look-up at
replay time).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.services import Services
from evals.case_schema import FailureMode, Severity
from evals.types import Consensus, PanelRun
from storage import repo
from storage.records import (
    CorrectionSource,
    MessageTarget,
    RunOrigin,
    SignalKind,
    SignalSource,
)
from storage.spool import DEFAULT_HANDLERS, Spool

SPOOL_FILE = "quorum-spool.jsonl"


def _spooled_run(session: Session, p: Mapping[str, Any]) -> object:
    kwargs = dict(p["kwargs"])
    kwargs["origin"] = RunOrigin(kwargs["origin"])
    try:
        run_id = repo.save_panel_run(
            session, PanelRun.from_dict(p["run"]), Consensus.from_dict(p["consensus"]), **kwargs
        )
    except repo.DuplicateDeliveryError:
        return False  # the run was stored after all (e.g. by a slow first attempt)
    stored = repo.get_run(session, run_id)
    messages: Mapping[str, str] = p.get("answer_messages") or {}
    for answer in stored.panel_answers if stored else ():
        if answer.member in messages:
            repo.set_answer_message(session, answer.id, messages[answer.member])
    return run_id


def _target(session: Session, p: Mapping[str, Any]) -> MessageTarget:
    target = repo.get_run_by_message(session, str(p["channel_id"]), str(p["ts"]))
    if target is None:
        raise ValueError(f"no run behind message {p['channel_id']}/{p['ts']}")
    return target


def _message_signal(session: Session, p: Mapping[str, Any]) -> object:
    target = _target(session, p)
    at = datetime.fromisoformat(str(p["at"]))
    answer_id = target.answer.id if target.answer else None
    kind = SignalKind(p["kind"])
    if p.get("removed"):
        return repo.retract_signal(
            session,
            run_id=target.run.id,
            user_id=str(p["user_id"]),
            kind=kind,
            answer_id=answer_id,
            at=at,
        )
    return repo.record_signal(
        session,
        run_id=target.run.id,
        user_id=str(p["user_id"]),
        kind=kind,
        source=SignalSource(p["source"]),
        answer_id=answer_id,
        at=at,
    )


def message_correction(session: Session, p: Mapping[str, Any]) -> object:
    target = _target(session, p)
    answer = target.answer or target.run.consensus_answer
    return repo.record_correction(
        session,
        run_id=target.run.id,
        user_id=str(p["user_id"]),
        correct_answer=str(p["correct_answer"]),
        failure_mode=FailureMode(p["failure_mode"]),
        severity=Severity(p["severity"]),
        source=CorrectionSource(p["source"]),
        answer_id=answer.id if answer else None,
        at=datetime.fromisoformat(str(p["at"])),
    )


BOT_HANDLERS = {
    **DEFAULT_HANDLERS,
    "panel_run": _spooled_run,
    "message_signal": _message_signal,
    "message_correction": message_correction,
}


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
