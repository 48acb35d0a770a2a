"""The rate limiter: configured rpm/tpm, settling with usage, priorities, AIMD (on a fake
clock), and both model clients paced by it against a rate-limited fake provider."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from evals.models.litellm_client import LiteLLMClient
from evals.models.openai_compatible import OpenAICompatibleClient
from evals.models.provider_calls import RetryPolicy
from evals.models.rate_limits import (
    DECREASE,
    INCREASE_PER_S,
    LimitedClient,
    Permit,
    Priority,
    RateLimiter,
    SharedLimit,
    background,
)
from evals.protocols import ModelClient
from evals.records import ChatMessage, ErrorKind, PanelMember
from tests.fakes.openai_server import FakeOpenAIServer

QUESTION = (ChatMessage("user", "What is the capital of France?"),)
BACKGROUND = Priority.BACKGROUND


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def member(name: str, **params: object) -> PanelMember:
    return PanelMember(name=name, model=f"openai/{name}", params=params)


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_rpm_lets_half_a_second_of_requests_through_then_one_per_interval() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, adaptive=False)  # the configured limit alone
    fast = member("fast", rpm=240)  # 4 a second, at most half a second's worth at once
    granted = [asyncio.create_task(limiter.acquire(fast, 0)) for _ in range(5)]
    await settle()
    assert [t.done() for t in granted] == [True, True, False, False, False]
    clock.t += 0.25
    limiter.pump()
    await settle()
    assert [t.done() for t in granted] == [True, True, True, False, False]
    clock.t += 0.5
    limiter.pump()
    await settle()
    assert all(t.done() for t in granted)


async def test_tpm_counts_the_estimate_up_front_and_settles_with_the_usage() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    big = member("big", tpm=600)  # 10 tokens a second, a bucket of 100
    first = await limiter.acquire(big, 80)
    assert first is not None
    second = asyncio.create_task(limiter.acquire(big, 80))
    await settle()
    assert not second.done()  # 20 left of 100: 60 more tokens are 6 s away
    limiter.settle(first, used_tokens=20)  # the provider says it used 20 of the 80
    await settle()
    assert second.done()


async def test_a_refusal_gives_back_its_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, adaptive=False)
    big = member("big", tpm=600)
    permit = await limiter.acquire(big, 100)
    assert permit is not None
    limiter.settle(permit, refused=True, retry_after=0.0)
    clock.t += 0.1  # the shortest pause after a refusal
    assert await limiter.acquire(big, 100, max_wait=0) is not None


async def test_interactive_calls_go_before_background_calls_on_the_same_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, adaptive=False)
    shared = member("shared", rpm=60)
    assert await limiter.acquire(shared, 0) is not None  # the bucket is empty now
    order: list[str] = []

    async def ask(who: str, priority: Priority) -> None:
        await limiter.acquire(shared, 0, priority)
        order.append(who)

    tasks = [asyncio.create_task(ask(f"eval{i}", Priority.BACKGROUND)) for i in range(3)]
    await settle()
    tasks.append(asyncio.create_task(ask("person", Priority.INTERACTIVE)))
    await settle()
    for _ in range(4):
        clock.t += 1.0
        limiter.pump()
        await settle()
    assert order == ["person", "eval0", "eval1", "eval2"]


async def test_a_waiting_member_does_not_hold_back_a_member_on_another_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    slow, other = member("slow", rpm=60), member("other")
    await limiter.acquire(slow, 0)
    waiting = asyncio.create_task(limiter.acquire(slow, 0, Priority.INTERACTIVE))
    await settle()
    assert await limiter.acquire(other, 0, Priority.BACKGROUND, max_wait=0) is not None
    assert not waiting.done()
    waiting.cancel()


async def test_a_shared_limit_spans_its_members() -> None:
    clock = FakeClock()
    limiter = RateLimiter([SharedLimit("key", frozenset({"a", "b"}), rpm=60)], clock=clock)
    assert await limiter.acquire(member("a"), 0, max_wait=0) is not None
    assert await limiter.acquire(member("b"), 0, max_wait=0) is None  # the key's 1 a second
    assert await limiter.acquire(member("c"), 0, max_wait=0) is not None  # not on that key


async def test_share_splits_a_configured_limit_between_worker_processes() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, share=0.5)
    fast = member("fast", rpm=480)  # 8 a second; this process gets 4, 2 at once
    assert [await limiter.acquire(fast, 0, max_wait=0) is not None for _ in range(3)] == [
        True,
        True,
        False,
    ]


async def test_slow_start_grows_a_members_calls_in_flight_with_its_answers() -> None:
    limiter = RateLimiter(clock=FakeClock())
    model = member("model")
    permits = [await limiter.acquire(model, 0, BACKGROUND, max_wait=0) for _ in range(4)]
    assert all(p is not None for p in permits)
    fifth = asyncio.create_task(limiter.acquire(model, 0, BACKGROUND))
    await settle()
    assert not fifth.done()  # four in flight and no answer yet
    first = permits[0]
    assert first is not None
    limiter.settle(first)  # an answer: one fewer in flight, and room for one more
    await settle()
    assert fifth.done()
    assert await limiter.acquire(model, 0, BACKGROUND, max_wait=0) is not None
    # a person's call never waits for slow start
    assert all([await limiter.acquire(model, 0, max_wait=0) for _ in range(8)])


async def test_one_limiter_serves_event_loops_in_several_threads() -> None:
    """The bot's loop and a scheduled job's (its own loop, in its own thread) share one
    process's limit: waiters on both are paced by it and woken on their own loop."""
    limiter = RateLimiter(adaptive=False)
    shared = member("shared", rpm=1200)  # 20 a second, 10 at once

    async def take(n: int) -> float:
        started = time.perf_counter()
        for permit in await asyncio.gather(*(limiter.acquire(shared, 0) for _ in range(n))):
            assert permit is not None
        return time.perf_counter() - started

    job: list[float] = []
    thread = threading.Thread(target=lambda: job.append(asyncio.run(take(10))))
    thread.start()
    here = await take(10)
    await asyncio.to_thread(thread.join, 10)
    # 20 permits at 20 a second with 10 at once: the second ten take half a second
    assert max(here, *job) == pytest.approx(0.5, abs=0.3)


async def accept(limiter: RateLimiter, who: PanelMember) -> Permit:
    permit = await limiter.acquire(who, 0, max_wait=0)
    assert permit is not None
    limiter.settle(permit)
    return permit


async def test_aimd_paces_a_refused_member_just_under_what_the_provider_accepted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    model = member("model")
    for _ in range(50):  # the provider accepts 5 a second for 10 s
        await accept(limiter, model)
        clock.t += 0.2
    assert limiter.learned_rate("model") is None  # no refusal: no pace
    first, second = await limiter.acquire(model, 0), await limiter.acquire(model, 0)
    assert first is not None and second is not None
    limiter.settle(first, refused=True, retry_after=0.5)
    paced = limiter.learned_rate("model")
    assert paced == pytest.approx(5 * DECREASE, rel=0.05)  # multiplicative decrease
    # paused for the provider's hint: not even a person goes first
    assert await limiter.acquire(model, 0, Priority.INTERACTIVE, max_wait=0) is None
    clock.t += 0.1
    limiter.settle(second, refused=True, retry_after=0.5)  # the same overload's echo
    assert limiter.learned_rate("model") == pytest.approx(paced, rel=0.01)
    clock.t += 10  # additive increase while nothing is refused
    assert limiter.learned_rate("model") == pytest.approx(
        5 * DECREASE * (1 + 10.1 * INCREASE_PER_S), rel=0.02
    )
    assert limiter.stats["model"].throttled == 2


async def test_a_person_waits_for_the_providers_pause_but_not_for_a_learned_pace() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    model = member("model")
    for _ in range(50):
        await accept(limiter, model)
        clock.t += 0.2
    refused = await limiter.acquire(model, 0)
    assert refused is not None
    limiter.settle(refused, refused=True, retry_after=0.5)
    assert await limiter.acquire(model, 0, Priority.INTERACTIVE, max_wait=0) is None  # paused
    clock.t += 0.5  # the pause is over: the learned pace has one slot, a benchmark takes it
    assert await limiter.acquire(model, 0, Priority.BACKGROUND, max_wait=0) is not None
    assert await limiter.acquire(model, 0, Priority.BACKGROUND, max_wait=0) is None
    assert await limiter.acquire(model, 0, Priority.INTERACTIVE, max_wait=0) is not None


async def test_a_limit_nobody_can_wait_for_gives_none_in_time() -> None:
    limiter = RateLimiter()
    slow = member("slow", rpm=1)
    assert await limiter.acquire(slow, 0, max_wait=0.05) is not None
    assert await limiter.acquire(slow, 0, max_wait=0.05) is None


# -- both clients, over real HTTP against a rate-limited fake provider ------------------


@pytest.fixture(params=["litellm", "openai_compatible"])
def inner(request: pytest.FixtureRequest) -> ModelClient:
    policy = RetryPolicy(backoff_base_s=0.01)
    if request.param == "litellm":
        return LiteLLMClient(retry=policy)
    return OpenAICompatibleClient(retry=policy)


def on(server: FakeOpenAIServer, name: str, **params: object) -> PanelMember:
    return PanelMember(
        name=name,
        model=f"openai/{name}",
        params={"api_base": server.base_url, "api_key": "sk-test", **params},
        timeout_s=3.0,
        max_retries=0,
    )


async def test_an_eval_call_waits_out_refusals_and_is_answered(
    fake_openai: FakeOpenAIServer, inner: ModelClient
) -> None:
    fake_openai.rate_limit(rpm=600, burst_s=0)  # one request per 0.1 s
    client = LimitedClient(inner, RateLimiter())
    model = on(fake_openai, "model")
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    with background(deadline) as log:
        answers = await asyncio.gather(*(client.complete(model, QUESTION) for _ in range(6)))
    assert [a.error for a in answers] == [None] * 6  # max_retries=0, and yet none lost
    assert log.throttled == fake_openai.refused("model") > 0
    assert log.waited_s > 0


async def test_an_interactive_call_rate_limited_past_its_time_is_reported_as_such(
    fake_openai: FakeOpenAIServer, inner: ModelClient
) -> None:
    fake_openai.rate_limit(rpm=1, burst_s=0)  # then a 60 s wait
    client = LimitedClient(inner, RateLimiter())
    model = on(fake_openai, "model")
    assert (await client.complete(model, QUESTION)).ok
    refused = await client.complete(model, QUESTION)
    assert refused.error is ErrorKind.RATE_LIMITED
    assert "Rate limit reached" in (refused.error_detail or "")


async def test_the_runs_deadline_turns_a_still_refused_call_into_a_deadline_error(
    fake_openai: FakeOpenAIServer, inner: ModelClient
) -> None:
    fake_openai.rate_limit(rpm=1, burst_s=0)
    client = LimitedClient(inner, RateLimiter())
    model = on(fake_openai, "model")
    with background(datetime.now(UTC) + timedelta(seconds=0.6)) as log:
        first = await client.complete(model, QUESTION)
        late = await client.complete(model, QUESTION)
    assert first.ok
    assert late.error is ErrorKind.DEADLINE
    assert "deadline" in (late.error_detail or "")
    assert log.throttled == 1


async def test_configured_rpm_is_honoured_so_the_provider_refuses_nothing(
    fake_openai: FakeOpenAIServer, inner: ModelClient
) -> None:
    fake_openai.rate_limit(rpm=1200)  # 20 a second, at most a second's worth at once
    client = LimitedClient(inner, RateLimiter())
    model = on(fake_openai, "model", rpm=1200)
    with background(datetime.now(UTC) + timedelta(seconds=20)) as log:
        answers = await asyncio.gather(*(client.complete(model, QUESTION) for _ in range(30)))
    assert all(a.ok for a in answers)
    assert fake_openai.refused() == 0
    assert log.throttled == 0
    assert "rpm" not in fake_openai.requests[0].body  # ours, never sent to the provider


async def _granted_over(
    limiter: RateLimiter, clock: FakeClock, who: PanelMember, seconds: float
) -> int:
    """Background calls of ``who`` granted in ``seconds`` of the fake clock, with plenty
    waiting all along."""
    waiting = [asyncio.create_task(limiter.acquire(who, 0, BACKGROUND)) for _ in range(200)]
    await settle()
    steps = round(seconds / 0.05)
    for _ in range(steps):
        clock.t += 0.05
        limiter.pump()
        await settle()
    granted = sum(t.done() for t in waiting)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    return granted


async def test_a_reservation_for_people_elsewhere_shrinks_the_background_rate_until_lifted() -> (
    None
):
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, adaptive=False)
    busy = member("busy", rpm=600)  # 10 a second
    assert 95 <= await _granted_over(limiter, clock, busy, 10) <= 106
    limiter.reserve("busy", 420)  # people elsewhere use 7 a second of it
    assert limiter.background_rate("busy") == pytest.approx(180)
    clock.t += 1  # the bucket fills back while nobody asks: at most half a second's worth
    assert 29 <= await _granted_over(limiter, clock, busy, 10) <= 33  # 3 a second
    # A person's call here is not held back by the reservation (only by the rpm).
    assert await limiter.acquire(busy, 0) is not None
    limiter.reserve("busy", 0)  # nobody asked lately: the benchmark gets it all back
    assert limiter.background_rate("busy") is None
    clock.t += 1
    assert 95 <= await _granted_over(limiter, clock, busy, 10) <= 106


async def test_a_reservation_never_stops_background_calls_and_counts_in_shared_limits() -> None:
    clock = FakeClock()
    key = SharedLimit("one-key", frozenset({"a", "b"}), rpm=1200)  # 20 a second together
    limiter = RateLimiter([key], clock=clock, adaptive=False, share=0.5)  # one of 2 workers
    a = member("a")
    limiter.know(a)
    # People use 600 a minute of member b, and 6000 of a (more than the key allows).
    limiter.reserve("b", 600)
    assert limiter.reserved("b") == pytest.approx(300)  # this worker's half
    assert limiter.background_rate("a") == pytest.approx(600 - 300)
    limiter.reserve("a", 6000)
    assert limiter.background_rate("a") == pytest.approx(600 * 0.1)  # MIN_BACKGROUND_SHARE
    assert 9 <= await _granted_over(limiter, clock, a, 10) <= 11


async def test_a_reservation_lowers_a_learned_pace_and_an_unknown_rate_is_not_held_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    unknown = member("unknown")
    limiter.know(unknown)
    limiter.reserve("unknown", 60)
    assert limiter.background_rate("unknown") is None  # no rate known to take a share of
    for _ in range(20):  # 20 calls answered in two seconds, then a refusal
        permit = await limiter.acquire(unknown, 0, BACKGROUND)
        assert permit is not None
        clock.t += 0.1
        limiter.settle(permit)
    permit = await limiter.acquire(unknown, 0, BACKGROUND)
    assert permit is not None
    limiter.settle(permit, refused=True, retry_after=0.1)
    learned = limiter.learned_rate("unknown")
    assert learned is not None
    cap = limiter.background_rate("unknown")
    assert cap is not None
    assert cap == pytest.approx(max(learned * 60 - 60, learned * 60 * 0.1))
