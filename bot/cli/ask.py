"""`quorum ask "question"`: the panel and the consensus in a terminal, stored like any run."""

from __future__ import annotations

import asyncio
import getpass
import json
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.edge import Exit, edge, err, load_settings_and_config, out
from bot.cli.root import app
from bot.cli.workspace_option import WorkspaceOption, resolve_workspace
from evals.errors import InputError
from evals.records import ConsensusStatus, ModelAnswer

if TYPE_CHECKING:
    from bot.runtime.services import Services
    from evals.records import Consensus, PanelRun


@app.command()
@edge
def ask(
    question: Annotated[str, typer.Argument(help="The question to put to the panel.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the run.")] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Ask every panel model at once and print the consensus with its confidence.

    Exit code 0 with a consensus (or a single answer), 1 when no consensus was possible.
    """
    settings, config = load_settings_and_config()
    question = question.strip()
    if not question:
        raise InputError('The question is empty. Try: quorum ask "What does HTTP 429 mean?"')
    limit = config.limits.max_question_chars
    if len(question) > limit:
        raise InputError(f"The question is {len(question)} characters; the limit is {limit}.")
    if not as_json:
        # Said as the load starts: every `quorum ask` is a fresh process that loads the
        # model (checking later raced with the load and sometimes said nothing).
        err.print(
            "Loading the embedding model in the background…",
            style="dim",
            highlight=False,
        )
    from bot.cli.render import answers_table, ask_output, consensus_panel, gist_lines
    from bot.runtime.services import build_services
    from bot.schedule.calibrators import use_active_calibrator

    services = build_services(settings, config)
    try:
        owner = ""
        if save:
            services.db.prepare_schema()
            use_active_calibrator(services)
            owner = resolve_workspace(services.db, settings, workspace)
        run, consensus = asyncio.run(_ask(services, question, owner, show_progress=not as_json))
        run_id = _store(services, run, consensus, owner) if save else None
    finally:
        services.close()

    if as_json:
        out.print_json(json.dumps(ask_output(run, consensus, run_id)))
    else:
        out.print(consensus_panel(run, consensus))
        out.print(gist_lines(run, consensus, out.width))
        out.print(answers_table(run, consensus))
        if run_id is not None:
            err.print(f"[dim]Stored as run {run_id}.[/dim]")
    if consensus.status is ConsensusStatus.NONE:
        raise typer.Exit(Exit.FAILED)


async def _ask(
    services: Services, question: str, workspace: str, *, show_progress: bool
) -> tuple[PanelRun, Consensus]:
    from rich.live import Live

    from bot.cli.render import progress_table
    from evals.consensus.decision import build_consensus, prepare_answer
    from evals.models.panel import ask_panel

    config = services.config
    await services.warm_up()
    arrived: dict[str, ModelAnswer] = {}
    names = [m.name for m in services.members]

    animate = show_progress and err.is_terminal
    live = Live(progress_table(names, arrived), console=err, transient=True) if animate else None

    async def on_answer(answer: ModelAnswer) -> None:
        arrived[answer.member] = answer
        if live is not None:
            live.update(progress_table(names, arrived))
        # Embed while the slower members are still thinking (not while the model is
        # still loading: that would only make the panel wait for it).
        if answer.ok and services.embedder_ready:
            await asyncio.to_thread(prepare_answer, answer.text, services.embedder)

    with live if live is not None else nullcontext():
        run = await ask_panel(
            question,
            services.members,
            services.client,
            system_prompt=config.consensus.system_prompt,
            quorum=config.consensus.quorum,
            on_answer=on_answer,
            clock=services.clock,
        )
    if show_progress and not err.is_terminal:
        err.print(progress_table(names, arrived))
    if show_progress and not services.embedder_ready:
        err.print("Waiting for the embedding model to compare the answers…", style="dim")
    consensus = await asyncio.to_thread(
        build_consensus,
        run.answers,
        services.embedder,
        services.calibrator_for(workspace),
        weights={m.name: m.weight for m in services.members},
        quorum=config.consensus.quorum,
        question=question,
    )
    return run, consensus


def _store(services: Services, run: PanelRun, consensus: Consensus, workspace: str) -> int:
    from storage.records import RunOrigin
    from storage.repo import save_panel_run

    with services.db.session() as session:
        return save_panel_run(
            session,
            run,
            consensus,
            workspace=workspace,
            origin=RunOrigin.CLI,
            requester=_local_user(),
            config_hash=services.config.config_hash(),
        )


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "local"
