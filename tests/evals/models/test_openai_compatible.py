"""What only the direct OpenAI-compatible client does: which members it takes, what a
misbehaving server gets, and that its HTTP sessions end with their event loop.
(What it shares with the litellm client is tested against both in test_model_clients.py.)"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
from dataclasses import replace
from typing import Any

import pytest

from evals.models.openai_compatible import MAX_BODY_BYTES, OpenAICompatibleClient
from evals.models.provider_calls import RetryPolicy
from evals.records import ChatMessage, ErrorKind, PanelMember
from tests.fakes.openai_server import Failure, FakeOpenAIServer, ModelScript
from tests.net import free_port

QUESTION = (ChatMessage("user", "What is the capital of France?"),)
FAST_RETRY = RetryPolicy(backoff_base_s=0.01)
BASE = "http://127.0.0.1:8000/v1"


def on(server: FakeOpenAIServer, name: str, **params: Any) -> PanelMember:
    return PanelMember(
        name=name,
        model=f"openai/{name}",
        params={"api_base": server.base_url, "api_key": "sk-test", **params},
        timeout_s=2.0,
        max_retries=1,
    )


@pytest.mark.parametrize(
    ("model", "params", "handled"),
    [
        ("openai/llama-3", {"api_base": BASE}, True),
        ("openai/llama-3", {"api_base": BASE, "api_key": "k", "seed": 1, "rpm": 60}, True),
        ("openai/gpt-4o", {"api_base": "https://gateway.example.com/v1"}, True),
        # OpenAI's own API: litellm knows its reasoning models' parameter rules.
        ("openai/o3-mini", {"api_base": "https://api.openai.com/v1"}, False),
        ("openai/gpt-4o-mini", {}, False),
        ("gpt-4o-mini", {"api_base": BASE}, False),
        ("anthropic/claude-3-5-sonnet", {"api_base": BASE}, False),
        ("openai/", {"api_base": BASE}, False),
        ("openai/llama-3", {"api_base": "localhost:8000"}, False),
        # A parameter only litellm speaks: litellm asks.
        ("openai/llama-3", {"api_base": BASE, "api_version": "2024-06-01"}, False),
        ("openai/llama-3", {"api_base": BASE, "custom_llm_provider": "azure"}, False),
    ],
)
def test_which_members_it_asks(model: str, params: dict[str, Any], handled: bool) -> None:
    member = PanelMember(name="m", model=model, params=params)
    assert OpenAICompatibleClient.handles(member) is handled


async def test_a_member_it_does_not_speak_for_is_refused() -> None:
    member = PanelMember(name="claude", model="anthropic/claude-3-5-sonnet")
    with pytest.raises(ValueError, match="claude"):
        await OpenAICompatibleClient().complete(member, QUESTION)


async def test_the_request_carries_the_members_params_and_headers(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = on(
        fake_openai,
        "fast",
        top_p=0.9,
        stop=["\n\n"],
        organization="org-quorum",
        extra_body={"top_k": 20, "model": "not-this"},
        extra_headers={"X-Team": "quorum"},
        rpm=60,
        input_cost_per_token=0.001,
    )

    answer = await OpenAICompatibleClient().complete(member, QUESTION)

    assert answer.ok
    [request] = fake_openai.requests
    assert request.body == {
        "model": "fast",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "top_p": 0.9,
        "stop": ["\n\n"],
        "top_k": 20,
    }
    assert request.headers["X-Team"] == "quorum"
    assert request.headers["OpenAI-Organization"] == "org-quorum"


async def test_without_an_api_key_it_sends_openai_api_key(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.required_key = "sk-from-env"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    keyless = PanelMember(
        name="fast", model="openai/fast", params={"api_base": fake_openai.base_url}
    )
    client = OpenAICompatibleClient()

    assert (await client.complete(keyless, QUESTION)).ok
    wrong = await client.complete(on(fake_openai, "fast", api_key="sk-wrong"), QUESTION)
    assert wrong.error is ErrorKind.AUTH
    assert wrong.error_detail == "HTTP 401 Unauthorized: Incorrect API key provided"
    await client.aclose()


@pytest.mark.parametrize(
    ("failure", "detail"),
    [
        (Failure.not_chat(), "has no choices"),
        (Failure.malformed(), "not JSON"),
    ],
)
async def test_a_body_that_is_not_a_chat_completion_is_a_retried_provider_error(
    fake_openai: FakeOpenAIServer, failure: Failure, detail: str
) -> None:
    fake_openai.fail("fast", failure, failure)

    answer = await OpenAICompatibleClient(retry=FAST_RETRY).complete(
        on(fake_openai, "fast"), QUESTION
    )

    assert answer.error is ErrorKind.PROVIDER_ERROR
    assert answer.error_detail is not None and detail in answer.error_detail
    assert "2 attempts" in answer.error_detail
    assert answer.reference is not None


async def test_a_gateways_html_page_is_never_quoted(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.fail("fast", Failure.html_error(502), Failure.html_error(502))

    answer = await OpenAICompatibleClient(retry=FAST_RETRY).complete(
        on(fake_openai, "fast"), QUESTION
    )

    assert answer.error is ErrorKind.PROVIDER_ERROR
    assert answer.error_detail == "HTTP 502 Bad Gateway (after 2 attempts)"


async def test_an_answer_over_the_size_cap_is_refused_not_read(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script("huge", "x" * (MAX_BODY_BYTES + 10))

    answer = await OpenAICompatibleClient().complete(
        replace(on(fake_openai, "huge"), max_retries=0), QUESTION
    )

    assert answer.error is ErrorKind.PROVIDER_ERROR
    assert answer.error_detail is not None and "over 16 MiB" in answer.error_detail


async def test_a_provider_error_message_is_one_scrubbed_line(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.fail("fast", Failure.bad_request("Bad key sk-test in request\nsecond line"))

    answer = await OpenAICompatibleClient().complete(on(fake_openai, "fast"), QUESTION)

    assert answer.error is ErrorKind.BAD_REQUEST
    assert answer.error_detail is not None
    assert answer.error_detail.startswith("HTTP 400 Bad Request: Bad key")
    assert "sk-test" not in answer.error_detail and "second line" not in answer.error_detail


def test_each_event_loop_gets_its_own_session_closed_when_the_loop_ends(
    fake_openai: FakeOpenAIServer,
) -> None:
    """The bot's loop, each scheduled job's, each worker's: one client serves them all,
    and no session outlives its loop (no "Unclosed client session" at exit)."""
    client = OpenAICompatibleClient()
    member = on(fake_openai, "fast")
    sessions = []

    async def ask() -> bool:
        answer = await client.complete(member, QUESTION)
        sessions.append(client._sessions[asyncio.get_running_loop()])
        return answer.ok

    assert asyncio.run(ask()) and asyncio.run(ask())
    gc.collect()

    assert len(sessions) == 2 and sessions[0] is not sessions[1]
    assert all(s.closed for s in sessions)
    assert not client._closers and not list(client._sessions)


def test_a_process_using_it_exits_without_resource_warnings(
    fake_openai: FakeOpenAIServer,
) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from evals.models.openai_compatible import OpenAICompatibleClient
        from evals.records import ChatMessage, PanelMember

        member = PanelMember(name="fast", model="openai/fast",
                             params={{"api_base": "{fake_openai.base_url}", "api_key": "k"}})

        async def main():
            client = OpenAICompatibleClient()
            answers = await asyncio.gather(
                *(client.complete(member, [ChatMessage("user", "hi")]) for _ in range(20)))
            print(sum(a.ok for a in answers), "litellm" in sys.modules)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["20", "False"]  # and litellm was never imported
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr


async def test_aclose_closes_this_loops_session_and_the_next_call_opens_one(
    fake_openai: FakeOpenAIServer,
) -> None:
    client = OpenAICompatibleClient()
    member = on(fake_openai, "fast")
    assert (await client.complete(member, QUESTION)).ok
    first = client._sessions[asyncio.get_running_loop()]

    await client.aclose()
    assert first.closed
    assert (await client.complete(member, QUESTION)).ok
    await client.aclose()


async def test_many_concurrent_calls_share_connections(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.default = ModelScript(reply="Paris.", latency=0.05)
    client = OpenAICompatibleClient()
    member = on(fake_openai, "fast")

    answers = await asyncio.gather(*(client.complete(member, QUESTION) for _ in range(300)))

    assert all(a.ok for a in answers)
    assert fake_openai.max_in_flight > 100  # no pool limit below the caller's concurrency
    await client.aclose()


@pytest.mark.parametrize(
    ("body", "status", "kind", "detail"),
    [
        ("[" * 100_000 + "]" * 100_000, 200, ErrorKind.PROVIDER_ERROR, "not JSON"),
        (
            "\xff\xfe not utf-8 \udcff".encode("utf-8", "surrogateescape").decode("latin-1"),
            200,
            ErrorKind.PROVIDER_ERROR,
            "not JSON",
        ),
        (
            '{"choices": [{"message": {"content": null, "tool_calls": []}}]}',
            200,
            ErrorKind.EMPTY,
            "no text",
        ),
        (
            '{"choices": "nope", "usage": {"prompt_tokens": "x"}}',
            200,
            ErrorKind.PROVIDER_ERROR,
            "no choices",
        ),
        ("[" * 100_000, 503, ErrorKind.PROVIDER_ERROR, "HTTP 503"),
    ],
)
async def test_a_hostile_or_odd_body_is_a_clear_failure_never_an_exception(
    fake_openai: FakeOpenAIServer, body: str, status: int, kind: ErrorKind, detail: str
) -> None:
    fake_openai.fail("odd", Failure.raw(body, status))

    answer = await OpenAICompatibleClient().complete(
        replace(on(fake_openai, "odd"), max_retries=0), QUESTION
    )

    assert answer.error is kind
    assert answer.error_detail is not None and detail in answer.error_detail
    assert len(answer.error_detail) < 200


async def test_an_api_base_that_is_no_url_is_refused_at_once() -> None:
    member = PanelMember(
        name="bad",
        model="openai/bad",
        params={"api_base": "http://exa mple.com:99999/v1", "api_key": "sk-test"},
        max_retries=3,
    )

    answer = await OpenAICompatibleClient().complete(member, QUESTION)

    assert answer.error is ErrorKind.BAD_REQUEST
    assert answer.error_detail == "api_base is not a valid URL"  # and not retried


async def test_a_refused_connection_says_where_without_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    port = free_port()
    member = PanelMember(
        name="gone",
        model="openai/gone",
        params={"api_base": f"http://user:hunter2@127.0.0.1:{port}/v1"},
        max_retries=0,
    )

    answer = await OpenAICompatibleClient().complete(member, QUESTION)

    assert answer.error is ErrorKind.PROVIDER_ERROR
    assert answer.error_detail == f"could not connect to 127.0.0.1:{port}"
