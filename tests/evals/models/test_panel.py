"""The panel: concurrent fan-out through the real litellm path, answers as they arrive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.errors import InputError
from evals.models.litellm_client import LiteLLMClient
from evals.models.panel import ask_panel, quorum_status, stream_panel
from evals.models.provider_calls import RetryPolicy
from evals.records import ChatMessage, ErrorKind, ModelAnswer, PanelMember, PanelRun
from tests.fakes.openai_server import Failure, FakeOpenAIServer


@pytest.fixture
def client() -> LiteLLMClient:
    return LiteLLMClient(retry=RetryPolicy(backoff_base_s=0.01))


def members(server: FakeOpenAIServer, *names: str, timeout_s: float = 2.0) -> list[PanelMember]:
    return [
        PanelMember(
            name=n,
            model=f"openai/{n}",
            params={"api_base": server.base_url, "api_key": "sk-test"},
            timeout_s=timeout_s,
            max_retries=1,
        )
        for n in names
    ]


@pytest.fixture
def three(fake_openai: FakeOpenAIServer) -> list[PanelMember]:
    """Listed slow, fast, medium: arrival order differs from member order."""
    fake_openai.script("slow", "Paris (slow).", latency=0.18)
    fake_openai.script("fast", "Paris (fast).", latency=0.0)
    fake_openai.script("medium", "Paris (medium).", latency=0.09)
    return members(fake_openai, "slow", "fast", "medium")


async def test_answers_arrive_by_latency_and_the_run_keeps_member_order(
    three: list[PanelMember], client: LiteLLMClient
) -> None:
    await ask_panel("warm up", three[1:2], client)  # litellm's first call is slow
    arrived: list[str] = []

    async def on_answer(answer: ModelAnswer) -> None:
        arrived.append(answer.member)

    run = await ask_panel("Capital of France?", three, client, on_answer=on_answer)

    assert arrived == ["fast", "medium", "slow"]
    assert [a.member for a in run.answers] == ["slow", "fast", "medium"]
    assert [a.text for a in run.answers] == ["Paris (slow).", "Paris (fast).", "Paris (medium)."]
    assert run.quorum_met and run.question == "Capital of France?"
    assert run.started_at.tzinfo is UTC and run.finished_at >= run.started_at


async def test_members_are_asked_concurrently(
    fake_openai: FakeOpenAIServer, client: LiteLLMClient
) -> None:
    for name in ("a", "b", "c", "d"):
        fake_openai.script(name, f"{name} says hi", latency=0.1)

    run = await ask_panel("Hi?", members(fake_openai, "a", "b", "c", "d"), client)

    assert all(a.ok for a in run.answers)
    assert fake_openai.max_in_flight == 4  # all four were being answered at the same time


async def test_stream_panel_yields_answers_as_they_arrive(
    three: list[PanelMember], client: LiteLLMClient
) -> None:
    await ask_panel("warm up", three[1:2], client)  # litellm's first call is slow

    arrived = [a.member async for a in stream_panel("Capital of France?", three, client)]

    assert arrived == ["fast", "medium", "slow"]


async def test_a_timed_out_member_does_not_hold_up_the_others(
    fake_openai: FakeOpenAIServer, client: LiteLLMClient
) -> None:
    fake_openai.script("ok1", "Yes.")
    fake_openai.script("ok2", "Yes indeed.", latency=0.02)
    fake_openai.fail("stuck", Failure.hang())
    panel = members(fake_openai, "ok1", "stuck", "ok2")
    panel[1] = PanelMember(**{**panel[1].__dict__, "timeout_s": 0.3})
    arrived: list[str] = []

    started = time.perf_counter()
    run = await ask_panel("Is it?", panel, client, on_answer=lambda a: arrived.append(a.member))
    elapsed = time.perf_counter() - started

    assert [a.error for a in run.answers] == [None, ErrorKind.TIMEOUT, None]
    assert arrived[-1] == "stuck"
    assert 0.25 <= elapsed < 0.3 + 0.4
    assert run.quorum_met


async def test_messages_are_system_prompt_context_then_question(
    fake_openai: FakeOpenAIServer, client: LiteLLMClient
) -> None:
    context = (ChatMessage("user", "Earlier question"), ChatMessage("assistant", "Earlier answer"))

    await ask_panel(
        "Follow-up?",
        members(fake_openai, "one"),
        client,
        system_prompt="Be brief.",
        context=context,
    )

    assert fake_openai.requests[0].messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Earlier question"},
        {"role": "assistant", "content": "Earlier answer"},
        {"role": "user", "content": "Follow-up?"},
    ]


async def test_a_failing_callback_does_not_kill_the_panel(
    three: list[PanelMember], client: LiteLLMClient, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def flaky(answer: ModelAnswer) -> None:
        seen.append(answer.member)
        if answer.member == "fast":
            raise RuntimeError("Slack is down")

    run = await ask_panel("Capital of France?", three, client, on_answer=flaky)

    assert seen == ["fast", "medium", "slow"]
    assert all(a.ok for a in run.answers)
    assert "on_answer callback failed for fast" in caplog.text


class HangingClient:
    """A ModelClient that breaks its contract: it never returns."""

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class QuickOrHangingClient:
    """Answers members named "quick" at once; the others hang until cancelled."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        if member.name == "quick":
            return ModelAnswer(member=member.name, model=member.model, text="Done.")
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled.append(member.name)
        raise AssertionError("unreachable")


async def test_leaving_a_stream_early_cancels_the_members_still_working() -> None:
    client = QuickOrHangingClient()
    panel = [PanelMember(name=n, model=f"x/{n}", timeout_s=30) for n in ("slow", "quick")]

    async with aclosing(stream_panel("Hi?", panel, client)) as answers:
        async for answer in answers:
            assert answer.member == "quick"
            break

    assert client.cancelled == ["slow"]


class RaisingClient:
    """A ModelClient that breaks its contract: it raises."""

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        raise ConnectionResetError("boom")


async def test_a_hung_client_cannot_hang_the_panel() -> None:
    member = PanelMember(name="hung", model="x/hung", timeout_s=0.1)

    started = time.perf_counter()
    run = await ask_panel("Hello?", [member], HangingClient(), deadline_margin_s=0.05)

    assert time.perf_counter() - started < 0.5
    assert run.answers[0].error is ErrorKind.TIMEOUT
    assert quorum_status(run) == (
        False,
        "None of the 1 models gave a usable answer, and a consensus needs at least 2. "
        "Hung did not answer in time.",
    )


async def test_a_raising_client_becomes_a_provider_error() -> None:
    run = await ask_panel("Hello?", [PanelMember(name="bad", model="x/bad")], RaisingClient())

    assert run.answers[0].error is ErrorKind.PROVIDER_ERROR
    assert run.answers[0].error_detail == "client error: ConnectionResetError"


async def test_quorum_not_met_says_why_in_plain_words(
    fake_openai: FakeOpenAIServer, client: LiteLLMClient
) -> None:
    fake_openai.script("good", "Paris.")
    fake_openai.fail("locked", Failure.auth())
    fake_openai.fail("blank", Failure.empty())

    run = await ask_panel("Capital?", members(fake_openai, "good", "locked", "blank"), client)

    met, reason = quorum_status(run)
    assert not met and not run.quorum_met
    assert reason == (
        "Only 1 of 3 models gave a usable answer, and a consensus needs at least 2. "
        "Locked rejected our credentials (check its API key); blank returned an empty answer."
    )


async def test_quorum_met_names_who_did_not_answer(
    fake_openai: FakeOpenAIServer, client: LiteLLMClient
) -> None:
    fake_openai.fail("broken", *[Failure.server_error()] * 2)

    run = await ask_panel("Capital?", members(fake_openai, "a", "b", "broken"), client)

    assert quorum_status(run) == (
        True,
        "2 of 3 models answered (at least 2 needed). Not answering: broken had a provider error.",
    )


async def test_a_higher_quorum_is_honoured(
    fake_openai: FakeOpenAIServer, client: LiteLLMClient
) -> None:
    run = await ask_panel("Capital?", members(fake_openai, "a", "b"), client, quorum=3)

    assert run.quorum == 3 and not quorum_status(run)[0]


@pytest.mark.parametrize(
    ("question", "panel", "quorum", "message"),
    [
        ("  ", [PanelMember(name="a", model="x/a")], 2, "question is empty"),
        ("Hi?", [], 2, "panel has no members"),
        ("Hi?", [PanelMember(name="a", model="x/a")], 0, "quorum must be at least 1"),
    ],
)
async def test_bad_input_gets_a_clear_error(
    question: str, panel: list[PanelMember], quorum: int, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        await ask_panel(question, panel, RaisingClient(), quorum=quorum)


_T0 = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    outcomes=st.lists(st.sampled_from([None, *ErrorKind]), min_size=1, max_size=8),
    quorum=st.integers(min_value=1, max_value=9),
)
def test_quorum_status_agrees_with_the_count_and_names_every_failure(
    outcomes: list[ErrorKind | None], quorum: int
) -> None:
    answers = tuple(
        ModelAnswer(member=f"m{i}", model="x", text="" if k else "yes", error=k)
        for i, k in enumerate(outcomes)
    )
    run = PanelRun("q", answers, _T0, _T0 + timedelta(seconds=1), quorum=quorum)

    met, reason = quorum_status(run)

    assert met == (sum(k is None for k in outcomes) >= quorum)
    for i, kind in enumerate(outcomes):
        assert (f"m{i} " in reason or f"M{i} " in reason) == (kind is not None)
    assert reason.endswith(".")
