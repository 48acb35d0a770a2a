"""Both model clients, over real HTTP against the fake OpenAI-compatible server.

Every test taking ``client`` runs twice: through litellm (:class:`LiteLLMClient`) and
straight over HTTP (:class:`OpenAICompatibleClient`); a member must get the same answer,
error kind, retries, cost and scrubbed detail whichever one asks it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from evals.models.litellm_client import LiteLLMClient
from evals.models.openai_compatible import OpenAICompatibleClient
from evals.models.provider_calls import RetryPolicy
from evals.protocols import ModelClient
from evals.records import ChatMessage, ErrorKind, PanelMember
from tests.fakes.openai_server import Failure, FakeOpenAIServer
from tests.fakes.providers import Wire
from tests.net import free_port

QUESTION = (ChatMessage("user", "What is the capital of France?"),)
FAST_RETRY = RetryPolicy(backoff_base_s=0.01)


@pytest.fixture(params=["litellm", "openai_compatible"])
def client(request: pytest.FixtureRequest) -> ModelClient:
    if request.param == "litellm":
        return LiteLLMClient(retry=FAST_RETRY)
    return OpenAICompatibleClient(retry=FAST_RETRY)


def member(server: FakeOpenAIServer, name: str, **kwargs: Any) -> PanelMember:
    """A member asking model ``name`` on ``server``, as a user configures one."""
    return Wire("openai", server).member(name, **kwargs)


async def test_answer_records_text_version_tokens_cost_and_finish_reason(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.script("fast", "Paris is the capital.", resolved_model="gpt-4o-mini-2024-07-18")

    answer = await client.complete(member(fake_openai, "fast"), QUESTION)

    assert answer.ok
    assert answer.member == "fast" and answer.model == "openai/fast"
    assert answer.text == "Paris is the capital."
    assert answer.resolved_model == "gpt-4o-mini-2024-07-18"
    assert answer.prompt_tokens == 6 and answer.completion_tokens == 4
    assert answer.finish_reason == "stop"
    assert answer.latency_ms >= 0
    # Priced by the model that answered (litellm's price list), even from a custom api_base.
    assert answer.cost_usd is not None and answer.cost_usd > 0
    assert fake_openai.calls("fast") == 1
    [request] = fake_openai.requests
    assert request.messages == [{"role": "user", "content": "What is the capital of France?"}]
    assert "authorization" not in {h.lower() for h in request.headers}


async def test_cost_is_none_when_nobody_knows_the_models_price(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.script("house-model", "Paris.", resolved_model="house-model-2025-01")

    answer = await client.complete(member(fake_openai, "house-model"), QUESTION)

    assert answer.ok and answer.text == "Paris."
    assert answer.resolved_model == "house-model-2025-01"
    assert answer.cost_usd is None


async def test_temperature_max_tokens_and_params_reach_the_provider(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    m = member(fake_openai, "fast", temperature=0.2, max_tokens=50)
    m = PanelMember(
        **{**m.__dict__, "params": {**m.params, "seed": 7, "extra_headers": {"X-Team": "quorum"}}}
    )

    await client.complete(m, QUESTION)

    body = fake_openai.requests[0].body
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 50
    assert body["seed"] == 7
    assert fake_openai.requests[0].headers["X-Team"] == "quorum"


async def test_rate_limit_then_success_is_retried(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.script("fast", "Paris.")
    fake_openai.fail("fast", Failure.rate_limited(retry_after=0.01))

    answer = await client.complete(member(fake_openai, "fast"), QUESTION)

    assert answer.ok and answer.text == "Paris."
    assert fake_openai.calls("fast") == 2


async def test_retry_after_is_honoured(fake_openai: FakeOpenAIServer, client: ModelClient) -> None:
    fake_openai.fail("fast", Failure.rate_limited(retry_after=0.15))

    answer = await client.complete(member(fake_openai, "fast"), QUESTION)

    assert answer.ok
    assert answer.latency_ms >= 140  # waited as asked, not the 10 ms backoff


async def test_retry_after_beyond_the_timeout_reports_rate_limited_at_once(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.fail("fast", Failure.rate_limited(retry_after=5))

    answer = await client.complete(member(fake_openai, "fast", timeout_s=0.5), QUESTION)

    assert answer.error is ErrorKind.RATE_LIMITED
    assert answer.latency_ms < 500
    assert fake_openai.calls("fast") == 1


async def test_rate_limit_every_time_gives_rate_limited(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.fail("fast", *[Failure.rate_limited()] * 3)

    answer = await client.complete(member(fake_openai, "fast", max_retries=2), QUESTION)

    assert answer.error is ErrorKind.RATE_LIMITED
    assert answer.error_detail is not None and "429" in answer.error_detail
    assert "3 attempts" in answer.error_detail
    assert fake_openai.calls("fast") == 3


async def test_server_error_is_retried_then_reported(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.fail("fast", *[Failure.server_error()] * 3)

    answer = await client.complete(member(fake_openai, "fast", max_retries=2), QUESTION)

    assert answer.error is ErrorKind.PROVIDER_ERROR
    assert not answer.ok and answer.text == ""
    assert fake_openai.calls("fast") == 3


async def test_server_error_then_success(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.fail("fast", Failure.server_error(503))

    answer = await client.complete(member(fake_openai, "fast"), QUESTION)

    assert answer.ok
    assert fake_openai.calls("fast") == 2


@pytest.mark.parametrize(
    ("failure", "kind"),
    [(Failure.auth(), ErrorKind.AUTH), (Failure.bad_request(), ErrorKind.BAD_REQUEST)],
)
async def test_auth_and_bad_request_are_not_retried(
    fake_openai: FakeOpenAIServer, client: ModelClient, failure: Failure, kind: ErrorKind
) -> None:
    fake_openai.fail("fast", failure)

    answer = await client.complete(member(fake_openai, "fast", max_retries=3), QUESTION)

    assert answer.error is kind
    assert fake_openai.calls("fast") == 1


async def test_hung_provider_times_out_within_the_member_timeout(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.fail("slow", Failure.hang())

    answer = await client.complete(member(fake_openai, "slow", timeout_s=0.3), QUESTION)

    assert answer.error is ErrorKind.TIMEOUT
    assert 250 <= answer.latency_ms <= 600
    assert fake_openai.calls("slow") == 1


async def test_malformed_json_is_a_provider_error(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.fail("fast", Failure.malformed())

    answer = await client.complete(member(fake_openai, "fast", max_retries=0), QUESTION)

    assert answer.error is ErrorKind.PROVIDER_ERROR
    assert fake_openai.calls("fast") == 1


async def test_malformed_json_once_then_success_is_retried(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.fail("fast", Failure.malformed())

    answer = await client.complete(member(fake_openai, "fast"), QUESTION)

    assert answer.ok
    assert fake_openai.calls("fast") == 2


@pytest.mark.parametrize("reply", ["", "   \n "])
async def test_empty_content_is_reported_as_empty(
    fake_openai: FakeOpenAIServer, client: ModelClient, reply: str
) -> None:
    fake_openai.script("fast", resolved_model="fast-2025")
    if reply:
        fake_openai.script("fast", reply)
    else:
        fake_openai.fail("fast", Failure.empty())

    answer = await client.complete(member(fake_openai, "fast"), QUESTION)

    assert answer.error is ErrorKind.EMPTY
    assert answer.resolved_model == "fast-2025"
    assert answer.finish_reason == "stop"
    assert answer.prompt_tokens == 6
    assert fake_openai.calls("fast") == 1


async def test_unreachable_provider_is_a_provider_error(client: ModelClient) -> None:
    port = free_port()
    m = PanelMember(
        name="gone",
        model="openai/gone",
        params={"api_base": f"http://127.0.0.1:{port}/v1", "api_key": "sk-test"},
        timeout_s=2.0,
        max_retries=1,
    )

    answer = await client.complete(m, QUESTION)

    assert answer.error is ErrorKind.PROVIDER_ERROR
    assert answer.error_detail is not None and "2 attempts" in answer.error_detail


async def test_api_key_never_appears_in_error_detail_or_logs(
    fake_openai: FakeOpenAIServer, client: ModelClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-live-Zq8uW3x9RtY2"
    fake_openai.fail("fast", Failure.auth(f"Incorrect API key provided: {secret}"))
    fake_openai.fail("other", *[Failure.server_error()] * 2)
    caplog.set_level(logging.DEBUG)

    auth = await client.complete(member(fake_openai, "fast", api_key=secret), QUESTION)
    provider = await client.complete(
        member(fake_openai, "other", api_key=secret, max_retries=1), QUESTION
    )

    assert auth.error is ErrorKind.AUTH and provider.error is ErrorKind.PROVIDER_ERROR
    assert auth.error_detail is not None and "Incorrect API key provided" in auth.error_detail
    for text in (auth.error_detail, provider.error_detail, caplog.text):
        assert secret not in (text or "")
        assert "Zq8uW3x9RtY2" not in (text or "")
    assert "fast" in caplog.text  # the failure itself was logged, safely


@pytest.mark.parametrize(
    "token",
    [
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
        "AIzaSyD4f8Kq9Zr7WmTt2Xv6Bn3Lp0Qs5Hj1Acx",
        "glpat-x9Zr7WmTt2Xv6Bn3Lp0Q",
        "npm_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    ],
)
async def test_provider_messages_quoting_other_keys_are_scrubbed(
    fake_openai: FakeOpenAIServer,
    client: ModelClient,
    caplog: pytest.LogCaptureFixture,
    token: str,
) -> None:
    """The error scrubber uses the same detectors as case redaction."""
    fake_openai.fail("fast", Failure.bad_request(f"token {token} is not valid here"))
    caplog.set_level(logging.DEBUG)
    answer = await client.complete(member(fake_openai, "fast"), QUESTION)
    assert answer.error is ErrorKind.BAD_REQUEST
    assert answer.error_detail is not None and "is not valid here" in answer.error_detail
    assert token not in answer.error_detail and token not in caplog.text


def test_negative_backoff_is_refused() -> None:
    # Both clients retry by a RetryPolicy; it refuses a negative wait.
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(backoff_base_s=-1)


def test_the_fake_server_answers_plain_synchronous_http(fake_openai: FakeOpenAIServer) -> None:
    """Sync code and subprocesses reach the same server (it runs in its own thread)."""
    fake_openai.script("fast", "Paris.")
    request = urllib.request.Request(
        f"{fake_openai.base_url}/chat/completions",
        data=json.dumps(
            {"model": "fast", "messages": [{"role": "user", "content": "Hi"}]}
        ).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-test"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.load(response)
    with urllib.request.urlopen(f"{fake_openai.base_url}/models", timeout=5) as response:
        models = json.load(response)

    assert body["choices"][0]["message"]["content"] == "Paris."
    assert body["usage"] == {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    assert [m["id"] for m in models["data"]] == ["fast"]
    assert fake_openai.calls("fast") == 1
    assert "Authorization" not in fake_openai.requests[0].headers


async def test_warm_up_loads_litellm_lazily_imported_parts_without_a_request(
    fake_openai: FakeOpenAIServer,
) -> None:
    await LiteLLMClient().warm_up()

    assert "openai.resources" in sys.modules
    assert fake_openai.calls() == 0


@pytest.mark.slow
def test_the_fake_server_runs_as_its_own_process() -> None:
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--reply", "Hello."]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            request = urllib.request.Request(
                f"{base_url}/chat/completions",
                data=b'{"model": "any", "messages": [{"role": "user", "content": "Hi"}]}',
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                body = json.load(response)
        finally:
            process.terminate()

    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
    assert body["model"] == "any"
    assert body["choices"][0]["message"]["content"] == "Hello."


async def test_a_configured_price_prices_every_answer_by_its_tokens(
    fake_openai: FakeOpenAIServer, client: ModelClient
) -> None:
    fake_openai.script("house-model", "Paris.", resolved_model="house-model-2025-01")
    priced = PanelMember(
        name="house-model",
        model="openai/house-model",
        params={
            "api_base": fake_openai.base_url,
            "api_key": "sk-test",
            "input_cost_per_token": 0.001,
            "output_cost_per_token": 0.002,
        },
    )

    first = await client.complete(priced, QUESTION)
    second = await client.complete(priced, QUESTION)

    for answer in (first, second):
        assert answer.prompt_tokens is not None and answer.completion_tokens is not None
        expected = answer.prompt_tokens * 0.001 + answer.completion_tokens * 0.002
        assert answer.cost_usd == pytest.approx(expected)


@pytest.mark.parametrize("client_type", [LiteLLMClient, OpenAICompatibleClient])
async def test_a_model_without_a_price_stays_unknown_for_every_client(
    fake_openai: FakeOpenAIServer, client_type: type[LiteLLMClient | OpenAICompatibleClient]
) -> None:
    # The first client registers such a model in litellm's cost map at 0, so that litellm
    # stops failing to price it on every response; that entry must never read as a price.
    fake_openai.script("unpriced-house-model", "Paris.", resolved_model="unpriced-house-2025")
    fake_openai.script("unpriced-alias", "Paris.", resolved_model="gpt-4o-mini-2024-07-18")
    house = member(fake_openai, "unpriced-house-model")
    alias = member(fake_openai, "unpriced-alias")

    answers = [await client_type().complete(m, QUESTION) for _ in range(2) for m in (house, alias)]

    assert all(a.ok for a in answers)
    assert [a.cost_usd is None for a in answers] == [True, False, True, False]
    # The alias is priced by the model that answered, by the second client too.
    assert answers[1].cost_usd == answers[3].cost_usd
    assert answers[3].cost_usd is not None and answers[3].cost_usd > 0
