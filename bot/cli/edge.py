"""What every CLI command shares: consoles, exit codes, settings/config loading and the
edge that turns errors into friendly text with a reference id."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from evals.errors import (
    CalibrationError,
    ConfigError,
    DatabaseUnavailableError,
    InputError,
    QuorumError,
    new_reference,
)

if TYPE_CHECKING:
    from bot.runtime.config import QuorumConfig
    from bot.runtime.settings import Settings

log = logging.getLogger("quorum.cli")


class _Console(Console):
    """Plain strings are soft-wrapped (one line each, however long: greppable, and what
    scripts expect); tables, panels and other renderables are laid out to the terminal's
    width, wrapped between words, never cropped."""

    def print(self, *objects: Any, soft_wrap: bool | None = None, **kwargs: Any) -> None:
        if soft_wrap is None and any(not isinstance(o, str) for o in objects):
            soft_wrap = False
        super().print(*objects, soft_wrap=soft_wrap, **kwargs)


#: Results go to stdout (pipe-friendly); progress, tables for people and errors to stderr.
out = _Console(soft_wrap=True)
err = _Console(stderr=True, soft_wrap=True)


class Exit(IntEnum):
    """Exit codes, documented in the README's CLI reference."""

    OK = 0
    FAILED = 1  # the command ran but the outcome is a failure (no consensus, a bad line, ...)
    USAGE = 2  # bad input, configuration or missing credentials: nothing was done
    CONFIG = 2  # alias of USAGE
    INTERNAL = 70  # a bug: the message carries a reference id to find it in the logs


P = ParamSpec("P")
R = TypeVar("R")


def edge(func: Callable[P, R]) -> Callable[P, R]:
    """Translate errors into one friendly line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except ConfigError as exc:
            err.print(f"[red]Configuration problem:[/red] {exc.user_message}", highlight=False)
            raise typer.Exit(Exit.USAGE) from None
        except InputError as exc:
            err.print(f"[red]Error:[/red] {exc.user_message}", highlight=False)
            raise typer.Exit(Exit.USAGE) from None
        except CalibrationError as exc:
            err.print(f"[red]Calibrator problem:[/red] {exc.user_message}", highlight=False)
            raise typer.Exit(Exit.USAGE) from None
        except DatabaseUnavailableError as exc:
            # Reached mid-command (the first contact says so as a ConfigError): the
            # message names the database, never its password.
            ref = new_reference()
            log.error("%s (%s)", exc, ref)
            err.print(
                f"[red]The database stopped answering:[/red] {exc} (ref {ref}). "
                "Nothing more was done; run the command again once it is back.",
                highlight=False,
            )
            raise typer.Exit(Exit.FAILED) from None
        except QuorumError as exc:
            ref = new_reference()
            # The message and reference go to the log; the stack only when debugging.
            log.error("%s (%s)", exc, ref, exc_info=log.isEnabledFor(logging.DEBUG))
            err.print(f"[red]Error:[/red] {exc.user_message} (ref {ref})", highlight=False)
            raise typer.Exit(Exit.FAILED) from None
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(130) from None
        except Exception:
            ref = new_reference()
            log.exception("unexpected error (%s)", ref)
            err.print(
                f"[red]Something went wrong inside Quorum.[/red] Reference {ref}; "
                "the details are in the log above.",
                highlight=False,
            )
            raise typer.Exit(Exit.INTERNAL) from None

    return wrapper


def load_settings() -> Settings:
    from bot.runtime.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid environment: {problems}") from None


def load_settings_and_config() -> tuple[Settings, QuorumConfig]:
    from bot.runtime.config import load_config

    settings = load_settings()
    return settings, load_config(settings.quorum_config)
