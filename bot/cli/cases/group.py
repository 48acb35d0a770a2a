"""What the `quorum cases ...` commands share: the command group, the actor recorded
in each case's audit trail, a database session, the case policy and dataset versions."""

from __future__ import annotations

import getpass
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.edge import load_settings
from bot.cli.root import app
from bot.cli.workspace_option import resolve_workspace
from evals.cases.schema import CaseSet, CaseStatus
from evals.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from evals.cases.sets import CasePolicy

# Storage, the configuration and the case rules are imported where they are used: the
# commands register without them (fast `quorum --help`).

cases_app = typer.Typer(
    help="Eval cases: review proposed cases, keep the golden and rotating sets, "
    "export/import (JSONL, YAML, promptfoo).",
    no_args_is_help=True,
)
app.add_typer(cases_app, name="cases")

SetOption = Annotated[CaseSet, typer.Option("--set", help="golden (frozen) or rotating.")]


def audit_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def case_session(workspace: str | None) -> Iterator[tuple[Session, str]]:
    """A session and the workspace whose cases the command works on (``--workspace``)."""
    from storage.db import Database

    settings = load_settings()
    database = Database(settings.database_url)
    try:
        database.prepare_schema()
        owner = resolve_workspace(database, settings, workspace)
        with database.session() as session:
            yield session, owner
    finally:
        database.dispose()


def configured_policy() -> CasePolicy:
    from bot.runtime.config import load_config
    from evals.cases.sets import CasePolicy

    settings = load_settings()
    if not settings.quorum_config.exists():
        return CasePolicy()
    # Lazy: the case intake brings Slack's async client and aiohttp (~0.25 s to import);
    # only an import reads the configured policy (fast `quorum --help` / `cases list`).
    from bot.compare.case_intake import case_policy

    return case_policy(load_config(settings.quorum_config))


def versions_line(session: Session, sets: Sequence[CaseSet], workspace: str) -> str:
    from evals.cases.sets import short_version
    from storage import case_repo

    parts = []
    for case_set in sets:
        count = len(case_repo.active_cases(session, case_set, workspace=workspace))
        version = short_version(case_repo.dataset_version(session, case_set, workspace=workspace))
        parts.append(f"{case_set.value}: {count} active, version {version}")
    return " · ".join(parts)


def status_filter(value: str) -> CaseStatus | None:
    if value == "all":
        return None
    try:
        return CaseStatus(value)
    except ValueError:
        choices = ", ".join(["all", *(s.value for s in CaseStatus)])
        raise InputError(f"unknown status {value!r}; use one of: {choices}") from None
