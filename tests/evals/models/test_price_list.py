"""litellm's price list read as data agrees with litellm's own lookup."""

from __future__ import annotations

import pytest

from evals.models import price_list
from evals.models.litellm_client import _lookup_price


@pytest.mark.parametrize(
    "model",
    [
        "openai/gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "openai/gpt-4o",
        "gpt-4o-2024-08-06",
        "openai/gpt-3.5-turbo",
        "anthropic/claude-3-5-sonnet-20240620",
        "claude-3-5-sonnet-20240620",
        "openai/house-model",
        "house-model-2025-01",
    ],
)
def test_the_same_price_as_litellm_gives(model: str) -> None:
    assert price_list.price_of(model) == _lookup_price(model)


def test_a_known_model_has_a_positive_price() -> None:
    price = price_list.price_of("openai/gpt-4o-mini")
    assert price is not None and price.input_per_token > 0 and price.output_per_token > 0


def test_a_model_under_another_providers_name_is_not_priced_as_openais() -> None:
    # "claude-3-5-sonnet-20240620" is Anthropic's; asked for as openai/..., it is unknown.
    assert price_list.price_of("openai/claude-3-5-sonnet-20240620") is None


def test_the_lists_schema_example_is_not_a_model() -> None:
    # litellm itself prices a model named "sample_spec" at $0: the file's example entry.
    assert price_list.price_of("sample_spec") is None
