"""`quorum cases ...`: review, edit, rotate, export and import eval cases.

Every change is recorded in the case's audit trail with the actor ``cli:<login>``. A
set's dataset version (SHA-256 of its active cases) is printed wherever a set changes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.cli.cases.group import (
    SetOption,
    audit_actor,
    case_session,
    cases_app,
    configured_policy,
    status_filter,
    versions_line,
)
from bot.cli.edge import Exit, edge, err, out
from bot.cli.workspace_option import WorkspaceOption
from bot.messages.result_text import shorten_words
from evals.cases.schema import CaseSet, EvalCase, Severity
from evals.errors import InputError

# Storage (SQLAlchemy), the file formats and the case rules (numpy) are imported by the
# commands that use them: registering a command needs none of them (fast `--help`).


def _short(text: str, limit: int = 160) -> str:
    return shorten_words(" ".join(text.split()), limit)


def _cases_table(cases: Sequence[EvalCase]) -> Table:
    """Fits 80 columns: the question gets the room, wrapped between words; the labels
    (category, tags, merged duplicates) go under it."""
    table = Table(show_lines=False, header_style="bold", pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("state")
    table.add_column("question", ratio=1, min_width=30)
    for c in cases:
        labels = [f"category {c.category}" if c.category else "", ", ".join(c.tags)]
        if c.merged_count:
            labels.append(f"flagged {c.merged_count + 1}×")
        label_text = " · ".join(x for x in labels if x)
        question = escape(_short(c.input.question))
        if label_text:
            question += f"\n[dim]{escape(label_text)}[/dim]"
        state = f"{c.set.value} {c.status.value}\n[dim]{c.severity.value} · {c.created_at:%Y-%m-%d}[/dim]"
        table.add_row(c.id, state, question)
    return table


@cases_app.command("list")
@edge
def list_cases(
    status: Annotated[
        str, typer.Option(help="proposed, active, rejected, retired, or all (default).")
    ] = "all",
    case_set: Annotated[CaseSet | None, typer.Option("--set", help="Only this set.")] = None,
    page: Annotated[int, typer.Option(min=1, help="Page number (newest first).")] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=500, help="Cases per page.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List cases, newest first, with each set's dataset version."""
    from evals.cases.file_formats import CaseFormat, dump_cases
    from storage import case_repo

    with case_session(workspace) as (session, ws):
        result = case_repo.list_cases(
            session,
            workspace=ws,
            status=status_filter(status),
            case_set=case_set,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        versions = versions_line(session, [case_set] if case_set else list(CaseSet), ws)
    if as_json:
        sys.stdout.write(dump_cases(result.cases, CaseFormat.JSONL))
        return
    out.print(Text(versions))  # wrapped between words on a narrow terminal
    if not result.cases:
        out.print("No cases match." if result.total == 0 else f"No cases on page {page}.")
        return
    out.print(_cases_table(result.cases))
    first = result.offset + 1
    last = result.offset + len(result.cases)
    more = f" — next: --page {page + 1}" if result.has_more else ""
    out.print(f"Cases {first}–{last} of {result.total}{more}", highlight=False)


@cases_app.command("show")
@edge
def show(
    case_id: Annotated[str, typer.Argument(help="The case id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the case as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show one case in full, with its history."""
    from storage import case_repo

    with case_session(workspace) as (session, ws):
        case = case_repo.require_case(session, case_id, workspace=ws)
        events = case_repo.case_events(session, case_id, workspace=ws)
    if as_json:
        sys.stdout.write(
            json.dumps(case.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
        )
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    rows: list[tuple[str, str | None]] = [
        ("set / status", f"{case.set.value} / {case.status.value}"),
        ("question", case.input.question),
        *((f"context ({m.role})", m.content) for m in case.input.context),
        ("expected", case.expected),
        *((f"assert {i}", a.describe()) for i, a in enumerate(case.assertions, start=1)),
        ("pass threshold", f"{case.threshold:g}" if case.threshold is not None else None),
        ("category", case.category),
        ("severity", case.severity.value),
        ("tags", ", ".join(case.tags) or None),
        ("source", f"{case.source.value} {case.source_link or ''}".strip()),
        ("previous version", case.previous_id),
        ("merged duplicates", str(case.merged_count)),
        (
            "created / updated",
            f"{case.created_at:%Y-%m-%d %H:%M} / {case.updated_at:%Y-%m-%d %H:%M} UTC",
        ),
    ]
    for label, value in rows:
        if value is not None:
            grid.add_row(label, escape(value))
    out.print(Panel(grid, title=case.id, expand=False))
    if case.observed is not None:
        answers = Table(title="Answers when it was flagged", header_style="bold")
        answers.add_column("model")
        answers.add_column("answer", overflow="fold")
        flagged = set(case.observed.flagged)
        for a in case.observed.answers:
            who = f"{a.model} 👎 flagged" if a.model in flagged else a.model
            answers.add_row(escape(who), escape(_short(a.text, 200) if a.text else f"({a.error})"))
        if case.observed.consensus_model:
            conf = case.observed.confidence
            label = f"consensus: {case.observed.consensus_model}"
            answers.caption = label + (f" (confidence {conf:.2f})" if conf is not None else "")
        out.print(answers)
    history = Table(title="History", header_style="bold")
    for column in ("when (UTC)", "action", "by", "details"):
        history.add_column(column)
    for e in events:
        details = ", ".join(f"{k}={v}" for k, v in e.detail.items() if v is not None)
        history.add_row(f"{e.at:%Y-%m-%d %H:%M}", e.action, escape(e.actor or "—"), escape(details))
    out.print(history)


@cases_app.command("approve")
@edge
def approve(
    case_ids: Annotated[list[str], typer.Argument(help="One or more proposed case ids.")],
    case_set: SetOption,
    workspace: WorkspaceOption = None,
) -> None:
    """Approve proposed cases into the golden or the rotating set (all or none)."""
    from storage import case_repo

    actor = audit_actor()
    with case_session(workspace) as (session, ws):
        before = versions_line(session, [case_set], ws)
        for case_id in case_ids:
            case_repo.approve_case(session, case_id, case_set, actor=actor, workspace=ws)
        after = versions_line(session, [case_set], ws)
    out.print(f"Approved {len(case_ids)} case(s) into {case_set.value}: {', '.join(case_ids)}")
    out.print(f"Before: {before}\nNow:    {after}", highlight=False)


@cases_app.command("reject")
@edge
def reject(
    case_ids: Annotated[list[str], typer.Argument(help="One or more proposed case ids.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Reject proposed cases (all or none)."""
    from storage import case_repo

    actor = audit_actor()
    with case_session(workspace) as (session, ws):
        for case_id in case_ids:
            case_repo.reject_case(session, case_id, actor=actor, reason=reason, workspace=ws)
    out.print(f"Rejected {len(case_ids)} case(s): {', '.join(case_ids)}")


@cases_app.command("retire")
@edge
def retire(
    case_ids: Annotated[list[str], typer.Argument(help="One or more case ids.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Retire cases: they leave their set (the set's version changes if they were active)."""
    from storage import case_repo

    actor = audit_actor()
    with case_session(workspace) as (session, ws):
        for case_id in case_ids:
            case_repo.retire_case(session, case_id, actor=actor, reason=reason, workspace=ws)
        after = versions_line(session, list(CaseSet), ws)
    out.print(f"Retired {len(case_ids)} case(s): {', '.join(case_ids)}")
    out.print(f"Now: {after}", highlight=False)


def _threshold(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--threshold must be a number from 0 to 1, got {text!r}") from None


@cases_app.command("edit")
@edge
def edit(
    case_id: Annotated[str, typer.Argument(help="The case id.")],
    question: Annotated[str | None, typer.Option(help="New question text.")] = None,
    expected: Annotated[str | None, typer.Option(help="Expected answer ('' clears it).")] = None,
    must_include: Annotated[
        list[str] | None, typer.Option("--must-include", help="Repeat for each; replaces the list.")
    ] = None,
    must_not_include: Annotated[
        list[str] | None,
        typer.Option("--must-not-include", help="Repeat for each; replaces the list."),
    ] = None,
    assertion: Annotated[
        list[str] | None,
        typer.Option(
            "--assert",
            help="TYPE:VALUE (e.g. regex:^\\d+$, llm-rubric:cites a source) or a JSON "
            'object {"type", "value", "threshold", "weight"}. Repeat for each; replaces '
            "every assertion.",
        ),
    ] = None,
    clear_asserts: Annotated[
        bool, typer.Option("--clear-asserts", help="Remove every assertion.")
    ] = False,
    threshold: Annotated[
        str | None,
        typer.Option(help="Pass at this weighted score (0-1) instead of all passing ('' clears)."),
    ] = None,
    category: Annotated[str | None, typer.Option(help="Category ('' clears).")] = None,
    severity: Annotated[Severity | None, typer.Option(help="low, medium or high.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Repeat for each tag; replaces the tags.")
    ] = None,
    clear_tags: Annotated[bool, typer.Option("--clear-tags", help="Remove every tag.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Edit a case (an active golden case gets a new version instead).

    An active golden case is frozen: the edit creates a new version (new id,
    linked to the old one, which is retired).
    """
    from evals.cases.assertions import AssertionType, parse_assertion
    from evals.cases.sets import phrases, with_phrases
    from storage import case_repo

    changes: dict[str, object] = {}
    patterns = configured_policy().redact_patterns
    with case_session(workspace) as (session, ws):
        current = case_repo.require_case(session, case_id, workspace=ws)
        if question is not None:
            changes["input"] = current.input.model_copy(update={"question": question})
        for name, value in (("expected", expected), ("category", category)):
            if value is not None:
                changes[name] = value or None
        assertions = list(current.assertions)
        if assertion is not None or clear_asserts:
            assertions = (
                []
                if clear_asserts
                else [parse_assertion(a, option="--assert") for a in assertion or []]
            )
        if must_include is not None or must_not_include is not None:
            assertions = with_phrases(
                assertions,
                include=phrases(assertions, AssertionType.ICONTAINS)
                if must_include is None
                else must_include,
                exclude=phrases(assertions, AssertionType.NOT_ICONTAINS)
                if must_not_include is None
                else must_not_include,
            )
        if assertions != current.assertions:
            changes["assertions"] = assertions
        if threshold is not None:
            changes["threshold"] = _threshold(threshold)
        if severity is not None:
            changes["severity"] = severity
        if tag is not None or clear_tags:
            changes["tags"] = [] if clear_tags else tag
        if not changes:
            err.print("Nothing to change: pass at least one option (see --help).")
            raise typer.Exit(Exit.USAGE)
        result = case_repo.edit_case(
            session, case_id, changes, actor=audit_actor(), redact_patterns=patterns, workspace=ws
        )
        versions = versions_line(session, [current.set], ws)
    if result.new_version:
        out.print(
            f"{case_id} is golden, so the edit is a new version: {result.case.id} "
            f"(previous {case_id} retired)."
        )
    elif result.case is current:
        out.print(f"No change to {case_id}.")
    else:
        out.print(f"Updated {case_id}.")
    out.print(versions, highlight=False)


@cases_app.command("rotate")
@edge
def rotate(
    max_age_days: Annotated[
        int | None, typer.Option(min=1, help="Retire rotating cases older than this.")
    ] = None,
    max_count: Annotated[
        int | None, typer.Option(min=0, help="Keep only the newest this many rotating cases.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would retire.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Refresh the rotating slice: retire its oldest and surplus cases.

    Retires active rotating cases older than N days or beyond the newest M
    (defaults from `cases.rotation` in quorum.yaml: 90 days, 200 cases).
    """
    from evals.cases.sets import RotationPolicy
    from storage import case_repo

    configured = configured_policy().rotation
    policy = RotationPolicy(
        max_age_days=max_age_days if max_age_days is not None else configured.max_age_days,
        max_count=max_count if max_count is not None else configured.max_count,
    )
    with case_session(workspace) as (session, ws):
        before = versions_line(session, [CaseSet.ROTATING], ws)
        stale = case_repo.rotate_cases(
            session, policy, actor=audit_actor(), dry_run=dry_run, workspace=ws
        )
        after = versions_line(session, [CaseSet.ROTATING], ws)
    age = f"older than {policy.max_age_days} days" if policy.max_age_days else "no age limit"
    count = f"newest {policy.max_count} kept" if policy.max_count is not None else "no count limit"
    verb = "Would retire" if dry_run else "Retired"
    out.print(f"Policy: {age}, {count}. {verb} {len(stale)} case(s).", highlight=False)
    if stale:
        out.print(_cases_table(stale))
    out.print(f"Before: {before}" + ("" if dry_run else f"\nNow:    {after}"), highlight=False)
