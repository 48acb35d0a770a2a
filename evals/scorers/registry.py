"""Grading an answer against a case: one ``Scorer`` protocol and a registry from assertion
type to scorer.

Every assertion type, the LLM judge (``llm-rubric``) and embedding similarity
(``similar``) included, is scored the same way: ``await scorer.score(assertion, answer,
context)`` gives a :class:`~evals.scorers.checks.CheckResult`. A scorer whose resource is
missing (no embedder, no judge) says so through ``available`` and its assertions are
left out, as the run's settings record.

Default assertions (promptfoo's ``defaultTest``): a case's ``expected`` answer is
checked by a ``similar`` (or ``equals``) assertion when ``ScorerSettings.expected_check``
asks for it and the case has none of its own, and every case is graded by the judge
(``llm-rubric`` with no notes) when a judge is given and the case has no rubric of its
own. See :func:`effective_assertions`.

To add a scorer: write a class with ``available`` and ``score``, and add it to
:data:`REGISTRY` under its assertion type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from evals.cases.assertions import Assertion, AssertionType
from evals.cases.schema import EvalCase
from evals.protocols import Embedder
from evals.scorers.checks import (
    CheckResult,
    ScorerSettings,
    case_passes,
    contains,
    embedding_similarity,
    equals,
    inverted,
    json_check,
    judge_passes,
    numeric_match,
    regex_match,
)
from evals.scorers.judge import Judge, JudgeError, JudgeVerdict


@dataclass
class ScoreContext:
    """What scorers may use besides the answer: the case, the run's settings, and the
    embedder and judge when the run has them. ``verdicts`` collects the judge's verdicts."""

    case: EvalCase
    settings: ScorerSettings = field(default_factory=ScorerSettings)
    embedder: Embedder | None = None
    judge: Judge | None = None
    verdicts: list[JudgeVerdict] = field(default_factory=list)


class Scorer(Protocol):
    def available(self, context: ScoreContext) -> bool:
        """Whether this scorer can run in ``context`` (its resources are there)."""
        ...

    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        """The outcome of ``assertion`` on ``answer``. May raise :class:`JudgeError`."""
        ...


class _Always:
    def available(self, context: ScoreContext) -> bool:
        return True


class EqualsScorer(_Always):
    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        return equals(answer, str(assertion.value))


class ContainsScorer(_Always):
    def __init__(self, *, ignore_case: bool) -> None:
        self.ignore_case = ignore_case

    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        return contains(answer, str(assertion.value), ignore_case=self.ignore_case)


class RegexScorer(_Always):
    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        return regex_match(answer, str(assertion.value))


class JsonScorer(_Always):
    def __init__(self, *, whole: bool) -> None:
        self.whole = whole

    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        return json_check(answer, assertion.schema_value, whole=self.whole)


class NumericScorer(_Always):
    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        n = assertion.numeric
        return numeric_match(answer, n.value, tolerance=n.tolerance, relative=n.relative)


class SimilarityScorer:
    """Cosine similarity of the answer's embedding to the value's (an embedder needed)."""

    def available(self, context: ScoreContext) -> bool:
        return context.embedder is not None

    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        embedder = context.embedder
        if embedder is None:  # pragma: no cover - guarded by available()
            raise RuntimeError("similar needs an embedder")
        threshold = (
            assertion.threshold
            if assertion.threshold is not None
            else context.settings.similarity_threshold
        )
        result = await asyncio.to_thread(
            embedding_similarity, answer, str(assertion.value), embedder, threshold=threshold
        )
        return replace(result, name="similar", score=max(0.0, result.score or 0.0))


class RubricScorer:
    """The LLM judge: a 1–5 verdict, passing by :func:`judge_passes` (the judge's own
    ``pass`` true, and a score and failure mode that allow it; and reaching the
    assertion's threshold on a 0–1 scale when it has one). A judge failure raises
    :class:`JudgeError`: an error, never a fail."""

    def available(self, context: ScoreContext) -> bool:
        return context.judge is not None

    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        judge = context.judge
        if judge is None:  # pragma: no cover - guarded by available()
            raise RuntimeError("llm-rubric needs a judge")
        notes = str(assertion.value or "").strip() or None
        verdict = await judge.grade(
            question=context.case.input.question,
            answer=answer,
            expected=context.case.expected,
            notes=notes,
        )
        context.verdicts.append(verdict)
        score = (verdict.score - 1) / 4
        ok = judge_passes(
            verdict.score, verdict.failure_mode, context.settings, passed=verdict.passed
        )
        if assertion.threshold is not None:
            ok = ok and score >= assertion.threshold
        mode = f", {verdict.failure_mode.value}" if verdict.failure_mode else ""
        return CheckResult(
            "llm-rubric", ok, score, f"judge {verdict.score}/5{mode}: {verdict.reason}"
        )


class _Inverted:
    def __init__(self, inner: Scorer, name: str) -> None:
        self.inner = inner
        self.name = name

    def available(self, context: ScoreContext) -> bool:
        return self.inner.available(context)

    async def score(self, assertion: Assertion, answer: str, context: ScoreContext) -> CheckResult:
        return inverted(await self.inner.score(assertion, answer, context), self.name)


#: Assertion type → its scorer. Every supported type has exactly one.
REGISTRY: Mapping[AssertionType, Scorer] = {
    AssertionType.EQUALS: EqualsScorer(),
    AssertionType.NOT_EQUALS: _Inverted(EqualsScorer(), "not-equals"),
    AssertionType.CONTAINS: ContainsScorer(ignore_case=False),
    AssertionType.NOT_CONTAINS: _Inverted(ContainsScorer(ignore_case=False), "not-contains"),
    AssertionType.ICONTAINS: ContainsScorer(ignore_case=True),
    AssertionType.NOT_ICONTAINS: _Inverted(ContainsScorer(ignore_case=True), "not-icontains"),
    AssertionType.REGEX: RegexScorer(),
    AssertionType.NOT_REGEX: _Inverted(RegexScorer(), "not-regex"),
    AssertionType.IS_JSON: JsonScorer(whole=True),
    AssertionType.CONTAINS_JSON: JsonScorer(whole=False),
    AssertionType.SIMILAR: SimilarityScorer(),
    AssertionType.LLM_RUBRIC: RubricScorer(),
    AssertionType.NUMERIC: NumericScorer(),
}


def effective_assertions(
    case: EvalCase, settings: ScorerSettings, *, has_judge: bool
) -> list[Assertion]:
    """The case's assertions plus the run's defaults (module docstring)."""
    out = list(case.assertions)
    kinds = {a.type for a in out}
    if case.expected and not kinds & {AssertionType.SIMILAR, AssertionType.EQUALS}:
        if settings.expected_check == "similarity":
            out.append(Assertion(type=AssertionType.SIMILAR, value=case.expected))
        elif settings.expected_check == "exact":
            out.append(Assertion(type=AssertionType.EQUALS, value=case.expected))
    if has_judge and AssertionType.LLM_RUBRIC not in kinds:
        out.append(Assertion(type=AssertionType.LLM_RUBRIC, value=""))
    return out


def needs_embedder(cases: Iterable[EvalCase], settings: ScorerSettings, *, has_judge: bool) -> bool:
    """Whether any case has a ``similar`` assertion (its own or a default one)."""
    return any(
        a.type is AssertionType.SIMILAR
        for c in cases
        for a in effective_assertions(c, settings, has_judge=has_judge)
    )


@dataclass(frozen=True)
class ScoredAnswer:
    """The checks on one answer, the judge's verdict (the first, when several), whether
    it passes (``None``: unscored) and, when a judge call failed, the error."""

    checks: tuple[CheckResult, ...]
    passed: bool | None
    verdict: JudgeVerdict | None = None
    judge_cost_usd: float | None = None
    error: str | None = None


def _ordered(assertions: Sequence[Assertion]) -> list[Assertion]:
    """The judge last: its calls cost money, so the free checks come first."""
    return sorted(assertions, key=lambda a: a.type is AssertionType.LLM_RUBRIC)


async def score_answer(
    case: EvalCase,
    answer: str,
    settings: ScorerSettings,
    *,
    embedder: Embedder | None = None,
    judge: Judge | None = None,
) -> ScoredAnswer:
    """Score ``answer`` on every effective assertion whose scorer can run, and apply the
    pass rule with the case's threshold."""
    context = ScoreContext(case=case, settings=settings, embedder=embedder, judge=judge)
    checks: list[CheckResult] = []
    error: str | None = None
    for assertion in _ordered(effective_assertions(case, settings, has_judge=judge is not None)):
        scorer = REGISTRY[assertion.type]
        if not scorer.available(context):
            continue
        try:
            result = await scorer.score(assertion, answer, context)
        except JudgeError as exc:
            error = exc.user_message
            break
        result = replace(result, weight=assertion.weight)
        if assertion.weight == 0 and not result.passed:
            result = replace(result, passed=True, detail=result.detail + " (weight 0: not gating)")
        checks.append(result)
    verdict = context.verdicts[0] if context.verdicts else None
    cost = sum(v.cost_usd or 0.0 for v in context.verdicts) if context.verdicts else None
    if error is not None:
        return ScoredAnswer(tuple(checks), None, verdict, cost, error)
    return ScoredAnswer(tuple(checks), case_passes(checks, case.threshold), verdict, cost)
