"""`quorum eval run`'s head start: the forkserver its worker processes come from starts
before the CLI has even loaded its commands.

Both the forkserver and this process have about a second of importing to do before the
first model is asked (Quorum, pydantic, SQLAlchemy, numpy, aiohttp). Started first, the
forkserver does its share on another core while this process loads the CLI, reads the
cases and plans, instead of afterwards (bench/runner_throughput.py: on 2 cores the first
call of a 2,700-call run comes 0.3-0.5 s sooner).

:func:`head_start` reads only the few options that decide it from the raw arguments,
before Typer parses them: a guess that can only cost or save time, never change what
runs. The command calls :func:`start_workers` again with the options Typer parsed
(starting a running forkserver does nothing) and reports any problem with them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from evals.errors import QuorumError

if TYPE_CHECKING:
    from bot.runtime.config import QuorumConfig


@dataclass(frozen=True)
class WorkerOptions:
    """The options of `quorum eval run` that decide whether, and how, to start workers."""

    queue: bool = False
    workers: int | None = None  # None: the default, one per core for a big enough run
    model_names: tuple[str, ...] = ()
    use_judge: bool = True


def head_start(args: Sequence[str]) -> None:
    """For ``quorum eval run ARGS``, called with ARGS before the CLI loads."""
    options = read_options(args)
    if options is None:
        return
    from bot.runtime.config import load_config
    from bot.runtime.settings import Settings

    try:
        config = load_config(Settings().quorum_config)
    except (ValidationError, QuorumError):  # the command itself says what is wrong
        return
    start_workers(config, options)


def read_options(args: Sequence[str]) -> WorkerOptions | None:
    """The worker options in raw ``eval run`` arguments; None for ``--help`` or
    arguments these options cannot be read from (the command will say why)."""
    if "--help" in args:
        return None
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    parser.add_argument("--queue", action="store_true")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--models", default="")
    parser.add_argument("--no-judge", action="store_true")
    try:
        known, _ = parser.parse_known_args(list(args))
    except (argparse.ArgumentError, SystemExit):
        return None
    return WorkerOptions(
        queue=known.queue,
        workers=known.workers,
        model_names=tuple(split_names([known.models])),
        use_judge=not known.no_judge,
    )


def forkserver_preload(config: QuorumConfig, options: WorkerOptions) -> bool | None:
    """None when the run asks no worker process on this machine (``--queue``,
    ``--workers 1``, or models that are not in ``config``); else whether the forkserver
    should preload litellm (a model or the judge is asked through it)."""
    if options.queue or (options.workers is not None and options.workers < 2):
        return None
    from bot.eval_runs.members import any_asked_through_litellm, asked_members

    try:
        members = asked_members(config, options.model_names, use_judge=options.use_judge)
    except QuorumError:
        return None
    return any_asked_through_litellm(members)


def start_workers(config: QuorumConfig, options: WorkerOptions) -> None:
    """Start the forkserver now if this run may use worker processes on this machine."""
    with_litellm = forkserver_preload(config, options)
    if with_litellm is not None:
        from bot.eval_runs.forkserver import start_early

        start_early(with_litellm=with_litellm)


def split_names(values: Sequence[str]) -> list[str]:
    """``--tag a,b --tag c`` → ``[a, b, c]``."""
    return [v.strip() for item in values for v in item.split(",") if v.strip()]
