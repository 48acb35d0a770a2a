"""A small error taxonomy. Each error knows whether its message is safe to show a user.

The edges (Slack, CLI) translate errors to friendly text with a short reference id and
log the details; a raw exception or stack trace never reaches a user.
"""

from __future__ import annotations

import secrets


def new_reference() -> str:
    """A short id a user can quote and an operator can grep for in the logs."""
    return "Q-" + secrets.token_hex(4).upper()


class QuorumError(Exception):
    """Base class. ``user_message`` is what a person may see."""

    user_safe: bool = False

    def __init__(self, message: str, *, user_message: str | None = None) -> None:
        super().__init__(message)
        self.user_message = user_message or (
            message if self.user_safe else "Something went wrong on our side."
        )


class ConfigError(QuorumError):
    """The configuration file or the environment is invalid. Safe to show to operators."""

    user_safe = True


class InputError(QuorumError):
    """Something a user gave us is invalid (a bad line, an empty question, ...)."""

    user_safe = True


class CalibrationError(QuorumError):
    """A calibrator could not be fitted or loaded."""

    user_safe = True


class StorageError(QuorumError):
    """The database failed; the details stay in the logs."""

    user_safe = False


class DatabaseUnavailableError(StorageError):
    """The database could not be reached or was busy (connection refused, locked, ...).

    Worth retrying later, unlike a write the database rejected (a plain StorageError).
    """
