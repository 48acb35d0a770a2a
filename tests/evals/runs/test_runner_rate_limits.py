"""An eval run against a provider that refuses over its rate limit loses no sample; the
run's deadline ends the waiting, and the report says what the limits cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evals.cases.assertions import Assertion, AssertionType
from evals.cases.schema import CaseInput, EvalCase
from evals.models.openai_compatible import OpenAICompatibleClient
from evals.models.rate_limits import LimitedClient, RateLimiter
from evals.records import PanelMember
from evals.runs.report import RunStatus, summarize
from evals.runs.runner import Progress, RunConfig, run_eval
from tests.fakes.openai_server import FakeOpenAIServer

CASES = [
    EvalCase(
        id=f"c{i}",
        input=CaseInput(question=f"Capital of France? ({i})"),
        assertions=[Assertion(type=AssertionType.ICONTAINS, value="Paris")],
    )
    for i in range(12)
]


def members(server: FakeOpenAIServer, *names: str) -> list[PanelMember]:
    return [
        PanelMember(
            name=n,
            model=f"openai/{n}",
            params={"api_base": server.base_url, "api_key": "sk-test"},
            timeout_s=5.0,
        )
        for n in names
    ]


async def test_a_throttling_provider_refuses_many_calls_and_no_sample_is_lost(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script("alpha", "Paris")
    fake_openai.script("beta", "Paris")
    fake_openai.rate_limit(rpm=1200, burst_s=0.1)  # 20 a second each, nearly no burst
    client = LimitedClient(OpenAICompatibleClient(), RateLimiter())
    progress: list[Progress] = []
    report = await run_eval(
        CASES,
        members(fake_openai, "alpha", "beta"),
        client,
        RunConfig(samples=1, concurrency=16, deadline=datetime.now(UTC) + timedelta(minutes=1)),
        on_progress=progress.append,
    )
    refused = fake_openai.refused()
    assert refused > 0  # the provider did throttle: the limit is unknown to Quorum
    assert report.status is RunStatus.COMPLETE
    assert [r.error for r in report.results] == [None] * 24
    assert all(r.passed for r in report.results)
    # every refusal is accounted for, per model, in the samples, the summary and progress
    assert sum(r.throttled for r in report.results) == refused
    by_model = {s.model: s for s in summarize(report)}
    assert by_model["alpha"].throttled == fake_openai.refused("alpha")
    assert by_model["beta"].throttled == fake_openai.refused("beta")
    assert sum(w.throttled for w in progress[-1].limits.values()) == refused
    assert sum(w.waited_s for w in progress[-1].limits.values()) > 0


async def test_the_deadline_makes_a_still_throttled_sample_a_deadline_error(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script("alpha", "Paris")
    fake_openai.rate_limit(rpm=1, burst_s=0)  # one answer, then a minute's wait
    client = LimitedClient(OpenAICompatibleClient(), RateLimiter())
    report = await run_eval(
        CASES[:3],
        members(fake_openai, "alpha"),
        client,
        RunConfig(
            samples=1,
            concurrency=1,
            max_error_rate=0.6,  # one error in two samples must not hide the deadline
            deadline=datetime.now(UTC) + timedelta(seconds=1),
        ),
    )
    first, second = report.results
    assert first.error is None and first.passed
    assert second.error_kind == "deadline"
    assert second.error == "alpha was still rate limited when the run's deadline passed"
    assert second.throttled == 1
    # the third never started: not an error, a sample to resume
    assert report.status is RunStatus.PARTIAL
    assert "deadline" in report.status_reason
    assert "1 samples did not run" in report.status_reason
    assert summarize(report)[0].error_kinds == {"deadline": 1}
