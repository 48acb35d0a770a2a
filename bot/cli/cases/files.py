"""`quorum cases export|import`: JSONL, YAML and promptfoo's test format."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.cases.group import (
    audit_actor,
    case_session,
    cases_app,
    configured_policy,
    status_filter,
    versions_line,
)
from bot.cli.edge import edge, err, out
from bot.cli.workspace_option import WorkspaceOption
from evals.cases.schema import CaseSet, CaseStatus
from evals.user_files import read_text, write_text


@cases_app.command("export")
@edge
def export(
    path: Annotated[Path, typer.Argument(help="Output file, or - for stdout.")] = Path("-"),
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl, yaml or promptfoo (default: by suffix).")
    ] = None,
    case_set: Annotated[CaseSet | None, typer.Option("--set", help="Only this set.")] = None,
    status: Annotated[str, typer.Option(help="active (default), proposed, ... or all.")] = "active",
    workspace: WorkspaceOption = None,
) -> None:
    """Export cases (JSONL, YAML, or promptfoo tests), sorted by id."""
    from evals.cases.file_formats import dump_cases, format_for_path
    from storage import case_repo

    to_stdout = str(path) == "-"
    chosen = format_for_path(path, fmt or ("jsonl" if to_stdout else None))
    with case_session(workspace) as (session, ws):
        cases = case_repo.all_cases(
            session, status=status_filter(status), case_set=case_set, workspace=ws
        )
        versions = versions_line(session, [case_set] if case_set else list(CaseSet), ws)
    text = dump_cases(cases, chosen)
    if to_stdout:
        sys.stdout.write(text)
        err.print(f"Exported {len(cases)} case(s). {versions}", highlight=False)
        return
    write_text(path, text)
    out.print(f"Wrote {len(cases)} case(s) to {path} ({chosen.value}). {versions}", highlight=False)


@cases_app.command("import")
@edge
def import_(
    path: Annotated[Path, typer.Argument(help="A .jsonl/.yaml file, or promptfoo tests.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl, yaml or promptfoo (default: by suffix).")
    ] = None,
    status: Annotated[
        CaseStatus | None, typer.Option(help="Store every case with this status.")
    ] = None,
    case_set: Annotated[
        CaseSet | None, typer.Option("--set", help="Put every case in this set.")
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Skip ids already stored instead of failing.")
    ] = False,
    redact: Annotated[
        bool, typer.Option("--redact/--no-redact", help="Redact PII and secrets (default on).")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate only; store nothing.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Import cases, all or none.

    Every case is validated first; any problem (all are listed, with line or
    document numbers) means nothing is stored.
    """
    from evals.cases.file_formats import format_for_path, load_cases
    from evals.cases.redaction import Redactor, redacted, unredacted_by_request
    from storage import case_repo

    chosen = format_for_path(path, fmt)
    text = read_text(path)
    cases = load_cases(text, chosen, source=str(path))
    overrides: dict[str, object] = {}
    if status is not None:
        overrides["status"] = status
    if case_set is not None:
        overrides["set"] = case_set
    if overrides:
        cases = [c.model_copy(update=overrides) for c in cases]
    if redact:
        patterns = configured_policy().redact_patterns
        Redactor.with_patterns(patterns)  # fail early on a bad configured pattern
        storable = [redacted(c, patterns) for c in cases]
    else:
        storable = [unredacted_by_request(c) for c in cases]
    changed = sum(1 for a, b in zip(cases, storable, strict=True) if a != b.case)
    if dry_run:
        out.print(f"{path}: {len(cases)} valid case(s); nothing stored (--dry-run).")
        return
    with case_session(workspace) as (session, ws):
        added, skipped = case_repo.add_cases(
            session, storable, actor=audit_actor(), skip_existing=skip_existing, workspace=ws
        )
        versions = versions_line(session, list(CaseSet), ws)
    out.print(f"Imported {len(added)} case(s) from {path}.", highlight=False)
    if skipped:
        out.print(f"Skipped {len(skipped)} existing id(s): {', '.join(skipped)}")
    if changed:
        out.print(f"Redacted personal data or secrets in {changed} case(s).")
    out.print(versions, highlight=False)
