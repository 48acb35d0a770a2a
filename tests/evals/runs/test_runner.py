"""The eval runner: samples, caps, budget, resume, errors and the reproducibility record."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from evals.cases.assertions import Assertion, AssertionType
from evals.cases.schema import CaseInput, ContextMessage, EvalCase, Severity
from evals.records import ChatMessage, ErrorKind, ModelAnswer, PanelMember
from evals.runs.report import RunStatus, SampleResult
from evals.runs.runner import PROMPT_TEMPLATE, Progress, RunConfig, prompt_hash, run_eval
from evals.scorers.judge import Judge
from tests.fakes.embedder import FakeEmbedder

Reply = Callable[[PanelMember, Sequence[ChatMessage]], ModelAnswer]


class FakeClient:
    """Answers with ``reply(member, messages)`` after a short delay; counts concurrency."""

    def __init__(self, reply: Reply, delay: float = 0.0) -> None:
        self.reply = reply
        self.delay = delay
        self.calls: list[tuple[str, str]] = []  # (member, question)
        self.members: list[PanelMember] = []
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        self.calls.append((member.name, messages[-1].content))
        self.members.append(member)
        self.in_flight[member.name] += 1
        self.in_flight["*"] += 1
        for key in (member.name, "*"):
            self.peak[key] = max(self.peak[key], self.in_flight[key])
        try:
            await asyncio.sleep(self.delay)
            return self.reply(member, messages)
        finally:
            self.in_flight[member.name] -= 1
            self.in_flight["*"] -= 1


def answer(member: PanelMember, text: str, cost: float = 0.01) -> ModelAnswer:
    return ModelAnswer(
        member=member.name,
        model=member.model,
        text=text,
        resolved_model=member.model + "-2026-01-01",
        latency_ms=120,
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=cost,
    )


def knows_paris(member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
    """``good`` always says Paris; ``bad`` says Berlin."""
    return answer(member, "Paris" if member.name == "good" else "Berlin")


CASES = [
    EvalCase(
        id=f"c{i}",
        input=CaseInput(question=f"Capital of France? ({i})"),
        assertions=[Assertion(type=AssertionType.ICONTAINS, value="Paris")],
        category="geo" if i % 2 else "trivia",
        severity=Severity.HIGH if i == 0 else Severity.MEDIUM,
    )
    for i in range(4)
]
MEMBERS = [
    PanelMember(name="good", model="openai/good", temperature=0.2),
    PanelMember(name="bad", model="openai/bad", temperature=0.2),
]
CONFIG = RunConfig(samples=3, concurrency=4, case_set="golden", dataset_version="v-abc")


async def test_every_case_model_and_sample_runs_and_scores() -> None:
    client = FakeClient(knows_paris)
    report = await run_eval(CASES, MEMBERS, client, CONFIG)
    assert report.status is RunStatus.COMPLETE
    assert len(report.results) == len(CASES) * len(MEMBERS) * 3 == len(client.calls)
    by_model = Counter((r.model, r.passed) for r in report.results)
    assert by_model == {("good", True): 12, ("bad", False): 12}
    failed = next(r for r in report.results if r.model == "bad")
    assert failed.checks[0].name == "icontains" and "Paris" in failed.checks[0].detail


async def test_the_reproducibility_record_says_what_ran() -> None:
    client = FakeClient(knows_paris)
    config = RunConfig(
        samples=2,
        concurrency=2,
        temperature=0.0,
        top_p=0.9,
        max_tokens=300,
        system_prompt="Be brief.",
        case_set="golden",
        dataset_version="v-abc",
        git_commit="deadbeef",
    )
    report = await run_eval(CASES, MEMBERS, client, config)
    rec = report.record
    assert (rec.case_set, rec.dataset_version, rec.case_count, rec.samples) == (
        "golden",
        "v-abc",
        4,
        2,
    )
    assert [(m.name, m.model, m.resolved) for m in rec.models] == [
        ("good", "openai/good", "openai/good-2026-01-01"),
        ("bad", "openai/bad", "openai/bad-2026-01-01"),
    ]
    assert rec.models[0].temperature == 0.0 and rec.models[0].max_tokens == 300
    assert (rec.temperature, rec.top_p, rec.max_tokens) == (0.0, 0.9, 300)
    assert rec.system_prompt == "Be brief." and rec.prompt_template == PROMPT_TEMPLATE
    assert rec.prompt_hash == prompt_hash("Be brief.") != prompt_hash("Be long.")
    assert rec.git_commit == "deadbeef" and rec.quorum_version
    assert rec.total_cost_usd == pytest.approx(0.16)
    assert rec.started_at.tzinfo is UTC and rec.finished_at is not None
    assert rec.judge_model is None and rec.scorer_settings["judge_min_score"] == 4
    # What the model was actually sent: the overrides and the system prompt.
    sent = client.members[0]
    assert (sent.temperature, sent.max_tokens, sent.params["top_p"]) == (0.0, 300, 0.9)
    json.dumps(report.to_dict())  # the whole report serializes


async def test_context_and_system_prompt_are_sent_in_order() -> None:
    seen: list[list[ChatMessage]] = []

    def reply(member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        seen.append(list(messages))
        return answer(member, "Paris")

    case = EvalCase(
        id="ctx",
        input=CaseInput(
            question="And its capital?",
            context=[ContextMessage(role="user", content="Tell me about France")],
        ),
        assertions=[Assertion(type=AssertionType.ICONTAINS, value="Paris")],
    )
    config = RunConfig(samples=1, system_prompt="Be brief.")
    await run_eval([case], MEMBERS[:1], FakeClient(reply), config)
    assert [(m.role, m.content) for m in seen[0]] == [
        ("system", "Be brief."),
        ("user", "Tell me about France"),
        ("user", "And its capital?"),
    ]


async def test_global_and_per_model_caps_hold() -> None:
    client = FakeClient(knows_paris, delay=0.01)
    config = RunConfig(samples=3, concurrency=3, per_model_concurrency=2)
    await run_eval(CASES, MEMBERS, client, config)
    assert client.peak["*"] == 3
    assert client.peak["good"] <= 2 and client.peak["bad"] <= 2


async def test_the_budget_stops_cleanly_with_a_partial_report() -> None:
    client = FakeClient(knows_paris, delay=0.005)
    config = RunConfig(samples=3, concurrency=2, max_cost=0.05)
    report = await run_eval(CASES, MEMBERS, client, config)
    assert report.status is RunStatus.PARTIAL
    assert "budget" in report.status_reason and "did not run" in report.status_reason
    spent = report.record.total_cost_usd
    # Calls in flight when the budget is reached finish; nothing new starts after it.
    assert 0.05 <= spent <= 0.05 + 2 * 0.01 + 1e-9
    assert len(client.calls) == len(report.results) < 24
    # Sample 0 of every case and model comes first, so the partial run is broad.
    assert {r.sample for r in report.results} == {0}


async def test_resume_never_asks_a_finished_sample_again() -> None:
    first = await run_eval(
        CASES, MEMBERS, FakeClient(knows_paris), RunConfig(samples=3, max_cost=0.1)
    )
    assert first.status is RunStatus.PARTIAL
    done_keys = {r.key for r in first.results}
    client = FakeClient(knows_paris)
    resumed = await run_eval(
        CASES,
        MEMBERS,
        client,
        RunConfig(samples=3, max_cost=1.0),
        completed=first.results,
        resumed_from=first.record,
    )
    asked = {(c, m) for m, c in client.calls}
    assert len(client.calls) == 24 - len(done_keys)
    assert resumed.status is RunStatus.COMPLETE and len(resumed.results) == 24
    assert {r.key for r in resumed.results} >= done_keys
    assert resumed.record.started_at == first.record.started_at
    # The budget counts what the first part already spent.
    assert resumed.record.total_cost_usd == pytest.approx(0.24)
    assert asked  # something was left to do


async def test_model_errors_are_recorded_not_failed_and_can_invalidate_the_run() -> None:
    def flaky(member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        if member.name == "bad":
            return ModelAnswer(member="bad", model=member.model, error=ErrorKind.TIMEOUT)
        return answer(member, "Paris")

    report = await run_eval(CASES, MEMBERS, FakeClient(flaky), CONFIG)
    errored = [r for r in report.results if r.model == "bad"]
    assert all(r.passed is None and r.error == "bad did not answer in time" for r in errored)
    assert all(r.error_source == "model" for r in errored)
    # Half the samples errored: more than the 20% the policy allows.
    assert report.status is RunStatus.INVALID and "50%" in report.status_reason

    lenient = RunConfig(samples=3, max_error_rate=0.6)
    ok = await run_eval(CASES, MEMBERS, FakeClient(flaky), lenient)
    assert ok.status is RunStatus.COMPLETE


async def test_judge_failures_are_errors_and_judge_scores_count() -> None:
    verdicts = {
        "Paris": '{"score": 5, "pass": true, "reason": "right", "failure_mode": null}',
        "Berlin": '{"score": 2, "pass": false, "reason": "wrong", "failure_mode": "wrong_fact"}',
    }

    def reply(member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        if member.name == "judge":
            text = messages[1].content  # the graded question and answer
            if "(3)" in text:
                return ModelAnswer(member="judge", model="j", text="unreadable")
            key = "Paris" if "\nParis\n" in text else "Berlin"
            return ModelAnswer(member="judge", model="j", text=verdicts[key], cost_usd=0.002)
        return knows_paris(member, messages)

    client = FakeClient(reply)
    judge = Judge(client, PanelMember(name="judge", model="openai/judge"), structured_output=False)
    cases = [c.model_copy(update={"assertions": []}) for c in CASES]
    report = await run_eval(cases, MEMBERS, client, RunConfig(samples=1), judge=judge)
    by_case = {(r.case_id, r.model): r for r in report.results}
    assert by_case[("c0", "good")].passed is True
    assert by_case[("c0", "good")].verdict is not None
    bad = by_case[("c0", "bad")]
    assert bad.passed is False and bad.verdict and bad.verdict.failure_mode == "wrong_fact"
    broken = by_case[("c3", "good")]
    assert broken.passed is None and broken.error_source == "judge"
    assert "no usable verdict" in (broken.error or "")
    assert report.record.judge_model == "openai/judge"
    assert report.record.judge_prompt_hash == judge.prompt_hash
    assert by_case[("c0", "good")].judge_cost_usd == pytest.approx(0.002)


async def test_a_judge_that_says_fail_fails_whatever_its_score() -> None:
    """The judge's own "pass" wins: score 4 with pass false is a fail, not a pass."""
    said = {
        "Paris": '{"score": 4, "pass": false, "reason": "vague", "failure_mode": "incomplete"}',
        "Berlin": '{"score": 4, "pass": true, "reason": "fine", "failure_mode": null}',
    }

    def reply(member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        if member.name == "judge":
            key = "Paris" if "\nParis\n" in messages[1].content else "Berlin"
            return ModelAnswer(member="judge", model="j", text=said[key])
        return knows_paris(member, messages)

    client = FakeClient(reply)
    judge = Judge(client, PanelMember(name="judge", model="openai/judge"), structured_output=False)
    cases = [c.model_copy(update={"assertions": []}) for c in CASES[:1]]
    report = await run_eval(cases, MEMBERS, client, RunConfig(samples=1), judge=judge)
    by_model = {r.model: r for r in report.results}
    good = by_model["good"]
    assert good.verdict is not None and good.verdict.score == 4 and not good.verdict.passed
    assert good.passed is False and [c.passed for c in good.checks] == [False]
    assert by_model["bad"].passed is True


async def test_progress_reports_done_total_cost_errors_and_eta() -> None:
    seen: list[Progress] = []
    stored: list[SampleResult] = []

    async def store(result: SampleResult) -> None:
        stored.append(result)

    report = await run_eval(
        CASES, MEMBERS, FakeClient(knows_paris), CONFIG, on_progress=seen.append, on_result=store
    )
    assert seen[0].done == 0 and seen[0].eta_s is None
    last = seen[-1]
    assert (last.done, last.total, last.errors) == (24, 24, 0)
    assert last.cost_usd == pytest.approx(0.24) and last.eta_s == 0
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert len(stored) == len(report.results) == 24


async def test_bad_input_is_refused_plainly() -> None:
    client = FakeClient(knows_paris)
    with pytest.raises(ValueError, match="no cases"):
        await run_eval([], MEMBERS, client, CONFIG)
    with pytest.raises(ValueError, match="unique"):
        await run_eval(CASES, [MEMBERS[0], MEMBERS[0]], client, CONFIG)
    with pytest.raises(ValueError, match="samples"):
        RunConfig(samples=0)


def test_records_use_utc() -> None:
    assert datetime.now(UTC).tzinfo is UTC


async def test_expected_answers_are_checked_by_similarity_with_an_embedder() -> None:
    case = EvalCase(
        id="sim",
        input=CaseInput(question="Which port does PostgreSQL listen on by default?"),
        expected="PostgreSQL listens on port 5432 by default.",
    )

    def reply(member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        text = (
            "PostgreSQL listens on port 5432 by default."
            if member.name == "good"
            else "Bananas are yellow and rich in potassium."
        )
        return answer(member, text)

    embedder = FakeEmbedder()
    report = await run_eval(
        [case], MEMBERS, FakeClient(reply), RunConfig(samples=1), embedder=embedder
    )
    by_model = {r.model: r for r in report.results}
    assert by_model["good"].passed is True and by_model["bad"].passed is False
    assert by_model["good"].checks[0].name == "similar"
    assert report.record.scorer_settings["similarity_embedder"] == embedder.name


async def test_the_judge_is_one_scorer_its_notes_threshold_and_weight_from_the_case() -> None:
    seen: list[str] = []

    def reply(member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        if member.name == "judge":
            seen.append(messages[1].content)
            verdict = '{"score": 4, "pass": true, "reason": "fine", "failure_mode": null}'
            return ModelAnswer(member="judge", model="j", text=verdict)
        return knows_paris(member, messages)

    def strict(threshold: float | None, weight: float = 1.0) -> EvalCase:
        rubric = Assertion(
            type=AssertionType.LLM_RUBRIC,
            value="Must name the city only.",
            threshold=threshold,
            weight=weight,
        )
        return EvalCase(
            id=f"j{threshold}-{weight}",
            input=CaseInput(question="Capital of France?"),
            assertions=[Assertion(type=AssertionType.ICONTAINS, value="Paris"), rubric],
        )

    client = FakeClient(reply)
    judge = Judge(client, PanelMember(name="judge", model="openai/judge"), structured_output=False)
    cases = [strict(None), strict(1.0), strict(1.0, weight=0)]
    report = await run_eval(cases, MEMBERS[:1], client, RunConfig(samples=1), judge=judge)
    passed = {r.case_id: r.passed for r in report.results}
    # score 4 of 5 passes the rubric (0.75 on 0-1) but not a threshold of 1.0 ...
    assert passed == {"jNone-1.0": True, "j1.0-1.0": False, "j1.0-0": True}  # ... unless weight 0
    assert all("Must name the city only." in s for s in seen) and len(seen) == 3
    rubric_check = next(r for r in report.results if r.case_id == "j1.0-1.0").checks[-1]
    assert rubric_check.name == "llm-rubric" and rubric_check.score == 0.75
