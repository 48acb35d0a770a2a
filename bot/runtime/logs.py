"""Logging set-up: one format, and a filter that keeps secrets out of every log line."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from evals.cases.redaction import scrub

_SECRET_ENV_HINTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def _secret_values(extra: Iterable[str]) -> list[str]:
    values = [v for k, v in os.environ.items() if any(h in k for h in _SECRET_ENV_HINTS)]
    values += list(extra)
    # Longest first so a secret containing another is replaced whole; ignore trivial values.
    return sorted({v for v in values if len(v) >= 8}, key=len, reverse=True)


class SecretFilter(logging.Filter):
    """Replaces known secret values (environment variables named like a key, token,
    secret or password) and everything :mod:`evals.cases.redaction` finds (the same detectors
    that redact eval cases: keys, tokens, assignments, emails, phones, addresses ...)
    with ``[redacted]``."""

    def __init__(self, extra_secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = _secret_values(extra_secrets)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


def configure_logging(level: str = "INFO", extra_secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(extra_secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("LiteLLM", "litellm", "httpx", "sentence_transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
