"""A small durable fallback for writes made while the database is unreachable.

An outbox table cannot help when the database itself is down, so failed writes go to
a local spool file instead: one JSON line per write (``{"id", "kind", "payload",
"at"}``), appended and fsynced under a file lock. :meth:`Spool.replay` applies them
later (at start, and after the next successful write), each in its own transaction
together with a delivery claim on the entry's id, so an entry is applied exactly once
even if a replay is interrupted and repeated. Entries that still fail because the
database is down stay in the spool; entries that can never apply (an unknown kind, a
run that no longer exists) move to ``<spool>.rejected`` with the reason, so they
neither block the others nor disappear silently. An entry whose handler raises
:class:`EntryNotReady` (feedback on a run that is itself still waiting somewhere, in
this spool or another process's) is tried again after the rest of the pass, and then
kept for later, in order, for up to ``defer_s`` seconds before it is rejected.

Only one process replays at a time (a non-blocking lock); appends from other threads
and processes may continue meanwhile. Linux/macOS only (``fcntl``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from evals.errors import DatabaseUnavailableError, QuorumError
from storage import signals_repo
from storage.db import Database
from storage.tables.base import UNASSIGNED

log = logging.getLogger(__name__)

#: Applies one spooled payload inside a session. The spool knows no kinds of its own: its
#: user names each kind's handler (the bot's are ``bot.compare.run_spool.BOT_HANDLERS``).
#: Payloads carry ``workspace`` (the owning workspace's id; lines written before
#: workspaces have none and replay as unassigned, ``""``) and ``at`` (ISO 8601, UTC), filled in by :meth:`Spool.append`. When the database is unreachable
#: (DatabaseUnavailableError) the entry is kept; any other error rejects the entry.
SpoolHandler = Callable[[Session, Mapping[str, Any]], object]

#: How long an entry that is not ready yet (its run has not arrived) is kept.
DEFER_S = 15 * 60


class EntryNotReady(Exception):
    """Raised by a handler when what the entry refers to is not in the database yet."""


@dataclass(frozen=True)
class SpoolEntry:
    id: str
    kind: str
    payload: Mapping[str, Any]


@dataclass
class _Tally:
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class ReplayReport:
    applied: int = 0  # written now
    duplicates: int = 0  # already written by an earlier, interrupted replay
    rejected: int = 0  # can never apply; moved to the .rejected file
    remaining: int = 0  # still in the spool (the database is still unreachable)
    skipped: bool = False  # another process was replaying


class Spool:
    """Append failed writes to a local JSON-lines file; replay them into the database."""

    def __init__(
        self,
        path: Path | str,
        handlers: Mapping[str, SpoolHandler],
        *,
        defer_s: float = DEFER_S,
    ):
        self.path = Path(path)
        self.defer_s = defer_s
        self.handlers = dict(handlers)
        self.rejected_path = self.path.with_name(self.path.name + ".rejected")
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._replay_lock_path = self.path.with_name(self.path.name + ".replay-lock")
        self._thread_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        at: datetime | None = None,
        entry_id: str | None = None,
    ) -> str:
        """Durably record a write for later; returns the entry id.

        Pass ``entry_id`` when the same write may also have reached the database (a
        write that timed out): claim ``spool:<entry_id>`` in that write's transaction
        (:func:`delivery_key`) and the replay skips the entry if the write did land.
        """
        if kind not in self.handlers:
            raise ValueError(f"no spool handler for {kind!r}")
        when = at or datetime.now(UTC)
        if when.tzinfo is None:
            raise ValueError("naive datetime; use timezone-aware UTC")
        body = {"at": when.astimezone(UTC).isoformat(), **payload}
        entry = {"id": entry_id or new_entry_id(), "kind": kind, "payload": body}
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._locked(self._lock_path):
            self._append_lines(self.path, [line])
        return str(entry["id"])

    def pending(self) -> int:
        """How many entries wait in the spool (including any a replay is working on)."""
        return len(self.entries())

    def entries(self) -> list[SpoolEntry]:
        """Every entry still waiting, oldest first (unreadable lines left out)."""
        work = self.path.with_name(self.path.name + ".replaying")
        with self._locked(self._lock_path):
            lines = self._read(work) + self._read(self.path)
        found = []
        for line in lines:
            try:
                found.append(self._parse(line))
            except (ValueError, KeyError):
                continue
        return found

    # -- replaying -------------------------------------------------------------------

    def replay(self, db: Database) -> ReplayReport:
        """Apply spooled writes in order; stop at the first sign the database is down."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._replay_lock_path, "a") as replay_lock:
            try:
                fcntl.flock(replay_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return ReplayReport(skipped=True)
            try:
                return self._replay_locked(db)
            finally:
                fcntl.flock(replay_lock, fcntl.LOCK_UN)

    def _replay_locked(self, db: Database) -> ReplayReport:
        # Take the current entries (plus any left by a replay that crashed) away from
        # appenders, then work on them without holding the append lock.
        work = self.path.with_name(self.path.name + ".replaying")
        with self._locked(self._lock_path):
            if self.path.exists():
                lines = self._read(self.path)
                self._append_lines(work, lines)
                self.path.unlink()
        entries = self._read(work)
        if not entries:
            work.unlink(missing_ok=True)
            return ReplayReport()
        tally = _Tally()
        waiting, down = self._pass(db, entries, tally, final=False)
        if not down and waiting:
            # Second chance for entries whose run came later in this same pass.
            waiting, down = self._pass(db, waiting, tally, final=True)
        left = waiting
        applied, duplicates, rejected = tally.applied, tally.duplicates, tally.rejected
        with self._locked(self._lock_path):
            if left:
                # Keep the order: the unapplied entries go before anything appended since.
                newer = self._read(self.path)
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.unlink(missing_ok=True)
                self._append_lines(tmp, left + newer)
                os.replace(tmp, self.path)
            work.unlink(missing_ok=True)
        if applied or rejected:
            log.info(
                "spool replay: %d applied, %d duplicates, %d rejected, %d remaining",
                applied,
                duplicates,
                rejected,
                len(left),
            )
        return ReplayReport(applied, duplicates, rejected, len(left))

    def _pass(
        self, db: Database, lines: list[str], tally: _Tally, *, final: bool
    ) -> tuple[list[str], bool]:
        """Apply ``lines`` in order. Returns the lines still waiting (in order) and
        whether the database went away; on the final pass an entry that has been
        waiting for its run longer than ``defer_s`` is rejected."""
        waiting: list[str] = []
        for index, line in enumerate(lines):
            try:
                outcome = self._apply(db, self._parse(line))
            except DatabaseUnavailableError as exc:
                log.warning("spool replay paused, the database is unreachable: %s", exc)
                return waiting + lines[index:], True
            except EntryNotReady as exc:
                if final and self._expired(line):
                    self._reject(line, exc)
                    tally.rejected += 1
                else:
                    waiting.append(self._mark_deferred(line))
                continue
            except (QuorumError, ValueError, KeyError, TypeError) as exc:
                self._reject(line, exc)
                tally.rejected += 1
                continue
            if outcome:
                tally.applied += 1
            else:
                tally.duplicates += 1
        return waiting, False

    def _apply(self, db: Database, entry: SpoolEntry) -> bool:
        handler = self.handlers.get(entry.kind)
        if handler is None:
            raise ValueError(f"no spool handler for {entry.kind!r}")
        with db.session() as session:
            workspace = str(entry.payload.get("workspace", UNASSIGNED))
            key = delivery_key(entry.id)
            if not signals_repo.claim_delivery(session, key, "spool", workspace=workspace):
                return False
            handler(session, entry.payload)
        return True

    def _mark_deferred(self, line: str) -> str:
        data = json.loads(line)
        data.setdefault("deferred_at", datetime.now(UTC).isoformat())
        return json.dumps(data, separators=(",", ":"), default=str) + "\n"

    def _expired(self, line: str) -> bool:
        since = json.loads(line).get("deferred_at")
        if since is None:
            return False
        waited = datetime.now(UTC) - datetime.fromisoformat(str(since))
        return waited.total_seconds() > self.defer_s

    def _reject(self, line: str, exc: BaseException) -> None:
        log.error("spool entry rejected (%s): %s", type(exc).__name__, exc)
        record = json.dumps({"entry": line, "reason": f"{type(exc).__name__}: {exc}"})
        with self._locked(self._lock_path):
            self._append_lines(self.rejected_path, [record + "\n"])

    # -- files -----------------------------------------------------------------------

    @staticmethod
    def _parse(line: str) -> SpoolEntry:
        data = json.loads(line)
        if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
            raise ValueError("malformed spool entry")
        return SpoolEntry(id=str(data["id"]), kind=str(data["kind"]), payload=data["payload"])

    @staticmethod
    def _read(path: Path) -> list[str]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        # A torn last line (a crash mid-append) has no newline: keep it out.
        lines = text.split("\n")
        return [line + "\n" for line in lines[:-1] if line.strip()]

    @staticmethod
    def _append_lines(path: Path, lines: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())

    @contextmanager
    def _locked(self, lock_path: Path) -> Iterator[None]:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def new_entry_id() -> str:
    return uuid.uuid4().hex


def delivery_key(entry_id: str) -> str:
    """The delivery claim that makes an entry apply at most once."""
    return f"spool:{entry_id}"
