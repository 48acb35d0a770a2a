"""litellm's price list, read as data, without importing litellm.

litellm ships the per-token prices it knows as a JSON file inside its package
(``model_prices_and_context_window_backup.json``, the map it uses itself with
``LITELLM_LOCAL_MODEL_COST_MAP=True``). Importing litellm to read it costs seconds of CPU
and a couple of hundred MB; reading the file costs ~50 ms, once per process, and only
when a member has no configured price. :mod:`evals.models.openai_compatible` prices its answers
from here; ``tests/evals/models/test_price_list.py`` checks that it agrees with
``litellm.get_model_info``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from evals.models.provider_calls import Price, per_token

logger = logging.getLogger(__name__)

_FILE = "model_prices_and_context_window_backup.json"


def price_of(model: str) -> Price | None:
    """The per-token price litellm knows for a litellm model string (``openai/gpt-4o``)
    or for the bare name a provider answered with (``gpt-4o-2024-08-06``); None when it
    knows none."""
    prices = _prices()
    entry = prices.get(model)
    if entry is None and "/" in model:
        provider, name = model.split("/", 1)
        candidate = prices.get(name)
        if candidate is not None and candidate.get("litellm_provider") == provider:
            entry = candidate
    if entry is None:
        return None
    cost_in, cost_out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if cost_in is None and cost_out is None:
        return None
    return Price(per_token(cost_in), per_token(cost_out))


@functools.cache
def _prices() -> dict[str, dict[str, Any]]:
    path = _path()
    if path is None:
        logger.info("litellm's price list is not installed: models without a price cost unknown")
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("could not read litellm's price list %s: %s", path, exc)
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {k: v for k, v in loaded.items() if isinstance(v, dict) and k != "sample_spec"}


def _path() -> Path | None:
    spec = importlib.util.find_spec("litellm")  # locates the package, does not import it
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / _FILE
    return path if path.is_file() else None
